/**
 * The transformer kernels — multiHeadAttention and tokenAndPositionEmbedding — on the wasm backend against a
 * reference written with plain tfjs ops and differentiated by tfjs autodiff on the cpu backend (≤ 1e-4).
 */
import { describe, expect, it } from 'vitest';
import type { OpAttrs } from '../../runtime/graph.ts';
import { UserError } from '../../runtime/errors.ts';
import { dropoutMask } from '../../runtime/random.ts';
import { expectClose, host, type HostTensor, kctx, node, reference, runKernel, tf } from '../fixtures/numerics-helpers.ts';

const TOL = 1e-4;

type MhaAttrs = OpAttrs['multiHeadAttention'];

/** Keras MultiHeadAttention written with tfjs ops (einsums as reshapes and matMuls). */
function mhaReference(a: MhaAttrs, dropMask: Float32Array | null) {
  return (q: tf.Tensor, v: tf.Tensor, k: tf.Tensor, ...rest: tf.Tensor[]): tf.Tensor => {
    const mask = a.hasAttentionMask ? rest[0] : null;
    const w = rest.slice(a.hasAttentionMask ? 1 : 0);
    const [wq, bq, wk, bk, wv, bv, wo, bo] = a.useBias ? w : [w[0], null, w[1], null, w[2], null, w[3], null];
    const [b, t] = q.shape as [number, number];
    const s = v.shape[1] as number;
    const h = a.numHeads;
    // EinsumDense "abc,cde->abde": [B, L, D] · [D, H, e] → [B, L, H, e], then heads first
    const proj = (x: tf.Tensor, kern: tf.Tensor, bias: tf.Tensor | null, e: number) => {
      const [bb, l, d] = x.shape as [number, number, number];
      let z = tf.reshape(tf.matMul(tf.reshape(x, [bb * l, d]), tf.reshape(kern, [d, h * e])), [bb, l, h, e]);
      if (bias) z = tf.add(z, bias);
      return tf.transpose(z, [0, 2, 1, 3]);
    };
    const Q = tf.mul(proj(q, wq!, bq, a.keyDim), 1 / Math.sqrt(a.keyDim));
    const K = proj(k, wk!, bk, a.keyDim);
    const V = proj(v, wv!, bv, a.valueDim);
    let scores = tf.matMul(tf.reshape(Q, [b * h, t, a.keyDim]), tf.reshape(K, [b * h, s, a.keyDim]), false, true);
    scores = tf.reshape(scores, [b, h, t, s]);
    let keep: tf.Tensor | null = null;
    if (a.useCausalMask) keep = tf.reshape(tf.greaterEqual(tf.reshape(tf.range(0, t), [t, 1]), tf.reshape(tf.range(0, s), [1, s])), [1, 1, t, s]);
    if (mask) {
      const m = tf.reshape(tf.notEqual(mask, 0), [b, 1, t, s]);
      keep = keep ? tf.logicalAnd(keep, m) : m;
    }
    if (keep) scores = tf.where(tf.logicalAnd(keep, tf.ones(scores.shape, 'bool')), scores, tf.fill(scores.shape, -1e9));
    let probs = tf.softmax(scores);
    if (dropMask) probs = tf.mul(probs, tf.tensor(dropMask, probs.shape));
    const ctx = tf.matMul(tf.reshape(probs, [b * h, t, s]), tf.reshape(V, [b * h, s, a.valueDim]));
    const merged = tf.reshape(tf.transpose(tf.reshape(ctx, [b, h, t, a.valueDim]), [0, 2, 1, 3]), [b * t, h * a.valueDim]);
    let y = tf.matMul(merged, tf.reshape(wo!, [h * a.valueDim, a.outputDim]));
    if (bo) y = tf.add(y, bo);
    return tf.reshape(y, [b, t, a.outputDim]);
  };
}

interface MhaCase {
  name: string;
  b: number;
  t: number;
  s: number;
  dq: number;
  dv: number;
  dk: number;
  attrs: MhaAttrs;
  mask?: HostTensor;
}

const base: MhaAttrs = { numHeads: 2, keyDim: 3, valueDim: 3, outputDim: 4, dropout: 0, useBias: true, useCausalMask: false, hasAttentionMask: false, training: true };

const cases: MhaCase[] = [
  { name: 'self-attention shapes, bias', b: 2, t: 5, s: 5, dq: 4, dv: 4, dk: 4, attrs: base },
  { name: 'cross-attention T ≠ S, Dq ≠ Dv ≠ Dk, valueDim ≠ keyDim, no bias', b: 2, t: 3, s: 6, dq: 5, dv: 7, dk: 2, attrs: { ...base, numHeads: 3, keyDim: 2, valueDim: 4, outputDim: 6, useBias: false } },
  { name: 'causal mask', b: 2, t: 6, s: 6, dq: 4, dv: 4, dk: 4, attrs: { ...base, useCausalMask: true } },
  {
    name: 'attention mask (padding) combined with the causal mask',
    b: 2, t: 4, s: 4, dq: 4, dv: 4, dk: 4,
    attrs: { ...base, useCausalMask: true, hasAttentionMask: true },
    mask: { data: Float32Array.from({ length: 32 }, (_, i) => (i % 4 === 3 && i >= 16 ? 0 : 1)), shape: [2, 4, 4] },
  },
];

function mhaArgs(c: MhaCase): { inputs: HostTensor[]; params: HostTensor[] } {
  const { numHeads: h, keyDim: ek, valueDim: ev, outputDim: o, useBias } = c.attrs;
  const inputs = [host([c.b, c.t, c.dq], 1), host([c.b, c.s, c.dv], 2), host([c.b, c.s, c.dk], 3), ...(c.mask ? [c.mask] : [])];
  const w = (shape: number[], seed: number) => host(shape, seed, 0.5);
  const params = useBias
    ? [w([c.dq, h, ek], 10), w([h, ek], 11), w([c.dk, h, ek], 12), w([h, ek], 13), w([c.dv, h, ev], 14), w([h, ev], 15), w([h, ev, o], 16), w([o], 17)]
    : [w([c.dq, h, ek], 10), w([c.dk, h, ek], 12), w([c.dv, h, ev], 14), w([h, ev, o], 16)];
  return { inputs, params };
}

async function checkMha(c: MhaCase, ctx = kctx(c.b), dropMask: Float32Array | null = null): Promise<void> {
  const { inputs, params } = mhaArgs(c);
  const n = node('multiHeadAttention', c.attrs, inputs.length, params.map((_, i) => `p${i}`));
  const run = await runKernel(n, inputs, params, { ctx, needInputs: inputs.map((_, i) => i < 3) });
  const all = [...inputs, ...params];
  const wrt = all.map((_, i) => i).filter((i) => i < 3 || i >= inputs.length);
  const ref = await reference(mhaReference(c.attrs, dropMask), all, wrt, run.dy[0]);
  expectClose(run.outputs[0], ref.value, TOL, `${c.name}: forward`);
  const keyBias = c.attrs.useBias ? inputs.length + 3 : -1;
  wrt.forEach((j, i) => {
    const got = j < inputs.length ? run.dInputs[j] : run.dParams[j - inputs.length];
    const what = `${c.name}: gradient of ${j < inputs.length ? `input ${j}` : `param ${j - inputs.length}`}`;
    // softmax ignores a constant added along its axis, so the key bias gradient is zero up to rounding
    if (j === keyBias) for (const g of [got!, ref.grads[i]]) expect(Math.max(...Array.from(g, Math.abs)), what).toBeLessThan(1e-5);
    else expectClose(got, ref.grads[i], TOL, what);
  });
}

describe('multiHeadAttention kernel', () => {
  for (const c of cases) it(c.name, () => checkMha(c));

  it('attention dropout in training uses the sample-keyed mask; identity in inference', async () => {
    const c: MhaCase = { ...cases[0], attrs: { ...base, dropout: 0.4 } };
    const ctx = kctx(c.b, { step: 3, nodeIndex: 5 });
    const mask = dropoutMask(ctx.seed, ctx.step, ctx.nodeIndex, 0, c.b, 2 * 5 * 5, 0.4);
    await checkMha(c, ctx, mask);
    await checkMha({ ...c, attrs: { ...c.attrs, training: false } }, ctx, null);
  });

  it('rejects weights of the wrong shape, naming the node', async () => {
    const { inputs, params } = mhaArgs(cases[0]);
    params[0] = host([3, 2, 3], 1);
    const n = node('multiHeadAttention', base, 3, params.map((_, i) => `p${i}`));
    await expect(runKernel(n, inputs, params)).rejects.toThrow(/multiHeadAttention_test.*query kernel must have shape \[4, 2, 3\], got \[3, 2, 3\]/);
  });
});

describe('tokenAndPositionEmbedding kernel', () => {
  const attrs = { vocabularySize: 7, sequenceLength: 6, embeddingDim: 3 };
  const ids = { data: Int32Array.from([0, 3, 3, 6, 1, 2, 2, 2]), shape: [2, 4], dtype: 'int32' as const };
  const tok = host([7, 3], 1);
  const pos = host([6, 3], 2);
  it('token rows plus the first seq positions; gradients scatter-add and sum over the batch', async () => {
    const n = node('tokenAndPositionEmbedding', attrs, 1, ['tok', 'pos']);
    const run = await runKernel(n, [ids], [tok, pos]);
    expect(run.outShapes[0]).toEqual([2, 4, 3]);
    expect(run.dInputs[0]).toBeNull();
    const f = (i: tf.Tensor, t: tf.Tensor, p: tf.Tensor) => tf.add(tf.reshape(tf.gather(t, tf.reshape(i, [-1])), [2, 4, 3]), tf.slice(p, [0, 0], [4, 3]));
    const ref = await reference(f, [ids, tok, pos], [1, 2], run.dy[0]);
    expectClose(run.outputs[0], ref.value, TOL, 'forward');
    expectClose(run.dParams[0], ref.grads[0], TOL, 'token embedding gradient');
    expectClose(run.dParams[1], ref.grads[1], TOL, 'position embedding gradient');
  });
  it('rejects a token id ≥ vocabularySize with a UserError naming the node and the id', async () => {
    const bad = { data: Int32Array.from([0, 7]), shape: [1, 2], dtype: 'int32' as const };
    const run = runKernel(node('tokenAndPositionEmbedding', attrs, 1, ['tok', 'pos']), [bad], [tok, pos]);
    await expect(run).rejects.toThrow(UserError);
    await expect(runKernel(node('tokenAndPositionEmbedding', attrs, 1, ['tok', 'pos']), [bad], [tok, pos])).rejects.toThrow(
      "node 'tokenAndPositionEmbedding_test' (tokenAndPositionEmbedding): token id 7 at position 1 is outside [0, 7) (vocabularySize 7)",
    );
  });
});
