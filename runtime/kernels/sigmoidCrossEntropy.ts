/**
 * sigmoidCrossEntropy (TF `sigmoid_cross_entropy_with_logits`, mean over all elements — Keras
 * BinaryCrossentropy(from_logits=True) for equal-sized samples): inputs `[labels, logits]` of equal shape
 * `[batch, …]` → scalar
 *   L = Σ (max(z, 0) − z·y + log(1 + e^(−|z|))) / (globalBatch · elements per sample)
 * (the numerically stable form given in TF's documentation). Backward: `dz = (σ(z) − y) · dL / count`.
 */
import * as tf from '@tensorflow/tfjs-core';
import { alignLabels, floatLabels, globalCount } from './loss_util.ts';
import type { OpKernel } from './types.ts';
import { expectArity, tidy } from './util.ts';

/** The sigmoidCrossEntropy kernel. No params. */
export const sigmoidCrossEntropyKernel: OpKernel<'sigmoidCrossEntropy'> = {
  op: 'sigmoidCrossEntropy',
  forward(node, inputs, params, ctx) {
    expectArity(node, inputs, 2, params, 0);
    const [labels, z] = inputs;
    const count = globalCount(node, z, ctx, false);
    return tidy(() => {
      const y = floatLabels(alignLabels(node, labels, z.shape));
      const terms = tf.add(tf.sub(tf.relu(z), tf.mul(z, y)), tf.log1p(tf.exp(tf.neg(tf.abs(z)))));
      const loss = tf.div(tf.sum(terms), count);
      return { outputs: [loss], saved: [z, y], meta: count };
    });
  },
  backward(_node, [dL], fwd, _params, needs) {
    if (!needs.inputs[1]) return { dInputs: [null, null], dParams: [] };
    const [z, y] = fwd.saved;
    const dz = tidy(() => tf.mul(tf.sub(tf.sigmoid(z), y), tf.div(dL, fwd.meta as number)));
    return { dInputs: [null, dz], dParams: [] };
  },
};
