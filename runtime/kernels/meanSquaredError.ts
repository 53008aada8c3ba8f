/**
 * meanSquaredError (Keras MeanSquaredError, mean over all elements for equal-sized samples): inputs
 * `[labels, predictions]` of equal shape `[batch, …]` → scalar
 *   L = Σ (p − y)² / (globalBatch · elements per sample).
 * Backward: `dp = 2(p − y) · dL / count`; labels get no gradient.
 */
import * as tf from '@tensorflow/tfjs-core';
import { alignLabels, floatLabels, globalCount } from './loss_util.ts';
import type { OpKernel } from './types.ts';
import { expectArity, tidy } from './util.ts';

/** The meanSquaredError kernel. No params. */
export const meanSquaredErrorKernel: OpKernel<'meanSquaredError'> = {
  op: 'meanSquaredError',
  forward(node, inputs, params, ctx) {
    expectArity(node, inputs, 2, params, 0);
    const [labels, p] = inputs;
    const count = globalCount(node, p, ctx, false);
    return tidy(() => {
      const diff = tf.sub(p, floatLabels(alignLabels(node, labels, p.shape)));
      return { outputs: [tf.div(tf.sum(tf.square(diff)), count)], saved: [diff], meta: count };
    });
  },
  backward(_node, [dL], fwd, _params, needs) {
    if (!needs.inputs[1]) return { dInputs: [null, null], dParams: [] };
    const [diff] = fwd.saved;
    return { dInputs: [null, tidy(() => tf.mul(diff, tf.div(tf.mul(dL, 2), fwd.meta as number)))], dParams: [] };
  },
};
