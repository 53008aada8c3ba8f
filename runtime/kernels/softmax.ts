/**
 * softmax (tf.softmax, Keras Softmax) along `axis` ≥ 1: `y = exp(x − max) / Σ exp(x − max)`. Backward
 * (the softmax Jacobian applied to dy): `dx = y · (dy − Σ_axis dy·y)`.
 *
 * The wasm `Softmax` kernel works on the last axis only; another axis is moved last with a transpose (cheap on
 * wasm, `README.md`) and back.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { OpKernel } from './types.ts';
import { expectArity, KernelError, normAxis, tidy } from './util.ts';

/** The permutation that swaps `axis` with the last axis (its own inverse). */
function swapLast(rank: number, axis: number): number[] {
  const perm = Array.from({ length: rank }, (_, i) => i);
  perm[axis] = rank - 1;
  perm[rank - 1] = axis;
  return perm;
}

/** Runs `f` with `axis` moved to the last position of every tensor (which must share x's rank). */
function onLastAxis(ts: tf.Tensor[], axis: number, f: (...ts: tf.Tensor[]) => tf.Tensor): tf.Tensor {
  const rank = ts[0].rank;
  if (axis === rank - 1) return f(...ts);
  return tidy(() => {
    const perm = swapLast(rank, axis);
    return tf.transpose(f(...ts.map((t) => tf.transpose(t, perm))), perm);
  });
}

/** Softmax of `x` along `axis` (non-negative). */
export function softmaxForward(x: tf.Tensor, axis: number): tf.Tensor {
  return onLastAxis([x], axis, (t) => tf.softmax(t));
}

/** Input gradient of softmax along `axis` from the output gradient `dy` and the output `y`. */
export function softmaxBackward(dy: tf.Tensor, y: tf.Tensor, axis: number): tf.Tensor {
  return tidy(() => {
    const dot = tf.sum(tf.mul(dy, y), axis, true);
    return tf.mul(y, tf.sub(dy, dot));
  });
}

/** The softmax kernel. No params.
 * @throws KernelError for a non-float input or an axis out of range (or the batch axis). */
export const softmaxKernel: OpKernel<'softmax'> = {
  op: 'softmax',
  forward(node, inputs, params) {
    expectArity(node, inputs, 1, params, 0);
    const [x] = inputs;
    if (x.dtype !== 'float32') throw new KernelError(node, `input must be float32, got ${x.dtype}`);
    const axis = normAxis(node, node.attrs.axis, x.rank);
    if (axis === 0) throw new KernelError(node, 'softmax over the batch axis is not supported');
    const y = softmaxForward(x, axis);
    return { outputs: [y], saved: [y], meta: axis };
  },
  backward(_node, [dy], fwd, _params, needs) {
    if (!needs.inputs[0]) return { dInputs: [null], dParams: [] };
    return { dInputs: [softmaxBackward(dy, fwd.saved[0], fwd.meta as number)], dParams: [] };
  },
};
