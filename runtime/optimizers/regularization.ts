/**
 * Weight penalties (Keras `regularizers.L1L2`, tfjs-layers `L1L2.apply`): the loss gains
 * `l1 · Σ|w| + l2 · Σw²`, the gradient `l1 · sign(w) + 2 · l2 · w` (sign(0) = 0, as TF's gradient of |w|).
 * Added once per step (not per replica): data-parallel executors add the gradient term after the all-reduce.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { RegularizerSpec } from '../graph.ts';

/** True when the spec adds nothing. */
export function isZeroPenalty(spec: RegularizerSpec | undefined): boolean {
  return !spec || (!(spec.l1 ?? 0) && !(spec.l2 ?? 0));
}

/**
 * The penalty of one parameter, a scalar tensor (loss units).
 * @param w parameter value, any shape.
 */
export function penalty(spec: RegularizerSpec, w: tf.Tensor): tf.Scalar {
  return tf.tidy(() => {
    let p: tf.Scalar = tf.scalar(0);
    if (spec.l1) p = tf.add(p, tf.sum(tf.mul(spec.l1, tf.abs(w))));
    if (spec.l2) p = tf.add(p, tf.sum(tf.mul(spec.l2, tf.square(w))));
    return p;
  });
}

/**
 * Gradient of {@link penalty} with respect to `w`, same shape as `w`.
 */
export function penaltyGrad(spec: RegularizerSpec, w: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    let g: tf.Tensor = tf.zerosLike(w);
    if (spec.l1) g = tf.add(g, tf.mul(tf.sign(w), spec.l1));
    if (spec.l2) g = tf.add(g, tf.mul(w, 2 * spec.l2));
    return g;
  });
}
