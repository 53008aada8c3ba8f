/**
 * Kernels of the tensor ops (add/sub/mul/div with broadcasting and constants, where, sqrt, rsqrt, softmax, sum,
 * mean, matMul, transpose, slice, gather): forward and input gradients on the wasm backend against tfjs autodiff
 * of the same function on the cpu backend (≤ 1e-4 normwise relative error).
 */
import { describe, expect, it } from 'vitest';
import type { BinaryAttrs } from '../../runtime/graph.ts';
import { UserError } from '../../runtime/errors.ts';
import { PER_BATCH_MACS } from '../../runtime/kernels/matMul.ts';
import { expectClose, host, type RefTensor, kctx, node, randn, reference, runKernel, tf } from '../fixtures/numerics-helpers.ts';

const TOL = 1e-4;

/** Runs the kernel and compares its output and the gradients of the float inputs `wrt` with the reference. */
async function check(n: Parameters<typeof runKernel>[0], args: RefTensor[], f: (...t: tf.Tensor[]) => tf.Tensor, wrt: number[], opts: Parameters<typeof runKernel>[3] = {}): Promise<void> {
  const run = await runKernel(n, args, [], opts);
  const ref = await reference(f, args, wrt, run.dy[0]);
  expectClose(run.outputs[0], ref.value, TOL, `${n.op} forward`);
  wrt.forEach((j, i) => expectClose(run.dInputs[j], ref.grads[i], TOL, `${n.op} gradient of input ${j}`));
}

const positive = (shape: number[], seed: number): RefTensor => ({ data: randn(shape, seed).map((v) => Math.abs(v) + 0.5), shape });

describe('binary element-wise ops', () => {
  const ops: [string, (a: tf.Tensor | number, b: tf.Tensor | number) => tf.Tensor][] = [
    ['add', (a, b) => tf.add(a, b)],
    ['sub', (a, b) => tf.sub(a, b)],
    ['mul', (a, b) => tf.mul(a, b)],
    ['div', (a, b) => tf.div(a, b)],
  ];
  for (const [op, f] of ops) {
    const name = op as 'add' | 'sub' | 'mul' | 'div';
    it(`${op}: equal shapes and broadcast axes ([2, 3, 4] with [2, 1, 4], [1, 3, 1] and a rank-0 tensor)`, async () => {
      for (const bShape of [[2, 3, 4], [2, 1, 4], [1, 3, 1], []]) {
        const a = host([2, 3, 4], 1);
        const b = op === 'div' ? positive(bShape, 2) : host(bShape, 2);
        await check(node(name, {}, 2), [a, b], (x, y) => f(x, y), [0, 1]);
        await check(node(name, {}, 2), [b, a], (x, y) => f(x, y), [0, 1]);
      }
    });
    it(`${op}: a constant as either operand`, async () => {
      const x = op === 'div' ? positive([3, 5], 3) : host([3, 5], 3);
      await check(node(name, { b: 2.5 } satisfies BinaryAttrs, 1), [x], (t) => f(t, 2.5), [0]);
      await check(node(name, { a: -1.5 } satisfies BinaryAttrs, 1), [x], (t) => f(-1.5, t), [0]);
    });
  }
  it('rejects shapes that do not broadcast, naming the node and both shapes', async () => {
    await expect(runKernel(node('mul', {}, 2), [host([2, 3], 1), host([2, 4], 2)])).rejects.toThrow(/node 'mul_test' \(mul\): shapes do not broadcast: \[2, 3\], \[2, 4\]/);
  });
  it('the Keras Add layer form still sums three inputs', async () => {
    const xs = [host([2, 3], 1), host([2, 3], 2), host([2, 3], 3)];
    await check(node('add', {}, 3), xs, (a, b, c) => tf.addN([a, b, c]), [0, 1, 2]);
  });
});

describe('where', () => {
  const cond = { data: Float32Array.from([1, 0, 0, 2, 0, 1, -1, 0, 1, 1, 0, 0]), shape: [2, 1, 6] };
  const ref = (c: tf.Tensor, x: tf.Tensor | number, y: tf.Tensor | number) => {
    const bc = tf.notEqual(tf.add(c, tf.zeros([2, 3, 6])), 0);
    const full = (v: tf.Tensor | number) => tf.add(tf.zeros([2, 3, 6]), v);
    return tf.where(bc, full(x), full(y));
  };
  it('selects x where the (broadcast) condition is nonzero, y elsewhere, and routes the gradients', async () => {
    await check(node('where', {}, 3), [cond, host([2, 3, 6], 1), host([2, 3, 1], 2)], (c, x, y) => ref(c, x, y), [1, 2], { needInputs: [false, true, true] });
  });
  it('with a constant y (masking) and an int32 condition', async () => {
    const ci = { data: Int32Array.from(cond.data), shape: cond.shape, dtype: 'int32' as const };
    await check(node('where', { y: -1e4 }, 2), [ci, host([2, 3, 6], 1)], (c, x) => ref(c, x, -1e4), [1], { needInputs: [false, true] });
    await check(node('where', { x: 3 }, 2), [cond, host([2, 3, 6], 4)], (c, y) => ref(c, 3, y), [1], { needInputs: [false, true] });
  });
});

describe('sqrt, rsqrt', () => {
  it('forward and derivative on positive inputs', async () => {
    const x = positive([4, 6], 1);
    await check(node('sqrt', {}, 1), [x], (t) => tf.sqrt(t), [0]);
    await check(node('rsqrt', {}, 1), [x], (t) => tf.rsqrt(t), [0]);
  });
});

describe('softmax', () => {
  const byHand = (t: tf.Tensor, axis: number) => {
    const e = tf.exp(tf.sub(t, tf.max(t, axis, true)));
    return tf.div(e, tf.sum(e, axis, true));
  };
  for (const axis of [3, -1, 1, 2]) {
    it(`axis ${axis} of [2, 3, 4, 5]`, async () => {
      const x = host([2, 3, 4, 5], 1, 3);
      await check(node('softmax', { axis }, 1), [x], (t) => byHand(t, axis < 0 ? 4 + axis : axis), [0]);
    });
  }
  it('rejects an axis out of range, naming it', async () => {
    await expect(runKernel(node('softmax', { axis: 3 }, 1), [host([2, 3, 4], 1)])).rejects.toThrow(/softmax_test.*axis 3 is out of range for rank 3/);
  });
});

describe('sum, mean', () => {
  const cases: [number[], boolean][] = [[[1], false], [[2], true], [[1, 2], false], [[0], false], [[0, 1], true], [[0, 1, 2], false], [[0, 2], false]];
  for (const [axis, keepDims] of cases) {
    it(`axis [${axis}]${keepDims ? ' keepDims' : ''} of [6, 5, 4]`, async () => {
      const x = host([6, 5, 4], 1);
      await check(node('sum', { axis, keepDims }, 1), [x], (t) => tf.sum(t, axis, keepDims), [0]);
      await check(node('mean', { axis, keepDims }, 1), [x], (t) => tf.mean(t, axis, keepDims), [0]);
    });
  }
  it('sum over many leading rows (the sumRows path) matches', async () => {
    const x = host([300, 70, 8], 2);
    await check(node('sum', { axis: [0, 1], keepDims: false }, 1), [x], (t) => tf.sum(t, [0, 1]), [0]);
  });
  it('a mean over the batch axis divides by the global batch: two half-batch replicas add up to the whole', async () => {
    const x = host([8, 3], 1);
    const n = node('mean', { axis: [0, 1], keepDims: false }, 1);
    const whole = await runKernel(n, [x], [], { dy: [new Float32Array([1])] });
    const halves = [];
    for (const r of [0, 1]) halves.push(await runKernel(n, [{ data: x.data.slice(r * 12, r * 12 + 12), shape: [4, 3] }], [], { dy: [new Float32Array([1])], ctx: kctx(4, { globalBatch: 8, sampleOffset: 4 * r, numShards: 2 }) }));
    expect(halves[0].outputs[0][0] + halves[1].outputs[0][0]).toBeCloseTo(whole.outputs[0][0], 6);
    expect(Array.from(halves[0].dInputs[0]!)).toEqual(Array.from(whole.dInputs[0]!.slice(0, 12)));
  });
});

describe('matMul', () => {
  const cases: [number[], number[], boolean, boolean][] = [
    [[2, 3, 4, 5], [2, 3, 5, 6], false, false],
    [[2, 3, 5, 4], [2, 3, 5, 6], true, false],
    [[2, 3, 4, 5], [2, 3, 6, 5], false, true],
    [[2, 3, 5, 4], [2, 3, 6, 5], true, true],
    [[2, 1, 4, 5], [2, 3, 5, 6], false, false],
    [[2, 3, 4, 5], [2, 1, 6, 5], false, true],
    [[3, 4, 5], [3, 5, 2], false, false],
  ];
  for (const [as, bs, ta, tb] of cases) {
    it(`[${as}]${ta ? 'ᵀ' : ''} · [${bs}]${tb ? 'ᵀ' : ''}`, async () => {
      const a = host(as, 1);
      const b = host(bs, 2);
      // tfjs' BatchMatMul gradient rejects broadcast batch axes (docs/design.md §12): the reference broadcasts first
      const lead = as.slice(0, -2).map((d, i) => Math.max(d, bs[i]));
      const full = (t: tf.Tensor) => tf.add(t, tf.zeros([...lead, ...t.shape.slice(-2)]));
      await check(node('matMul', { transposeA: ta, transposeB: tb }, 2), [a, b], (x, y) => tf.matMul(full(x), full(y), ta, tb), [0, 1]);
    });
  }
  it('large per-batch products (one 2-D product per batch) match too', async () => {
    const a = host([3, 64, 64], 1);
    const b = host([3, 64, 64], 2);
    expect(64 * 64 * 64).toBeGreaterThanOrEqual(PER_BATCH_MACS);
    await check(node('matMul', { transposeA: false, transposeB: true }, 2), [a, b], (x, y) => tf.matMul(x, y, false, true), [0, 1]);
  });
  it('rejects inner dimensions that disagree, naming both shapes', async () => {
    await expect(runKernel(node('matMul', { transposeA: false, transposeB: false }, 2), [host([2, 3, 4], 1), host([2, 5, 6], 2)])).rejects.toThrow(
      /node 'matMul_test' \(matMul\): inner dimensions differ \(4 vs 5\): \[2, 3, 4\] · \[2, 5, 6\]/,
    );
  });
});

describe('transpose, slice', () => {
  it('transpose [2, 3, 4, 5] by [0, 2, 1, 3] and [0, 3, 1, 2]', async () => {
    const x = host([2, 3, 4, 5], 1);
    for (const perm of [[0, 2, 1, 3], [0, 3, 1, 2]]) await check(node('transpose', { perm }, 1), [x], (t) => tf.transpose(t, perm), [0]);
  });
  it('slice pads the gradient back', async () => {
    const x = host([2, 5, 6], 1);
    await check(node('slice', { begin: [0, 1, 2], size: [-1, 3, 4] }, 1), [x], (t) => tf.slice(t, [0, 1, 2], [-1, 3, 4]), [0]);
    await expect(runKernel(node('slice', { begin: [0, 4, 0], size: [-1, 3, 6] }, 1), [x])).rejects.toThrow(/do not fit the input \[2, 5, 6\]/);
  });
});

describe('gather', () => {
  it('constant indices (with repeats) along axis 1 and 2', async () => {
    const x = host([2, 5, 3, 4], 1);
    for (const [axis, indices] of [[1, [4, 0, 4, 2]], [2, [1, 1]], [3, [3, 0, 1]]] as [number, number[]][]) {
      await check(node('gather', { axis, indices }, 1), [x], (t) => tf.gather(t, indices, axis), [0]);
    }
  });
  it('per-sample int32 indices (tf.gather with batchDims 1) along axis 1 and 2', async () => {
    const x = host([3, 5, 4, 2], 1);
    const byHand = (t: tf.Tensor, idx: tf.Tensor, axis: number) => {
      const xs = tf.unstack(t);
      const is = tf.unstack(idx);
      return tf.stack(xs.map((xb, b) => tf.gather(xb, is[b], axis - 1)));
    };
    const i2 = { data: Int32Array.from([4, 0, 1, 1, 2, 3]), shape: [3, 2], dtype: 'int32' as const };
    await check(node('gather', { axis: 1 }, 2), [x, i2], (t, i) => byHand(t, i, 1), [0]);
    const i3 = { data: Int32Array.from([3, 0, 1, 1, 2, 3, 0, 0, 2, 1, 1, 3]), shape: [3, 2, 2], dtype: 'int32' as const };
    await check(node('gather', { axis: 2 }, 2), [x, i3], (t, i) => byHand(t, i, 2), [0]);
    const i1 = { data: Int32Array.from([2, 0, 1]), shape: [3], dtype: 'int32' as const };
    await check(node('gather', { axis: 2 }, 2), [x, i1], (t, i) => byHand(t, i, 2), [0]);
  });
  it('rejects an index out of range with a UserError naming the node, the index and the axis size', async () => {
    const run = runKernel(node('gather', { axis: 1 }, 2), [host([2, 5, 3], 1), { data: Int32Array.from([1, 5]), shape: [2, 1], dtype: 'int32' }]);
    await expect(run).rejects.toThrow(UserError);
    await expect(runKernel(node('gather', { axis: 1, indices: [7] }, 1), [host([2, 5, 3], 1)])).rejects.toThrow(/node 'gather_test' \(gather\): index 7 at position 0 is outside \[0, 5\)/);
  });
});
