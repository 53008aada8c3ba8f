/**
 * Every kernel's forward, input gradient and weight gradient on the wasm backend against tfjs autodiff of the
 * same function on the cpu backend (≤ 1e-4 normwise relative error).
 */
import { describe, expect, it } from 'vitest';
import type { Activation, Padding } from '../../runtime/graph.ts';
import { ACTIVATIONS } from '../../runtime/graph.ts';
import { KernelError } from '../../runtime/kernels/index.ts';
import { initBackend } from '../../runtime/backend.ts';
import { repeatUp } from '../../runtime/kernels/pool_util.ts';
import { sumRows } from '../../runtime/kernels/util.ts';
import { dropoutMask } from '../../runtime/random.ts';
import {
  expectClose,
  host,
  type RefTensor,
  kctx,
  node,
  randn,
  reference,
  runKernel,
  tf,
} from '../fixtures/numerics-helpers.ts';

const TOL = 1e-4;

/** Reference activations written with plain tfjs ops (autodiff-able on cpu). */
function refAct(name: Activation, x: tf.Tensor): tf.Tensor {
  switch (name) {
    case 'linear':
      return x;
    case 'relu':
      return tf.relu(x);
    case 'relu6':
      return tf.relu6(x);
    case 'sigmoid':
      return tf.sigmoid(x);
    case 'tanh':
      return tf.tanh(x);
    case 'softmax':
      return tf.softmax(x);
    case 'gelu':
      return tf.mul(tf.mul(x, 0.5), tf.add(1, tf.erf(tf.mul(x, Math.SQRT1_2))));
    case 'elu':
      return tf.elu(x);
    case 'selu':
      return tf.selu(x);
  }
}

/** Compares a kernel run with the reference for all float inputs and params. */
async function check(
  what: string,
  run: Awaited<ReturnType<typeof runKernel>>,
  f: (...args: tf.Tensor[]) => tf.Tensor,
  args: RefTensor[],
  wrt: number[],
  gradsOf: (Float32Array | null)[],
  tol = TOL,
): Promise<void> {
  const ref = await reference(f, args, wrt, run.dy[0]);
  expectClose(run.outputs[0], ref.value, tol, `${what} forward`);
  wrt.forEach((j, i) => expectClose(gradsOf[i], ref.grads[i], tol, `${what} gradient of argument ${j}`));
}

describe('activations (activation node)', () => {
  for (const name of ACTIVATIONS) {
    it(`${name}: forward and derivative`, async () => {
      const x = host([4, 7], 1, 2);
      const n = node('activation', { activation: name }, 1);
      const run = await runKernel(n, [x]);
      await check(name, run, (t) => refAct(name, t), [x], [0], [run.dInputs[0]]);
    });
  }
  it('rejects an unknown activation naming the node', async () => {
    const n = node('activation', { activation: 'swish' as Activation }, 1);
    await expect(runKernel(n, [host([2, 3], 1)])).rejects.toThrow(/activation_test.*unknown activation 'swish'/);
  });
});

describe('conv2d', () => {
  const cases: { h: number; w: number; k: [number, number]; s: [number, number]; d: [number, number]; pad: Padding; act: Activation; bias: boolean; cin?: number }[] = [
    { h: 8, w: 7, k: [3, 3], s: [1, 1], d: [1, 1], pad: 'same', act: 'relu', bias: true, cin: 8 },
    { h: 8, w: 9, k: [3, 3], s: [1, 1], d: [1, 1], pad: 'valid', act: 'relu', bias: true },
    { h: 8, w: 8, k: [3, 3], s: [1, 1], d: [1, 1], pad: 'same', act: 'linear', bias: true },
    { h: 9, w: 8, k: [3, 3], s: [2, 2], d: [1, 1], pad: 'same', act: 'relu6', bias: false },
    { h: 10, w: 9, k: [4, 2], s: [2, 3], d: [1, 1], pad: 'same', act: 'sigmoid', bias: true },
    { h: 9, w: 9, k: [5, 5], s: [3, 3], d: [1, 1], pad: 'valid', act: 'tanh', bias: true },
    { h: 9, w: 10, k: [3, 3], s: [1, 1], d: [2, 2], pad: 'same', act: 'gelu', bias: true },
    { h: 11, w: 9, k: [3, 2], s: [1, 1], d: [2, 3], pad: 'valid', act: 'elu', bias: true },
    { h: 6, w: 6, k: [1, 1], s: [2, 2], d: [1, 1], pad: 'valid', act: 'selu', bias: true },
    { h: 9, w: 9, k: [2, 2], s: [3, 3], d: [1, 1], pad: 'same', act: 'relu', bias: true },
  ];
  for (const c of cases) {
    it(`${c.k.join('×')} stride ${c.s.join('×')} dilation ${c.d.join('×')} '${c.pad}' ${c.act}${c.bias ? ' +bias' : ''}${c.cin ? ` cin ${c.cin}` : ''}`, async () => {
      const cin = c.cin ?? 3;
      const cout = 4;
      const x = host([2, c.h, c.w, cin], 1);
      const w = host([c.k[0], c.k[1], cin, cout], 2, 0.5);
      const b = host([cout], 3, 0.5);
      const n = node('conv2d', { filters: cout, kernelSize: c.k, strides: c.s, padding: c.pad, dilationRate: c.d, activation: c.act, useBias: c.bias }, 1, c.bias ? ['k', 'b'] : ['k']);
      const run = await runKernel(n, [x], c.bias ? [w, b] : [w]);
      // tfjs autodiff has no dilated-conv gradient: the reference dilates the kernel by zero insertion instead.
      const f = (xt: tf.Tensor, wt: tf.Tensor, bt?: tf.Tensor) => {
        let wd = wt as tf.Tensor4D;
        if (c.d[0] > 1 || c.d[1] > 1) {
          const [kh, kw, ci, co] = wd.shape;
          const r = tf.pad(tf.reshape(wd, [kh, 1, kw, 1, ci, co]), [[0, 0], [0, c.d[0] - 1], [0, 0], [0, c.d[1] - 1], [0, 0], [0, 0]]);
          wd = tf.slice(tf.reshape(r, [kh * c.d[0], kw * c.d[1], ci, co]), [0, 0, 0, 0], [(kh - 1) * c.d[0] + 1, (kw - 1) * c.d[1] + 1, ci, co]) as tf.Tensor4D;
        }
        let z: tf.Tensor = tf.conv2d(xt as tf.Tensor4D, wd, c.s, c.pad);
        if (bt) z = tf.add(z, bt);
        return refAct(c.act, z);
      };
      await check('conv2d', run, f, c.bias ? [x, w, b] : [x, w], c.bias ? [0, 1, 2] : [0, 1], [run.dInputs[0], ...run.dParams]);
    });
  }
  it('skips the input gradient when not needed', async () => {
    const n = node('conv2d', { filters: 2, kernelSize: [3, 3], strides: [1, 1], padding: 'valid', dilationRate: [1, 1], activation: 'relu', useBias: true }, 1, ['k', 'b']);
    const run = await runKernel(n, [host([1, 5, 5, 1], 1)], [host([3, 3, 1, 2], 2), host([2], 3)], { needInputs: [false] });
    expect(run.dInputs[0]).toBeNull();
    expect(run.dParams[0]).not.toBeNull();
  });
  it('rejects a rank-2 input naming the node and the shape', async () => {
    const n = node('conv2d', { filters: 2, kernelSize: [3, 3], strides: [1, 1], padding: 'valid', dilationRate: [1, 1], activation: 'relu', useBias: false }, 1, ['k']);
    await expect(runKernel(n, [host([4, 784], 1)], [host([3, 3, 1, 2], 2)])).rejects.toThrow(
      /node 'conv2d_test' \(conv2d\): input must be \[batch, h, w, channels\] \(rank 4\), got shape \[4, 784\]/,
    );
    await expect(runKernel(n, [host([4, 784], 1)], [host([3, 3, 1, 2], 2)])).rejects.toBeInstanceOf(KernelError);
  });
  it('rejects a kernel whose input channels do not match', async () => {
    const n = node('conv2d', { filters: 2, kernelSize: [3, 3], strides: [1, 1], padding: 'valid', dilationRate: [1, 1], activation: 'relu', useBias: false }, 1, ['k']);
    await expect(runKernel(n, [host([1, 5, 5, 3], 1)], [host([3, 3, 1, 2], 2)])).rejects.toThrow(/kernel must have shape \[3, 3, 3, 2\]/);
  });
});

describe('dense', () => {
  for (const [shape, act, bias] of [
    [[5, 6], 'relu', true],
    [[5, 6], 'softmax', false],
    [[3, 4, 6], 'gelu', true],
    [[4, 6], 'linear', true],
  ] as [number[], Activation, boolean][]) {
    it(`input [${shape}] ${act}${bias ? ' +bias' : ''}`, async () => {
      const x = host(shape, 1);
      const w = host([6, 3], 2, 0.5);
      const b = host([3], 3);
      const n = node('dense', { units: 3, activation: act, useBias: bias }, 1, bias ? ['k', 'b'] : ['k']);
      const run = await runKernel(n, [x], bias ? [w, b] : [w]);
      const f = (xt: tf.Tensor, wt: tf.Tensor, bt?: tf.Tensor) => {
        const z2 = tf.matMul(tf.reshape(xt, [-1, 6]) as tf.Tensor2D, wt as tf.Tensor2D);
        const z = tf.reshape(bt ? tf.add(z2, bt) : z2, [...shape.slice(0, -1), 3]);
        return refAct(act, z);
      };
      await check('dense', run, f, bias ? [x, w, b] : [x, w], bias ? [0, 1, 2] : [0, 1], [run.dInputs[0], ...run.dParams]);
    });
  }
});

describe('maxPooling2d', () => {
  const quantised = (shape: number[], seed: number) => {
    const d = randn(shape, seed);
    for (let i = 0; i < d.length; i++) d[i] = Math.max(0, Math.round(d[i] * 2) / 2); // ReLU output with many ties
    return { data: d, shape };
  };
  const negative = (shape: number[], seed: number) => {
    const d = randn(shape, seed);
    for (let i = 0; i < d.length; i++) d[i] = -Math.abs(d[i]) - 0.01;
    return { data: d, shape };
  };
  const cases: [string, RefTensor, [number, number], [number, number], Padding][] = [
    ['random 2×2/2 valid', host([2, 8, 8, 3], 1), [2, 2], [2, 2], 'valid'],
    ['all-negative windows', negative([2, 8, 6, 3], 2), [2, 2], [2, 2], 'valid'],
    ['ReLU-tied windows', quantised([2, 8, 8, 3], 3), [2, 2], [2, 2], 'valid'],
    ['odd size 2×2/2 valid (dropped row/column)', quantised([2, 7, 9, 2], 4), [2, 2], [2, 2], 'valid'],
    ['odd size 2×2/2 same (padded border)', negative([2, 7, 5, 2], 5), [2, 2], [2, 2], 'same'],
    ['3×3/2 same, overlapping, ties', quantised([2, 9, 8, 2], 6), [3, 3], [2, 2], 'same'],
    ['3×3/1 valid, overlapping, negative', negative([1, 6, 7, 2], 7), [3, 3], [1, 1], 'valid'],
    ['2×3/3×2 same, ties', quantised([2, 7, 8, 2], 8), [2, 3], [3, 2], 'same'],
    ['2×2/3 same, window smaller than stride', negative([2, 9, 9, 2], 9), [2, 2], [3, 3], 'same'],
    ['3×3/3 valid (all zero)', { data: new Float32Array(2 * 6 * 6 * 2), shape: [2, 6, 6, 2] }, [3, 3], [3, 3], 'valid'],
  ];
  for (const [name, x, pool, strides, pad] of cases) {
    it(name, async () => {
      const n = node('maxPooling2d', { poolSize: pool, strides, padding: pad }, 1);
      const run = await runKernel(n, [x]);
      await check('maxPool', run, (t) => tf.maxPool(t as tf.Tensor4D, pool, strides, pad), [x], [0], [run.dInputs[0]]);
    });
  }
  it('nearest-neighbour upsampling used by the pooling gradients is an exact repeat', async () => {
    for (const k of [1, 2, 3, 4, 5, 7]) {
      for (const [h, w] of [[1, 1], [5, 3], [13, 64]]) {
        const d = randn([1, h, w, 2], k);
        const up = repeatUp(tf.tensor4d(d, [1, h, w, 2]), k, k);
        const got = up.dataSync();
        const want = new Float32Array(h * k * w * k * 2);
        for (let i = 0; i < h * k; i++) for (let j = 0; j < w * k; j++) for (let c = 0; c < 2; c++) want[(i * w * k + j) * 2 + c] = d[(Math.floor(i / k) * w + Math.floor(j / k)) * 2 + c];
        expect(Array.from(got)).toEqual(Array.from(want));
        up.dispose();
      }
    }
  });
});

describe('averagePooling2d', () => {
  // tfjs' AvgPoolGrad divides border windows of 'same' padding by the full window size, unlike its forward
  // pass; the reference is therefore a sum pool (depthwise conv with ones) divided by the window counts.
  const refAvg = (pool: [number, number], strides: [number, number], pad: Padding) => (t: tf.Tensor) => {
    const x = t as tf.Tensor4D;
    const c = x.shape[3];
    const ones = tf.ones([pool[0], pool[1], c, 1]) as tf.Tensor4D;
    const sums = tf.depthwiseConv2d(x, ones, strides, pad);
    const cnt = tf.depthwiseConv2d(tf.ones([1, x.shape[1], x.shape[2], 1]) as tf.Tensor4D, tf.ones([pool[0], pool[1], 1, 1]) as tf.Tensor4D, strides, pad);
    return tf.div(sums, cnt);
  };
  const cases: [string, number[], [number, number], [number, number], Padding][] = [
    ['2×2/2 valid', [2, 8, 8, 3], [2, 2], [2, 2], 'valid'],
    ['2×2/2 same, odd size', [2, 7, 9, 2], [2, 2], [2, 2], 'same'],
    ['3×3/1 same', [2, 6, 5, 2], [3, 3], [1, 1], 'same'],
    ['3×2/2×1 valid', [1, 7, 6, 2], [3, 2], [2, 1], 'valid'],
    ['2×2/3 same, window smaller than stride', [2, 9, 9, 2], [2, 2], [3, 3], 'same'],
    ['2×2/3 same, padded', [2, 8, 8, 2], [2, 2], [3, 3], 'same'],
  ];
  for (const [name, shape, pool, strides, pad] of cases) {
    it(name, async () => {
      const x = host(shape, 11);
      const n = node('averagePooling2d', { poolSize: pool, strides, padding: pad }, 1);
      const run = await runKernel(n, [x]);
      await check('avgPool', run, refAvg(pool, strides, pad), [x], [0], [run.dInputs[0]]);
    });
  }
});

describe('globalAveragePooling2d', () => {
  it('mean over rows and columns', async () => {
    const x = host([3, 5, 4, 6], 1);
    const run = await runKernel(node('globalAveragePooling2d', {}, 1), [x]);
    await check('gap', run, (t) => tf.mean(t, [1, 2]), [x], [0], [run.dInputs[0]]);
  });
});

describe('batchNormalization', () => {
  const attrs = (training: boolean, scale = true, center = true) => ({ momentum: 0.9, epsilon: 1e-3, center, scale, training });
  const refBn = (t: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => {
    const axes = Array.from({ length: t.rank - 1 }, (_, i) => i);
    const { mean, variance } = tf.moments(t, axes);
    return tf.add(tf.mul(tf.div(tf.sub(t, mean), tf.sqrt(tf.add(variance, 1e-3))), g), b);
  };
  for (const shape of [[4, 5, 3, 6], [8, 6], [3, 4, 6]]) {
    it(`training, input [${shape}]: output, gradients and moving statistics`, async () => {
      const x = host(shape, 1, 2);
      for (let i = 0; i < x.data.length; i++) x.data[i] += 1.5;
      const g = host([6], 2);
      const b = host([6], 3);
      const mm = host([6], 4);
      const mv = { data: Float32Array.from(randn([6], 5), (v) => 1 + Math.abs(v)), shape: [6] };
      const n = node('batchNormalization', attrs(true), 1, ['g', 'b', 'mm', 'mv']);
      const run = await runKernel(n, [x], [g, b, mm, mv]);
      await check('bn', run, refBn, [x, g, b], [0, 1, 2], [run.dInputs[0], run.dParams[0], run.dParams[1]]);
      expect(run.dParams[2]).toBeNull();
      expect(run.dParams[3]).toBeNull();
      // Moving statistics: mm − (mm − μ)(1 − momentum), biased σ² (tfjs-layers / Keras 3).
      const { mean, variance } = tf.tidy(() => {
        const t = tf.tensor(x.data, shape);
        const m = tf.moments(t, Array.from({ length: shape.length - 1 }, (_, i) => i));
        return { mean: m.mean.dataSync(), variance: m.variance.dataSync() };
      });
      const wantMm = mm.data.map((v, i) => v - (v - mean[i]) * 0.1);
      const wantMv = mv.data.map((v, i) => v - (v - variance[i]) * 0.1);
      expect(run.paramUpdates[0]).toBeNull();
      expectClose(run.paramUpdates[2], wantMm, 1e-5, 'moving mean');
      expectClose(run.paramUpdates[3], wantMv, 1e-5, 'moving variance');
    });
  }
  it('training without scale and center', async () => {
    const x = host([6, 2, 2, 3], 1);
    const n = node('batchNormalization', attrs(true, false, false), 1, ['mm', 'mv']);
    const run = await runKernel(n, [x], [host([3], 4), { data: new Float32Array([1, 2, 3]), shape: [3] }]);
    const f = (t: tf.Tensor) => {
      const { mean, variance } = tf.moments(t, [0, 1, 2]);
      return tf.div(tf.sub(t, mean), tf.sqrt(tf.add(variance, 1e-3)));
    };
    await check('bn(no affine)', run, f, [x], [0], [run.dInputs[0]]);
  });
  it('inference uses the moving statistics', async () => {
    const x = host([4, 3, 3, 5], 1);
    const g = host([5], 2);
    const b = host([5], 3);
    const mm = host([5], 4);
    const mv = { data: Float32Array.from(randn([5], 5), (v) => 0.5 + Math.abs(v)), shape: [5] };
    const n = node('batchNormalization', attrs(false), 1, ['g', 'b', 'mm', 'mv']);
    const run = await runKernel(n, [x, ], [g, b, mm, mv]);
    expect(run.paramUpdates.every((u) => u === null)).toBe(true);
    const f = (t: tf.Tensor, gt: tf.Tensor, bt: tf.Tensor, m: tf.Tensor, v: tf.Tensor) =>
      tf.add(tf.mul(tf.div(tf.sub(t, m), tf.sqrt(tf.add(v, 1e-3))), gt), bt);
    await check('bn inference', run, f, [x, g, b, mm, mv], [0, 1, 2], [run.dInputs[0], run.dParams[0], run.dParams[1]]);
  });
  it('a training node behaves as inference outside a training step', async () => {
    const x = host([4, 5], 1);
    const ps = [host([5], 2), host([5], 3), host([5], 4), { data: new Float32Array(5).fill(2), shape: [5] }];
    const n = node('batchNormalization', attrs(true), 1, ['g', 'b', 'mm', 'mv']);
    const a = await runKernel(n, [x], ps, { ctx: kctx(4, { training: false }) });
    const b = await runKernel(node('batchNormalization', attrs(false), 1, ['g', 'b', 'mm', 'mv']), [x], ps);
    expect(Array.from(a.outputs[0])).toEqual(Array.from(b.outputs[0]));
  });
});

describe('layerNormalization', () => {
  for (const shape of [[5, 8], [2, 3, 8]]) {
    it(`input [${shape}]`, async () => {
      const x = host(shape, 1, 3);
      const g = host([8], 2);
      const b = host([8], 3);
      const n = node('layerNormalization', { epsilon: 1e-3, center: true, scale: true }, 1, ['g', 'b']);
      const run = await runKernel(n, [x], [g, b]);
      const f = (t: tf.Tensor, gt: tf.Tensor, bt: tf.Tensor) => {
        const { mean, variance } = tf.moments(t, -1, true);
        return tf.add(tf.mul(tf.div(tf.sub(t, mean), tf.sqrt(tf.add(variance, 1e-3))), gt), bt);
      };
      await check('layerNorm', run, f, [x, g, b], [0, 1, 2], [run.dInputs[0], ...run.dParams]);
    });
  }
});

describe('dropout', () => {
  it('inverted dropout with a mask that does not depend on the batch split', async () => {
    const x = host([6, 50], 1);
    const n = node('dropout', { rate: 0.3, training: true }, 1);
    const ctx = kctx(6, { step: 5, nodeIndex: 3, seed: 11 });
    const run = await runKernel(n, [x], [], { ctx });
    const mask = dropoutMask(11, 5, 3, 0, 6, 50, 0.3);
    const want = x.data.map((v, i) => v * mask[i]);
    expectClose(run.outputs[0], want, 1e-6, 'dropout forward');
    expectClose(run.dInputs[0], run.dy[0].map((v, i) => v * mask[i]), 1e-6, 'dropout backward');
    const kept = mask.filter((v) => v > 0).length / mask.length;
    expect(kept).toBeGreaterThan(0.6);
    expect(kept).toBeLessThan(0.8);
    expect(mask.every((v) => v === 0 || Math.abs(v - 1 / 0.7) < 1e-6)).toBe(true);
    // samples 2..5 computed by a replica holding only them
    const part = dropoutMask(11, 5, 3, 2, 4, 50, 0.3);
    expect(Array.from(part)).toEqual(Array.from(mask.subarray(100)));
    // another step or node gives another mask
    expect(Array.from(dropoutMask(11, 6, 3, 0, 6, 50, 0.3))).not.toEqual(Array.from(mask));
    expect(Array.from(dropoutMask(11, 5, 4, 0, 6, 50, 0.3))).not.toEqual(Array.from(mask));
  });
  it('is the identity outside training', async () => {
    const x = host([3, 4], 1);
    const run = await runKernel(node('dropout', { rate: 0.5, training: false }, 1), [x]);
    expect(Array.from(run.outputs[0])).toEqual(Array.from(x.data));
    expect(Array.from(run.dInputs[0]!)).toEqual(Array.from(run.dy[0]));
  });
});

describe('flatten, reshape, add, concatenate', () => {
  it('flatten', async () => {
    const x = host([2, 3, 4, 5], 1);
    const run = await runKernel(node('flatten', {}, 1), [x]);
    expect(run.outShapes[0]).toEqual([2, 60]);
    await check('flatten', run, (t) => tf.reshape(t, [2, 60]), [x], [0], [run.dInputs[0]]);
  });
  it('reshape with an inferred dimension', async () => {
    const x = host([2, 12], 1);
    const run = await runKernel(node('reshape', { targetShape: [3, -1] }, 1), [x]);
    expect(run.outShapes[0]).toEqual([2, 3, 4]);
    await check('reshape', run, (t) => tf.reshape(t, [2, 3, 4]), [x], [0], [run.dInputs[0]]);
  });
  it('reshape to an incompatible shape names the node', async () => {
    await expect(runKernel(node('reshape', { targetShape: [5] }, 1), [host([2, 12], 1)])).rejects.toThrow(/reshape_test.*cannot reshape/);
  });
  it('add of three inputs and with broadcasting', async () => {
    const xs = [host([2, 3, 4], 1), host([2, 3, 4], 2), host([2, 3, 4], 3)];
    const run = await runKernel(node('add', {}, 3), xs);
    await check('add3', run, (a, b, c) => tf.add(tf.add(a, b), c), xs, [0, 1, 2], run.dInputs);
    const ys = [host([2, 3, 4], 1), host([1, 3, 1], 2)];
    const run2 = await runKernel(node('add', {}, 2), ys);
    await check('add broadcast', run2, (a, b) => tf.add(a, b), ys, [0, 1], run2.dInputs);
  });
  it('concatenate on the last and a middle axis', async () => {
    const xs = [host([2, 3, 4], 1), host([2, 3, 2], 2)];
    const run = await runKernel(node('concatenate', { axis: -1 }, 2), xs);
    await check('concat -1', run, (a, b) => tf.concat([a, b], -1), xs, [0, 1], run.dInputs);
    const ys = [host([2, 3, 4], 1), host([2, 1, 4], 2), host([2, 2, 4], 3)];
    const run2 = await runKernel(node('concatenate', { axis: 1 }, 3), ys);
    await check('concat 1', run2, (a, b, c) => tf.concat([a, b, c], 1), ys, [0, 1, 2], run2.dInputs);
  });
});

describe('embedding', () => {
  it('gathers rows and scatter-adds repeated indices', async () => {
    const idx = { data: Int32Array.from([0, 3, 3, 1, 9, 3, 0, 7]), shape: [2, 4], dtype: 'int32' as const };
    const e = host([10, 5], 1);
    const n = node('embedding', { inputDim: 10, outputDim: 5 }, 1, ['e']);
    const run = await runKernel(n, [idx], [e]);
    expect(run.outShapes[0]).toEqual([2, 4, 5]);
    expect(run.dInputs[0]).toBeNull();
    await check('embedding', run, (i, et) => tf.reshape(tf.gather(et, tf.reshape(i, [-1])), [2, 4, 5]), [idx, e], [1], [run.dParams[0]]);
  });
  it('float indices are truncated like Keras casts', async () => {
    const idx = { data: Float32Array.from([1, 2, 2]), shape: [3] };
    const e = host([4, 2], 1);
    const run = await runKernel(node('embedding', { inputDim: 4, outputDim: 2 }, 1, ['e']), [idx], [e], { needInputs: [false] });
    expect(Array.from(run.outputs[0])).toEqual([e.data[2], e.data[3], e.data[4], e.data[5], e.data[4], e.data[5]]);
  });
  it('rejects an out-of-range index naming the node', async () => {
    const idx = { data: Int32Array.from([0, 12]), shape: [2], dtype: 'int32' as const };
    await expect(runKernel(node('embedding', { inputDim: 10, outputDim: 2 }, 1, ['e']), [idx], [host([10, 2], 1)])).rejects.toThrow(
      /embedding_test.*index 12 .*outside \[0, 10\)/,
    );
  });
});

describe('losses', () => {
  const logSoftmax = (z: tf.Tensor) => tf.sub(z, tf.logSumExp(z, -1, true));
  it('sparseSoftmaxCrossEntropy with [batch] and [batch, 1] labels, divided by the global batch', async () => {
    const z = host([6, 5], 1, 2);
    const lab = Int32Array.from([0, 4, 2, 2, 1, 3]);
    for (const shape of [[6], [6, 1]]) {
      const labels = { data: lab, shape, dtype: 'int32' as const };
      const n = node('sparseSoftmaxCrossEntropy', {}, 2);
      const run = await runKernel(n, [labels, z], [], { dy: [new Float32Array([1])] });
      expect(run.dInputs[0]).toBeNull();
      const oh = { data: Float32Array.from({ length: 30 }, (_, i) => (lab[Math.floor(i / 5)] === i % 5 ? 1 : 0)), shape: [6, 5] };
      await check('sparse CE', run, (y, t) => tf.div(tf.neg(tf.sum(tf.mul(y, logSoftmax(t)))), 6), [oh, z], [1], [run.dInputs[1]]);
      // a replica holding these 6 samples of a 12-sample batch contributes half
      const half = await runKernel(n, [labels, z], [], { dy: [new Float32Array([1])], ctx: kctx(6, { globalBatch: 12 }) });
      expect(half.outputs[0][0]).toBeCloseTo(run.outputs[0][0] / 2, 6);
    }
  });
  it('sparseSoftmaxCrossEntropy on [batch, time, classes]', async () => {
    const z = host([2, 3, 4], 1);
    const lab = Int32Array.from([0, 1, 3, 3, 2, 0]);
    const oh = { data: Float32Array.from({ length: 24 }, (_, i) => (lab[Math.floor(i / 4)] === i % 4 ? 1 : 0)), shape: [2, 3, 4] };
    const run = await runKernel(node('sparseSoftmaxCrossEntropy', {}, 2), [{ data: lab, shape: [2, 3], dtype: 'int32' }, z], [], { dy: [new Float32Array([0.7])] });
    await check('sparse CE 3d', run, (y, t) => tf.div(tf.neg(tf.sum(tf.mul(y, logSoftmax(t)))), 6), [oh, z], [1], [run.dInputs[1]]);
  });
  it('sparseSoftmaxCrossEntropy rejects out-of-range labels', async () => {
    const run = runKernel(node('sparseSoftmaxCrossEntropy', {}, 2), [{ data: Int32Array.from([0, 10]), shape: [2], dtype: 'int32' }, host([2, 10], 1)]);
    await expect(run).rejects.toThrow(/label 10 at position 1 of the batch is outside \[0, 10\)/);
  });
  it('softmaxCrossEntropy with label smoothing', async () => {
    const z = host([4, 5], 1, 2);
    const yv = new Float32Array(20);
    for (let i = 0; i < 4; i++) yv[i * 5 + ((i * 3) % 5)] = 1;
    const y = { data: yv, shape: [4, 5] };
    const run = await runKernel(node('softmaxCrossEntropy', { labelSmoothing: 0.1 }, 2), [y, z], [], { dy: [new Float32Array([1])] });
    const f = (yt: tf.Tensor, t: tf.Tensor) => tf.div(tf.neg(tf.sum(tf.mul(tf.add(tf.mul(yt, 0.9), 0.02), logSoftmax(t)))), 4);
    await check('softmax CE', run, f, [y, z], [1], [run.dInputs[1]]);
  });
  it('sigmoidCrossEntropy', async () => {
    const z = host([4, 3], 1, 3);
    const y = { data: Float32Array.from(randn([4, 3], 2), (v) => (v > 0 ? 1 : 0)), shape: [4, 3] };
    const run = await runKernel(node('sigmoidCrossEntropy', {}, 2), [y, z], [], { dy: [new Float32Array([1])] });
    const f = (yt: tf.Tensor, t: tf.Tensor) => {
      const p = tf.sigmoid(t);
      return tf.div(tf.neg(tf.sum(tf.add(tf.mul(yt, tf.log(p)), tf.mul(tf.sub(1, yt), tf.log(tf.sub(1, p)))))), 12);
    };
    await check('sigmoid CE', run, f, [y, z], [1], [run.dInputs[1]]);
  });
  it('meanSquaredError, also with [batch] labels for [batch, 1] predictions', async () => {
    const p = host([5, 1], 1);
    const y = host([5], 2);
    const run = await runKernel(node('meanSquaredError', {}, 2), [y, p], [], { dy: [new Float32Array([1])] });
    const f = (yt: tf.Tensor, pt: tf.Tensor) => tf.div(tf.sum(tf.square(tf.sub(pt, tf.reshape(yt, [5, 1])))), 5);
    await check('mse', run, f, [y, p], [1], [run.dInputs[1]]);
    await expect(runKernel(node('meanSquaredError', {}, 2), [host([5, 2], 1), p])).rejects.toThrow(/labels of shape \[5, 2\] do not match predictions of shape \[5, 1\]/);
  });
});

describe('helpers', () => {
  it('initBackend selects wasm, is idempotent and leaves no rethrowing process listeners', async () => {
    const before = process.listeners('unhandledRejection').length + process.listeners('uncaughtException').length;
    await initBackend();
    await tf.setBackend('cpu');
    await Promise.all([initBackend(), initBackend()]);
    expect(tf.getBackend()).toBe('wasm');
    expect(process.listeners('unhandledRejection').length + process.listeners('uncaughtException').length).toBeLessThanOrEqual(before);
    for (const l of [...process.listeners('unhandledRejection'), ...process.listeners('uncaughtException')]) {
      expect(String(l)).not.toMatch(/throw reason|ExitStatus/);
    }
  });

  it('sumRows (two-level average pool) equals a float64 column sum', async () => {
    await runKernel(node('flatten', {}, 1), [host([1, 1], 1)]); // initialises the backend
    for (const [rows, cols] of [[5, 3], [36864, 64], [40009, 3], [100000, 1], [18432, 64]]) {
      const d = randn([rows, cols], rows).map((v) => Math.abs(v) + 0.5); // positive, like ReLU outputs
      const t = tf.tensor2d(d, [rows, cols]);
      const s = sumRows(t);
      const want = new Float64Array(cols);
      for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) want[j] += d[i * cols + j];
      // one sequential float32 pass (tf.sum, or a single pooling window) errs by ~5e-6 here; two levels by < 1e-6
      const got = s.dataSync();
      for (let j = 0; j < cols; j++) expect(Math.abs(got[j] - want[j]) / want[j], `[${rows}, ${cols}] column ${j}`).toBeLessThan(1.5e-6);
      tf.dispose([t, s]);
    }
  });
});
