/**
 * 20 Adam steps of the tiny GPT of examples/gpt2 (dropout 0) on the wasm backend against the same network built
 * by hand in tfjs-core ops, differentiated by tfjs autodiff and updated by tf.train.adam on the cpu backend.
 */
import { describe, expect, it } from 'vitest';
import { validateParams, traceModelFn } from '../../index.ts';
import { modelFn } from '../../examples/gpt2/model.ts';
import { inputFn } from '../../examples/gpt2/data.ts';
import { Executor } from '../../runtime/exec/executor.ts';
import { initBackend } from '../../runtime/backend.ts';
import type { Batch } from '../../runtime/batch.ts';
import { expectClose, tf, tfl } from '../fixtures/numerics-helpers.ts';

const [T, D, H, F, L, V, B, STEPS, LR] = [8, 16, 2, 32, 2, 28, 4, 20, 1e-3];

const params = validateParams({
  train_input: { vocab_size: V, max_sequence_length: T, batch_size: B, shuffle: false },
  model: {
    hidden_size: D, num_heads: H, filter_size: F, num_hidden_layers: L, max_position_embeddings: T, dropout_rate: 0, attention_dropout_rate: 0,
    share_embedding_weights: true, use_position_embedding: true, nonlinearity: 'gelu', loss_scaling: 'batch_size', loss_weight: 1 / T,
  },
  optimizer: { optimizer_type: 'adam', learning_rate: LR },
  runconfig: { seed: 3 },
}, 'gpt2-train.test.yaml');

/** The GPT of examples/gpt2/model.ts in tfjs ops; `w` yields the parameters in graph order. */
function gptLoss(ids: tf.Tensor, labels: tf.Tensor, ws: tf.Tensor[]): tf.Scalar {
  let k = 0;
  const next = () => ws[k++];
  const ln = (x: tf.Tensor) => {
    const [g, b] = [next(), next()];
    const mu = tf.mean(x, -1, true);
    const xc = tf.sub(x, mu);
    return tf.add(tf.mul(tf.mul(xc, tf.rsqrt(tf.add(tf.mean(tf.square(xc), -1, true), 1e-5))), g), b);
  };
  const dense = (x: tf.Tensor, units: number) => {
    const [kern, bias] = [next(), next()];
    return tf.reshape(tf.add(tf.matMul(tf.reshape(x, [-1, x.shape[2]!]), kern), bias), [B, T, units]);
  };
  const gelu = (x: tf.Tensor) => tf.mul(tf.mul(x, 0.5), tf.add(1, tf.erf(tf.mul(x, Math.SQRT1_2))));
  const [tok, pos] = [next(), next()];
  let h = tf.add(tf.reshape(tf.gather(tok, tf.reshape(ids, [-1])), [B, T, D]), tf.slice(pos, [0, 0], [T, D]));
  const e = D / H;
  const causal = tf.reshape(tf.greaterEqual(tf.reshape(tf.range(0, T), [T, 1]), tf.reshape(tf.range(0, T), [1, T])), [1, 1, T, T]);
  for (let l = 0; l < L; l++) {
    const a = ln(h);
    const [wq, bq, wk, bk, wv, bv, wo, bo] = Array.from({ length: 8 }, next);
    const proj = (kern: tf.Tensor, bias: tf.Tensor) => tf.transpose(tf.add(tf.reshape(tf.matMul(tf.reshape(a, [B * T, D]), tf.reshape(kern, [D, D])), [B, T, H, e]), bias), [0, 2, 1, 3]);
    const q = tf.mul(proj(wq, bq), 1 / Math.sqrt(e));
    let s = tf.matMul(q, proj(wk, bk), false, true);
    s = tf.where(tf.logicalAnd(causal, tf.ones(s.shape, 'bool')), s, tf.fill(s.shape, -1e9));
    const ctx = tf.reshape(tf.transpose(tf.matMul(tf.softmax(s), proj(wv, bv)), [0, 2, 1, 3]), [B * T, D]);
    h = tf.add(h, tf.reshape(tf.add(tf.matMul(ctx, tf.reshape(wo, [D, D])), bo), [B, T, D]));
    h = tf.add(h, dense(gelu(dense(ln(h), F)), D));
  }
  const logits = tf.matMul(tf.reshape(ln(h), [B * T, D]), tok, false, true);
  const logp = tf.sub(logits, tf.logSumExp(logits, -1, true));
  return tf.div(tf.neg(tf.sum(tf.mul(logp, tf.oneHot(tf.reshape(labels, [-1]), V)))), B * T) as tf.Scalar;
}

describe('examples/gpt2: 20 Adam steps against a tfjs-core reference', () => {
  it('losses and every parameter match within 1e-4', async () => {
    const signature = { features: { input_ids: { shape: [T], dtype: 'int32' as const } }, labels: { shape: [T], dtype: 'int32' as const } };
    const graph = traceModelFn(modelFn, { mode: 'train', params, signature });
    expect(graph.nodes.some((n) => n.op === 'dropout')).toBe(false);
    const it = (await inputFn(params, 'train')).iterator();
    const batches: Batch[] = [];
    for (let s = 0; s < STEPS; s++) batches.push((await it.next()).value!);
    const exec = await Executor.create(graph);
    const initial = exec.getParams();
    const ours: number[] = [];
    for (let s = 0; s < STEPS; s++) ours.push((await exec.trainStep(batches[s], s)).loss);
    const final = exec.getParams();
    exec.dispose();

    await tf.setBackend('cpu');
    const theirs: number[] = [];
    let after: Float32Array[];
    try {
      const vars = initial.map((p) => tf.variable(tf.tensor(p.data, p.shape), true, `ref_${p.name}`));
      const opt = tfl.train.adam(LR, 0.9, 0.999, 1e-7);
      for (const b of batches) {
        const ids = tf.tensor(b.features.input_ids.data, b.features.input_ids.shape, 'int32');
        const labels = tf.tensor(b.labels!.data, b.labels!.shape, 'int32');
        const cost = opt.minimize(() => gptLoss(ids, labels, vars), true, vars)!;
        theirs.push(cost.dataSync()[0]);
        tf.dispose([cost, ids, labels]);
      }
      after = vars.map((v) => (v.dataSync() as Float32Array).slice());
      tf.dispose([...vars]);
      opt.dispose();
    } finally {
      await initBackend();
    }
    expectClose(ours, theirs, 1e-4, 'loss series');
    expect(theirs[STEPS - 1]).toBeLessThan(theirs[0]);
    // the key bias only shifts each softmax row (no effect on the loss): its gradient is rounding noise, which
    // Adam normalises into lr-sized steps, so its values are not compared
    final.forEach((p, i) => {
      if (!p.name.endsWith('/key/bias')) expectClose(p.data, after[i], 1e-4, `parameter ${p.name} after ${STEPS} steps`);
    });
  }, 120_000);
});
