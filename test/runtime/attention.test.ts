/**
 * The transformer kernels — multiHeadAttention and tokenAndPositionEmbedding — on the wasm backend against a
 * reference written with plain tfjs ops and differentiated by tfjs autodiff on the cpu backend (≤ 1e-4).
 */
import { describe, expect, it } from 'vitest';
import { layers, losses, ops, optimizers, traceModelFn, validateParams, type ModelFn } from '../../index.ts';
import { Executor } from '../../runtime/exec/executor.ts';
import { inThreadAllReduce } from '../../runtime/parallel/allreduce.ts';
import type { Batch, TensorData } from '../../runtime/batch.ts';
import type { OpAttrs } from '../../runtime/graph.ts';
import { UserError } from '../../runtime/errors.ts';
import { dropoutMask } from '../../runtime/random.ts';
import { expectClose, host, type RefTensor, kctx, node, reference, runKernel, tf } from '../fixtures/numerics-helpers.ts';

const TOL = 1e-4;

type MhaAttrs = OpAttrs['multiHeadAttention'];

/**
 * GPT-J `apply_rotary_position_embedding` (modelzoo attention_utils.py) on heads `[B, H, L, e]`, written as
 * there: rotate_every_two on the first r dims (x[..., ::2], x[..., 1::2] → stack(−x2, x1)), sin/cos of
 * t·10000^(−2j/r) repeated twice; the other dims pass.
 */
function rope(x: tf.Tensor, r: number): tf.Tensor {
  if (!r) return x;
  const [b, h, l, e] = x.shape as [number, number, number, number];
  const xr = tf.slice(x, [0, 0, 0, 0], [-1, -1, -1, r]);
  const evens = Array.from({ length: r / 2 }, (_, i) => 2 * i);
  const x1 = tf.gather(xr, evens, 3);
  const x2 = tf.gather(xr, evens.map((i) => i + 1), 3);
  const rotated = tf.reshape(tf.stack([tf.neg(x2), x1], -1), [b, h, l, r]);
  const invFreq = tf.div(1, tf.pow(10000, tf.div(tf.range(0, r, 2), r)));
  const ang = tf.matMul(tf.reshape(tf.range(0, l), [l, 1]), tf.reshape(invFreq, [1, r / 2]));
  const twice = (t: tf.Tensor) => tf.reshape(tf.stack([t, t], -1), [1, 1, l, r]);
  const out = tf.add(tf.mul(xr, twice(tf.cos(ang))), tf.mul(rotated, twice(tf.sin(ang))));
  return r === e ? out : tf.concat([out, tf.slice(x, [0, 0, 0, r], [-1, -1, -1, e - r])], 3);
}

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
    const Q = tf.mul(rope(proj(q, wq!, bq, a.keyDim), a.rotaryDim), 1 / Math.sqrt(a.keyDim));
    const K = rope(proj(k, wk!, bk, a.keyDim), a.rotaryDim);
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
  mask?: RefTensor;
}

const base: MhaAttrs = { numHeads: 2, keyDim: 3, valueDim: 3, outputDim: 4, dropout: 0, useBias: true, useCausalMask: false, rotaryDim: 0, hasAttentionMask: false, training: true };

const cases: MhaCase[] = [
  { name: 'self-attention shapes, bias', b: 2, t: 5, s: 5, dq: 4, dv: 4, dk: 4, attrs: base },
  { name: 'cross-attention T ≠ S, Dq ≠ Dv ≠ Dk, valueDim ≠ keyDim, no bias', b: 2, t: 3, s: 6, dq: 5, dv: 7, dk: 2, attrs: { ...base, numHeads: 3, keyDim: 2, valueDim: 4, outputDim: 6, useBias: false } },
  { name: 'causal mask', b: 2, t: 6, s: 6, dq: 4, dv: 4, dk: 4, attrs: { ...base, useCausalMask: true } },
  { name: 'rotary embedding on 4 of 6 head dimensions (GPT-J rotary_dim), causal', b: 2, t: 5, s: 5, dq: 4, dv: 4, dk: 4, attrs: { ...base, keyDim: 6, valueDim: 2, useCausalMask: true, rotaryDim: 4 } },
  { name: 'rotary embedding on the whole head', b: 1, t: 4, s: 4, dq: 3, dv: 3, dk: 3, attrs: { ...base, keyDim: 4, rotaryDim: 4 } },
  {
    name: 'attention mask (padding) combined with the causal mask',
    b: 2, t: 4, s: 4, dq: 4, dv: 4, dk: 4,
    attrs: { ...base, useCausalMask: true, hasAttentionMask: true },
    mask: { data: Float32Array.from({ length: 32 }, (_, i) => (i % 4 === 3 && i >= 16 ? 0 : 1)), shape: [2, 4, 4] },
  },
];

function mhaArgs(c: MhaCase): { inputs: RefTensor[]; params: RefTensor[] } {
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
  // without rotary embeddings, softmax ignores the key bias (a constant along its axis): its gradient is zero
  const keyBias = c.attrs.useBias && !c.attrs.rotaryDim ? inputs.length + 3 : -1;
  wrt.forEach((j, i) => {
    const got = j < inputs.length ? run.dInputs[j] : run.dParams[j - inputs.length];
    const what = `${c.name}: gradient of ${j < inputs.length ? `input ${j}` : `param ${j - inputs.length}`}`;
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

describe('a traced transformer block (layers and ops) in the executor', () => {
  const T = 6;
  const V = 11;
  const D = 8;
  const B = 4;
  const mhaAttrs: MhaAttrs = { ...base, numHeads: 2, keyDim: 4, valueDim: 4, outputDim: D, useCausalMask: true, hasAttentionMask: true, training: true };

  /** TPE → LN → MHA (causal + padding mask) → residual; ops attention (split, matMul, where, softmax);
   *  ops layer norm; gelu FFN on rank 3; concat/gather/transpose/slice; per-token CE plus a batch-mean penalty. */
  const modelFn: ModelFn = (f, labels, mode) => {
    let h = layers.tokenAndPositionEmbedding({ vocabularySize: V, sequenceLength: 8, embeddingDim: D }).apply(f.ids);
    const a = layers.layerNormalization({ epsilon: 1e-5 }).apply(h);
    h = ops.add(h, layers.multiHeadAttention({ numHeads: 2, keyDim: 4 }).apply([a, a], { useCausalMask: true, attentionMask: f.mask }));
    const [q, k, v] = ops.split(layers.dense({ units: 3 * D, useBias: false }).apply(h), 3);
    const p = ops.softmax(ops.where(f.mask, ops.mul(ops.matMul(q, k, false, true), 1 / Math.sqrt(D)), -1e9));
    h = ops.add(h, ops.matMul(p, v));
    const xc = ops.sub(h, ops.mean(h, -1, true));
    const n = ops.mul(xc, ops.rsqrt(ops.add(ops.mean(ops.mul(xc, xc), -1, true), 1e-5)));
    h = ops.add(h, layers.dense({ units: D }).apply(layers.dense({ units: 16, activation: 'gelu' }).apply(n)));
    const g = ops.concat([h, ops.gather(h, [5, 5, 0, 1, 2, 3], 1)], -1);
    const sl = ops.slice(ops.transpose(ops.transpose(g, [0, 2, 1]), [0, 2, 1]), [0, 0, 0], [-1, -1, 12]);
    const logits = layers.dense({ units: V }).apply(sl);
    const loss = ops.add(losses.sparseSoftmaxCrossEntropy(labels!, logits), ops.mul(ops.mean(ops.mul(n, n)), 0.01));
    return { mode, loss, trainOp: optimizers.sgd({ learningRate: 0.1 }).minimize(loss) };
  };

  /** The same function in plain tfjs ops, from the parameter values by name. */
  function referenceLoss(names: string[]) {
    return (ids: tf.Tensor, mask: tf.Tensor, labels: tf.Tensor, ...ws: tf.Tensor[]): tf.Tensor => {
      const p = Object.fromEntries(names.map((nm, i) => [nm, ws[i]]));
      const ln = (x: tf.Tensor, gamma: tf.Tensor | null, beta: tf.Tensor | null) => {
        const mu = tf.mean(x, -1, true);
        const xc = tf.sub(x, mu);
        let y = tf.mul(xc, tf.rsqrt(tf.add(tf.mean(tf.square(xc), -1, true), 1e-5)));
        if (gamma) y = tf.add(tf.mul(y, gamma), beta!);
        return { y, n: y };
      };
      const dense = (x: tf.Tensor, name: string, units: number) => {
        const d = x.shape[x.rank - 1];
        let z = tf.matMul(tf.reshape(x, [-1, d]), p[`${name}/kernel`]);
        if (p[`${name}/bias`]) z = tf.add(z, p[`${name}/bias`]);
        return tf.reshape(z, [...x.shape.slice(0, -1), units]);
      };
      const gelu = (x: tf.Tensor) => tf.mul(tf.mul(x, 0.5), tf.add(1, tf.erf(tf.mul(x, Math.SQRT1_2))));
      const tpe = 'token_and_position_embedding';
      let h = tf.add(tf.reshape(tf.gather(p[`${tpe}/token_embedding/embeddings`], tf.reshape(ids, [-1])), [B, T, D]), tf.slice(p[`${tpe}/position_embedding/embeddings`], [0, 0], [T, D]));
      const a = ln(h, p['layer_normalization/gamma'], p['layer_normalization/beta']).y;
      const mhaW = ['query/kernel', 'query/bias', 'key/kernel', 'key/bias', 'value/kernel', 'value/bias', 'attention_output/kernel', 'attention_output/bias'].map((w) => p[`multi_head_attention/${w}`]);
      h = tf.add(h, mhaReference(mhaAttrs, null)(a, a, a, mask, ...mhaW));
      const [q, k, v] = tf.split(dense(h, 'dense', 3 * D), 3, -1);
      const s = tf.mul(tf.matMul(q, k, false, true), 1 / Math.sqrt(D));
      const probs = tf.softmax(tf.where(tf.notEqual(mask, 0), s, tf.fill(s.shape, -1e9)));
      h = tf.add(h, tf.matMul(probs, v));
      const n = ln(h, null, null).n;
      h = tf.add(h, dense(gelu(dense(n, 'dense_1', 16)), 'dense_2', D));
      const g = tf.concat([h, tf.gather(h, [5, 5, 0, 1, 2, 3], 1)], -1);
      const logits = dense(tf.slice(g, [0, 0, 0], [-1, -1, 12]), 'dense_3', V);
      const logp = tf.sub(logits, tf.logSumExp(logits, -1, true));
      const onehot = tf.oneHot(tf.reshape(labels, [-1]), V);
      const ce = tf.div(tf.neg(tf.sum(tf.mul(tf.reshape(logp, [-1, V]), onehot))), B * T);
      return tf.add(ce, tf.mul(tf.mean(tf.square(n)), 0.01));
    };
  }

  function makeBatch(): Batch {
    const ids = Int32Array.from({ length: B * T }, (_, i) => (i * 7 + 3) % V);
    const labels = Int32Array.from({ length: B * T }, (_, i) => (i * 5 + 1) % V);
    const mask = new Float32Array(B * T * T);
    for (let b = 0; b < B; b++) {
      const len = T - (b % 3); // padding at the end of some sequences
      for (let t = 0; t < T; t++) for (let s = 0; s <= t; s++) if (s < len) mask[(b * T + t) * T + s] = 1;
    }
    return { features: { ids: { data: ids, shape: [B, T], dtype: 'int32' }, mask: { data: mask, shape: [B, T, T], dtype: 'float32' } }, labels: { data: labels, shape: [B, T], dtype: 'int32' } };
  }

  function slice(b: Batch, from: number, to: number): Batch {
    const cut = (h: TensorData): TensorData => {
      const per = h.shape.slice(1).reduce((x, y) => x * y, 1);
      return { data: h.data.slice(from * per, to * per), shape: [to - from, ...h.shape.slice(1)], dtype: h.dtype };
    };
    return { features: Object.fromEntries(Object.entries(b.features).map(([k, h]) => [k, cut(h)])), labels: cut(b.labels!) };
  }

  const signature = { features: { ids: { shape: [T], dtype: 'int32' as const }, mask: { shape: [T, T], dtype: 'float32' as const } }, labels: { shape: [T], dtype: 'int32' as const } };

  it('loss and every parameter gradient match tfjs autodiff; two replicas match one', async () => {
    const graph = traceModelFn(modelFn, { mode: 'train', params: validateParams({ runconfig: { seed: 11 } }, 'test.yaml'), signature });
    expect(graph.nodes.map((n) => n.op)).toContain('multiHeadAttention');
    const batch = makeBatch();
    const grads = async (execs: Executor[], parts: Batch[]) => {
      const states = await Promise.all(execs.map((e, r) => e.begin(parts[r], 'train', 0)));
      await Promise.all(execs.map(async (e, r) => {
        await e.forwardNodes(states[r], e.trainNodes);
        e.seedLoss(states[r]);
        await e.backwardNodes(states[r], [...e.trainNodes].reverse());
        await e.reduceGradients(states[r]);
      }));
      const out = { loss: states[0].dataLoss!, grads: graph.params.map((pi) => (states[0].paramGrads.get(pi.name)!.dataSync() as Float32Array).slice()) };
      execs.forEach((e, r) => e.finish(states[r]));
      return out;
    };
    const one = await Executor.create(graph);
    const mine = await grads([one], [batch]);
    const values = one.getParams();
    const ref = await reference(
      referenceLoss(values.map((v) => v.name)),
      [batch.features.ids as RefTensor, batch.features.mask as RefTensor, batch.labels as RefTensor, ...values.map((v) => ({ data: v.data, shape: v.shape }))],
      values.map((_, i) => 3 + i),
      new Float32Array([1]),
    );
    expect(mine.loss).toBeCloseTo(ref.value[0], 5);
    // the key bias gradient is zero up to rounding (softmax shift invariance), so relative errors mean nothing
    const compared = graph.params.map((pi, i) => [pi.name, i] as const).filter(([nm]) => !nm.endsWith('multi_head_attention/key/bias'));
    for (const [nm, i] of compared) expectClose(mine.grads[i], ref.grads[i], TOL, `gradient of ${nm}`);
    const reduce = inThreadAllReduce(2);
    const two = await Promise.all(reduce.map((allReduceSum, r) => Executor.create(graph, { shard: { shardIndex: r, numShards: 2, allReduceSum }, params: Object.fromEntries(values.map((v) => [v.name, v.data])) })));
    const split = await grads(two, [slice(batch, 0, 1), slice(batch, 1, 4)]);
    expect(split.loss).toBeCloseTo(mine.loss, 5);
    for (const [nm, i] of compared) expectClose(split.grads[i], mine.grads[i], 1e-5, `2 replicas: gradient of ${nm}`);
    [one, ...two].forEach((e) => e.dispose());
  });
});

describe('tied input and output embeddings (reverse calls)', () => {
  it('reverseEmbedding kernel: x · Eᵀ and its gradients', async () => {
    const x = host([2, 3, 4], 1);
    const e = host([7, 4], 2);
    const run = await runKernel(node('reverseEmbedding', { inputDim: 7, outputDim: 4 }, 1, ['e']), [x], [e]);
    const ref = await reference((xt, et) => tf.reshape(tf.matMul(tf.reshape(xt, [6, 4]), et, false, true), [2, 3, 7]), [x, e], [0, 1], run.dy[0]);
    expectClose(run.outputs[0], ref.value, TOL, 'forward');
    expectClose(run.dInputs[0], ref.grads[0], TOL, 'input gradient');
    expectClose(run.dParams[0], ref.grads[1], TOL, 'table gradient');
  });

  it('TokenAndPositionEmbedding reversed shares the token table; its gradient sums both uses', async () => {
    const [T, V, D, B] = [5, 9, 6, 3];
    const fn: ModelFn = (f, labels, mode) => {
      const emb = layers.tokenAndPositionEmbedding({ vocabularySize: V, sequenceLength: T, embeddingDim: D });
      const h = layers.dense({ units: D, activation: 'tanh' }).apply(emb.apply(f.ids));
      const logits = emb.apply(h, { reverse: true });
      const loss = losses.sparseSoftmaxCrossEntropy(labels!, logits);
      return { mode, loss, trainOp: optimizers.sgd({ learningRate: 0.1 }).minimize(loss) };
    };
    const signature = { features: { ids: { shape: [T], dtype: 'int32' as const } }, labels: { shape: [T], dtype: 'int32' as const } };
    const graph = traceModelFn(fn, { mode: 'train', params: validateParams({}, 'test.yaml'), signature });
    expect(graph.params.map((p) => p.name)).toEqual(['token_and_position_embedding/token_embedding/embeddings', 'token_and_position_embedding/position_embedding/embeddings', 'dense/kernel', 'dense/bias']);
    const rev = graph.nodes.find((n) => n.op === 'reverseEmbedding')!;
    expect(rev.name).toBe('token_and_position_embedding_call1');
    expect(rev.params).toEqual(['token_and_position_embedding/token_embedding/embeddings']);
    expect(rev.outputs[0].shape).toEqual([null, T, V]);
    const ids = Int32Array.from({ length: B * T }, (_, i) => (i * 4 + 1) % V);
    const labels = Int32Array.from({ length: B * T }, (_, i) => (i * 2 + 3) % V);
    const batch: Batch = { features: { ids: { data: ids, shape: [B, T], dtype: 'int32' } }, labels: { data: labels, shape: [B, T], dtype: 'int32' } };
    const exec = await Executor.create(graph);
    const state = await exec.begin(batch, 'train', 0);
    await exec.forwardNodes(state, exec.trainNodes);
    exec.seedLoss(state);
    await exec.backwardNodes(state, [...exec.trainNodes].reverse());
    await exec.reduceGradients(state);
    const mine = graph.params.map((p) => (state.paramGrads.get(p.name)!.dataSync() as Float32Array).slice());
    const loss = state.dataLoss!;
    exec.finish(state);
    const values = exec.getParams();
    const f = (idt: tf.Tensor, lab: tf.Tensor, tok: tf.Tensor, pos: tf.Tensor, k: tf.Tensor, b: tf.Tensor) => {
      const e = tf.add(tf.reshape(tf.gather(tok, tf.reshape(idt, [-1])), [B * T, D]), tf.tile(pos, [B, 1]));
      const h = tf.tanh(tf.add(tf.matMul(e, k), b));
      const logits = tf.matMul(h, tok, false, true);
      const logp = tf.sub(logits, tf.logSumExp(logits, -1, true));
      return tf.div(tf.neg(tf.sum(tf.mul(logp, tf.oneHot(tf.reshape(lab, [-1]), V)))), B * T);
    };
    const ref = await reference(f, [batch.features.ids as RefTensor, batch.labels as RefTensor, ...values.map((v) => ({ data: v.data, shape: v.shape }))], [2, 3, 4, 5], new Float32Array([1]));
    expect(loss).toBeCloseTo(ref.value[0], 5);
    graph.params.forEach((p, i) => expectClose(mine[i], ref.grads[i], TOL, `gradient of ${p.name}`));
    exec.dispose();
  });
});
