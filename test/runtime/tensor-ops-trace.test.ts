/**
 * Tracing the tensor ops (`ops.*`) and the transformer layers into the Graph IR: node ops, attributes, shapes
 * and names; the batch-axis rules; functional-model replay; and one clear UserError per bad call.
 */
import { describe, expect, it } from 'vitest';
import { layers, losses, Model, ops, optimizers, traceModelFn, validateParams, type InputSignature, type ModelFn, type SymbolicTensor } from '../../index.ts';
import { countParams, type Graph, type Mode } from '../../runtime/graph.ts';
import { formatSummary } from '../../runtime/summary.ts';
import { userErrorMessage } from '../helpers/errors.ts';

const params = validateParams({ optimizer: { optimizer_type: 'adam', learning_rate: 0.001 }, runconfig: { seed: 3 } }, 'test.yaml');
const sig: InputSignature = {
  features: { x: { shape: [4, 6], dtype: 'float32' }, ids: { shape: [5], dtype: 'int32' }, mask: { shape: [4, 4], dtype: 'int32' } },
  labels: { shape: [4], dtype: 'int32' },
};

/** Traces a modelFn whose body maps the features to a prediction (and a mean-squared loss in train/eval). */
function traceBody(body: (f: Record<string, SymbolicTensor>) => SymbolicTensor, mode: Mode = 'infer'): Graph {
  const fn: ModelFn = (features, _labels, m) => {
    const y = body(features);
    if (m === 'infer') return { mode: m, predictions: { y } };
    const loss = ops.mean(ops.mul(y, y));
    return { mode: m, loss, trainOp: optimizers.sgd({ learningRate: 0.1 }).minimize(loss) };
  };
  return traceModelFn(fn, { mode, params, signature: mode === 'infer' ? { features: sig.features } : sig });
}

/** The message of the UserError thrown by tracing `body`. */
function traceError(body: (f: Record<string, SymbolicTensor>) => SymbolicTensor): string {
  return userErrorMessage(() => traceBody(body));
}

describe('ops trace to Graph IR nodes', () => {
  it('a hand-written attention: matMul, softmax, where, mul, add, reshape, transpose, mean', () => {
    const g = traceBody(({ x, mask }) => {
      const scores = ops.mul(ops.matMul(x, x, false, true), 1 / Math.sqrt(6));
      const masked = ops.where(mask, scores, -1e9);
      const p = ops.softmax(masked, -1);
      const ctx = ops.add(ops.matMul(p, x), x);
      return ops.transpose(ops.reshape(ctx, [-1, 2, 2, 6]), [0, 2, 1, 3]);
    }, 'train');
    expect(g.nodes.map((n) => `${n.name}:${n.op}`)).toEqual([
      'mat_mul:matMul', 'mul:mul', 'where:where', 'softmax:softmax', 'mat_mul_1:matMul', 'add:add', 'reshape:reshape', 'transpose:transpose', 'mul_1:mul', 'mean:mean',
    ]);
    const byName = Object.fromEntries(g.nodes.map((n) => [n.name, n]));
    expect(byName.mat_mul.attrs).toEqual({ transposeA: false, transposeB: true });
    expect(byName.mat_mul.outputs[0].shape).toEqual([null, 4, 4]);
    expect(byName.mul.attrs).toEqual({ b: 1 / Math.sqrt(6) });
    expect(byName.mul.inputs).toEqual(['mat_mul:0']);
    expect(byName.where.inputs).toEqual(['features/mask', 'mul:0']);
    expect(byName.where.attrs).toEqual({ y: -1e9 });
    expect(byName.softmax.attrs).toEqual({ axis: 2 });
    expect(byName.reshape.attrs).toEqual({ targetShape: [2, 2, 6] });
    expect(byName.transpose.outputs[0].shape).toEqual([null, 2, 2, 6]);
    expect(byName.mean.attrs).toEqual({ axis: [0, 1, 2, 3], keepDims: false });
    expect(byName.mean.outputs[0].shape).toEqual([]);
    expect(g.loss).toBe('mean:0');
    expect(JSON.parse(JSON.stringify(g))).toEqual(g);
    expect(formatSummary(g)).toMatch(/mat_mul \(MatMul\)\s+\(None, 4, 4\)\s+0/);
  });

  it('constants on either side, sqrt/rsqrt, sum and mean with axes and keepDims', () => {
    const g = traceBody(({ x }) => {
      const mu = ops.mean(x, -1, true);
      const xc = ops.sub(x, mu);
      const inv = ops.rsqrt(ops.add(ops.mean(ops.mul(xc, xc), [2], true), 1e-5));
      return ops.add(ops.sqrt(ops.sub(2, ops.div(1, ops.add(ops.mul(xc, inv), 3)))), ops.sum(x, [1, 2]).rank === 1 ? 0 : 1);
    });
    const attrs = g.nodes.map((n) => [n.op, n.attrs]);
    expect(attrs).toContainEqual(['mean', { axis: [2], keepDims: true }]);
    expect(attrs).toContainEqual(['sub', { a: 2 }]);
    expect(attrs).toContainEqual(['div', { a: 1 }]);
    expect(g.nodes.find((n) => n.op === 'mean')!.outputs[0].shape).toEqual([null, 4, 1]);
  });

  it('split lowers to slice nodes; concat, slice and gather (constant and per-sample indices)', () => {
    const g = traceBody(({ x, ids }) => {
      const [a, b, c] = ops.split(x, 3);
      const joined = ops.concat([c, a, b], 2);
      const part = ops.slice(joined, [0, 1], [-1, 2]);
      const picked = ops.gather(part, [1, 1, 0], 1);
      const perSample = ops.gather(x, ops.slice(ids, [0, 0], [-1, 2]), 1);
      return ops.concat([picked, ops.slice(perSample, [0, 0, 0], [-1, -1, 6])], 1);
    });
    const slices = g.nodes.filter((n) => n.name.startsWith('split'));
    expect(slices.map((n) => [n.op, n.attrs])).toEqual([
      ['slice', { begin: [0, 0, 0], size: [-1, 4, 2] }],
      ['slice', { begin: [0, 0, 2], size: [-1, 4, 2] }],
      ['slice', { begin: [0, 0, 4], size: [-1, 4, 2] }],
    ]);
    const gathers = g.nodes.filter((n) => n.op === 'gather');
    expect(gathers.map((n) => [n.attrs, n.inputs.length, n.outputs[0].shape])).toEqual([
      [{ axis: 1, indices: [1, 1, 0] }, 1, [null, 3, 6]],
      [{ axis: 1 }, 2, [null, 2, 6]],
    ]);
    expect(g.nodes.at(-1)!.outputs[0].shape).toEqual([null, 5, 6]);
  });

  it('a functional Model of ops and an attention layer replays identically, causal mask included', () => {
    const q = layers.input({ shape: [4, 6], name: 'x' });
    const att = layers.multiHeadAttention({ numHeads: 2, keyDim: 3 }).apply([q, q], { useCausalMask: true });
    const out = ops.softmax(ops.add(att, ops.mul(q, 2)), 1);
    const model = new Model({ inputs: q, outputs: out });
    const viaModel = traceBody(({ x }) => model.apply(x));
    const mha = layers.multiHeadAttention({ numHeads: 2, keyDim: 3 });
    const direct = traceBody(({ x }) => ops.softmax(ops.add(mha.apply([x, x], { useCausalMask: true }), ops.mul(x, 2)), 1));
    expect(viaModel.nodes).toEqual(direct.nodes);
    expect(viaModel.nodes[0].attrs).toMatchObject({ useCausalMask: true });
  });
});

describe('ops reject bad shapes with one clear UserError', () => {
  it('matMul inner dimensions that disagree name both shapes', () => {
    expect(traceError(({ x }) => ops.matMul(x, x))).toBe('ops.matMul (node \'mat_mul\'): inner dimensions differ: a (None, 4, 6) and b (None, 4, 6) (6 vs 4)');
    expect(traceError(({ x }) => ops.matMul(x, ops.reshape(x, [-1, 24])))).toMatch(/must have the same rank ≥ 3/);
  });
  it('a softmax axis out of range names the axis and the rank; the batch axis is refused', () => {
    expect(traceError(({ x }) => ops.softmax(x, 3))).toBe("ops.softmax (node 'softmax'): axis 3 is out of range for a tensor of rank 3 (None, 4, 6) (valid: -3…2, not 0 (the batch axis))");
    expect(traceError(({ x }) => ops.softmax(x, 0))).toMatch(/axis 0 is the batch axis/);
  });
  it('broadcasting needs aligned batch axes', () => {
    expect(traceError(({ x }) => ops.add(x, ops.reshape(x, [-1, 24])))).toMatch(/ops.add .*different ranks/);
    expect(traceError(({ x }) => ops.mul(x, ops.slice(x, [0, 0, 0], [-1, 4, 4])))).toMatch(/do not broadcast \(axis 2: 4 vs 6/);
  });
  it('the batch axis stays axis 0', () => {
    expect(traceError(({ x }) => ops.reshape(x, [4, -1]))).toMatch(/must start with -1 or null/);
    expect(traceError(({ x }) => ops.transpose(x, [1, 0, 2]))).toMatch(/moves the batch axis/);
    expect(traceError(({ x }) => ops.slice(x, [1, 0, 0]))).toMatch(/cuts the batch axis/);
    expect(traceError(({ x }) => ops.concat([x, x], 0))).toMatch(/is the batch axis/);
    expect(traceError(({ x }) => ops.gather(x, [0], 0))).toMatch(/is the batch axis/);
  });
  it('a reduction over the batch axis may only feed linear ops', () => {
    expect(traceError(({ x }) => ops.sqrt(ops.mean(x)))).toMatch(/has no batch axis/);
    expect(traceError(({ x }) => ops.mul(x, ops.mean(x, 0)))).toMatch(/has no batch axis/);
    expect(() => traceBody(({ x }) => ops.add(x, ops.sum(ops.mul(ops.mean(x), 2))), 'infer')).toThrow(/has no batch axis/);
    const g = traceBody(({ x }) => x, 'train');
    expect(g.loss).toBeDefined();
  });
  it('non-finite constants, int32 arithmetic, bad splits and gather indices', () => {
    expect(traceError(({ x }) => ops.where(ops.sub(x, 1), x, -Infinity))).toMatch(/y must be finite, got -Infinity/);
    expect(traceError(({ ids }) => ops.add(ids, 1))).toMatch(/arithmetic needs float32 tensors, got int32/);
    expect(traceError(({ x }) => ops.split(x, 4)[0])).toMatch(/cannot split axis 2 of \(None, 4, 6\) \(size 6\) into 4 equal parts/);
    expect(traceError(({ x }) => ops.gather(x, [4], 1))).toMatch(/integers in \[0, 4\)/);
    expect(traceError(({ x }) => ops.gather(x, x, 1))).toMatch(/indices must be int32/);
  });
});

describe('transformer layers', () => {
  it('MultiHeadAttention has Keras weight names, shapes and parameter count', () => {
    const g = traceBody(({ x }) => layers.multiHeadAttention({ numHeads: 2, keyDim: 3 }).apply([x, x]));
    expect(g.params.map((p) => `${p.name}:${p.shape}`)).toEqual([
      'multi_head_attention/query/kernel:6,2,3', 'multi_head_attention/query/bias:2,3',
      'multi_head_attention/key/kernel:6,2,3', 'multi_head_attention/key/bias:2,3',
      'multi_head_attention/value/kernel:6,2,3', 'multi_head_attention/value/bias:2,3',
      'multi_head_attention/attention_output/kernel:2,3,6', 'multi_head_attention/attention_output/bias:6',
    ]);
    expect(countParams(g)).toBe(3 * (6 * 6 + 6) + 6 * 6 + 6);
    const n = g.nodes[0];
    expect(n.inputs).toEqual(['features/x', 'features/x', 'features/x']);
    expect(n.attrs).toEqual({ numHeads: 2, keyDim: 3, valueDim: 3, outputDim: 6, dropout: 0, useBias: true, useCausalMask: false, rotaryDim: 0, hasAttentionMask: false, training: false });
    expect(traceBody(({ x }) => layers.multiHeadAttention({ numHeads: 2, keyDim: 4, rotaryDim: 2 }).apply([x, x])).nodes[0].attrs).toMatchObject({ rotaryDim: 2 });
    expect(() => layers.multiHeadAttention({ numHeads: 2, keyDim: 4, rotaryDim: 3 })).toThrow(/rotaryDim must be an even integer in \[0, keyDim = 4\], got 3/);
  });
  it('MultiHeadAttention: valueDim, outputShape, no bias, an attention mask; bad masks and arguments', () => {
    const g = traceBody(({ x, mask }) => layers.multiHeadAttention({ numHeads: 3, keyDim: 2, valueDim: 5, outputShape: 7, useBias: false, dropout: 0.1 }).apply([x, x], { attentionMask: mask }), 'train');
    const n = g.nodes[0];
    expect(n.inputs).toEqual(['features/x', 'features/x', 'features/x', 'features/mask']);
    expect(n.outputs[0].shape).toEqual([null, 4, 7]);
    expect(n.attrs).toMatchObject({ hasAttentionMask: true, training: true, dropout: 0.1, outputDim: 7 });
    expect(g.params.map((p) => p.shape)).toEqual([[6, 3, 2], [6, 3, 2], [6, 3, 5], [3, 5, 7]]);
    expect(traceError(({ x }) => layers.multiHeadAttention({ numHeads: 2, keyDim: 3 }).apply([x, x], { attentionMask: ops.slice(x, [0, 0, 0], [-1, 4, 3]) }))).toMatch(
      /attentionMask \(None, 4, 3\) must be \[batch, 4, 4\]/,
    );
    expect(() => layers.multiHeadAttention({ numHeads: 0, keyDim: 3 })).toThrow(/numHeads must be a positive integer, got 0/);
    expect(traceError(({ x }) => layers.multiHeadAttention({ numHeads: 2, keyDim: 3 }).apply(x))).toMatch(/takes \[query, value\]/);
  });
  it('TokenAndPositionEmbedding: Keras-NLP weights; a sequence longer than sequenceLength is refused', () => {
    const g = traceBody(({ ids }) => layers.tokenAndPositionEmbedding({ vocabularySize: 11, sequenceLength: 8, embeddingDim: 4 }).apply(ids));
    expect(g.params.map((p) => `${p.name}:${p.shape}:${p.initializer.name}`)).toEqual([
      'token_and_position_embedding/token_embedding/embeddings:11,4:randomUniform',
      'token_and_position_embedding/position_embedding/embeddings:8,4:randomUniform',
    ]);
    expect(g.nodes[0].outputs[0].shape).toEqual([null, 5, 4]);
    expect(traceError(({ ids }) => layers.tokenAndPositionEmbedding({ vocabularySize: 11, sequenceLength: 4, embeddingDim: 4 }).apply(ids))).toBe(
      "layer 'token_and_position_embedding' (TokenAndPositionEmbedding): input (None, 5) has sequences of length 5, longer than sequenceLength 4 (the position embedding's rows)",
    );
  });
  it('dense, layerNormalization, dropout, gelu and embedding work on the last axis of rank-3 inputs', () => {
    const g = traceBody(({ ids }) => {
      let h = layers.embedding({ inputDim: 11, outputDim: 4 }).apply(ids);
      h = layers.layerNormalization({ epsilon: 1e-5 }).apply(h);
      h = layers.dense({ units: 8, activation: 'gelu' }).apply(h);
      h = layers.dropout({ rate: 0.1 }).apply(h);
      return layers.dense({ units: 3 }).apply(h);
    }, 'train');
    expect(g.nodes.slice(0, 5).map((n) => n.outputs[0].shape)).toEqual([[null, 5, 4], [null, 5, 4], [null, 5, 8], [null, 5, 8], [null, 5, 3]]);
    expect(g.params.find((p) => p.name === 'dense/kernel')!.shape).toEqual([4, 8]);
  });
  it('GPT-2 small built from these layers has 124,439,808 parameters with tied embeddings', () => {
    const fn: ModelFn = (f, labels, mode) => {
      const emb = layers.tokenAndPositionEmbedding({ vocabularySize: 50257, sequenceLength: 1024, embeddingDim: 768 });
      let h = emb.apply(f.ids);
      for (let i = 0; i < 12; i++) {
        const a = layers.layerNormalization({ epsilon: 1e-5 }).apply(h);
        h = ops.add(h, layers.multiHeadAttention({ numHeads: 12, keyDim: 64 }).apply([a, a], { useCausalMask: true }));
        const b = layers.layerNormalization({ epsilon: 1e-5 }).apply(h);
        h = ops.add(h, layers.dense({ units: 768 }).apply(layers.dense({ units: 3072, activation: 'gelu' }).apply(b)));
      }
      const logits = emb.apply(layers.layerNormalization({ epsilon: 1e-5 }).apply(h), { reverse: true });
      const loss = losses.sparseSoftmaxCrossEntropy(labels!, logits);
      return { mode, loss, trainOp: optimizers.adamw().minimize(loss) };
    };
    const g = traceModelFn(fn, { mode: 'train', params, signature: { features: { ids: { shape: [1024], dtype: 'int32' } }, labels: { shape: [1024], dtype: 'int32' } } });
    expect(countParams(g)).toBe(124_439_808);
  });

  it('per-token losses and metrics on [batch, time, classes] logits', () => {
    const fn: ModelFn = (f, labels, mode) => {
      const logits = layers.dense({ units: 5 }).apply(f.x);
      const loss = losses.sparseSoftmaxCrossEntropy(labels!, logits);
      return { mode, loss, trainOp: optimizers.adam().minimize(loss) };
    };
    const g = traceModelFn(fn, { mode: 'train', params, signature: sig });
    expect(g.nodes.at(-1)!.inputs).toEqual(['labels', 'dense:0']);
    const bad: ModelFn = (f, labels, mode) => ({ mode, loss: losses.sparseSoftmaxCrossEntropy(ops.slice(labels!, [0, 0], [-1, 3]), layers.dense({ units: 5 }).apply(f.x)) });
    expect(() => traceModelFn(bad, { mode: 'eval', params, signature: sig })).toThrow(/expected labels \(None, 4\) or \(None, 4, 1\) of class ids/);
  });
});
