/**
 * softmaxCrossEntropy (Keras CategoricalCrossentropy(from_logits=True), mean reduction): inputs
 * `[labels [batch, …, classes] probabilities, logits [batch, …, classes]]` → scalar
 *   y′ = y·(1 − s) + s/classes  (label smoothing s, as Keras and `tf.losses.softmaxCrossEntropy`)
 *   L = −Σ y′·log softmax(z) / (globalBatch · rows per sample)
 * Backward: `dz = (softmax(z)·Σ_c y′ − y′) · dL / count`; labels get no gradient.
 */
import * as tf from '@tensorflow/tfjs-core';
import { alignLabels, floatLabels, globalCount } from './loss_util.ts';
import type { OpKernel } from './types.ts';
import { expectArity, fmtShape, KernelError, tidy } from './util.ts';

/** The softmaxCrossEntropy kernel. No params. */
export const softmaxCrossEntropyKernel: OpKernel<'softmaxCrossEntropy'> = {
  op: 'softmaxCrossEntropy',
  forward(node, inputs, params, ctx) {
    expectArity(node, inputs, 2, params, 0);
    const [labels, logits] = inputs;
    if (logits.rank < 2) throw new KernelError(node, `logits must be [batch, …, classes], got ${fmtShape(logits.shape)}`);
    const s = node.attrs.labelSmoothing ?? 0;
    if (!(s >= 0 && s <= 1)) throw new KernelError(node, `labelSmoothing must be in [0, 1], got ${s}`);
    const classes = logits.shape[logits.rank - 1];
    const count = globalCount(node, logits, ctx, true);
    return tidy(() => {
      const y0 = floatLabels(alignLabels(node, labels, logits.shape));
      const y = tf.reshape(s > 0 ? tf.add(tf.mul(y0, 1 - s), s / classes) : y0, [-1, classes]);
      const z = tf.reshape(logits, [-1, classes]);
      const logp = tf.sub(z, tf.logSumExp(z, 1, true));
      const loss = tf.div(tf.neg(tf.sum(tf.mul(y, logp))), count);
      return { outputs: [loss], saved: [tf.exp(logp), y], meta: { count, shape: logits.shape } };
    });
  },
  backward(_node, [dL], fwd, _params, needs) {
    if (!needs.inputs[1]) return { dInputs: [null, null], dParams: [] };
    const [p, y] = fwd.saved;
    const { count, shape } = fwd.meta as { count: number; shape: number[] };
    const dz = tidy(() =>
      tf.reshape(tf.mul(tf.sub(tf.mul(p, tf.sum(y, 1, true)), y), tf.div(dL, count)), shape),
    );
    return { dInputs: [null, dz], dParams: [] };
  },
};
