/**
 * Shared by the `sum` and `mean` kernels: Σ over a set of axes, and the gradient of a reduction (the output
 * gradient broadcast back over the reduced axes).
 *
 * A reduction over the batch axis 0 sums this shard's samples only, so shards' results add up to the
 * whole batch's (the contract of the loss kernels, `types.ts`); `mean` divides by the global batch there.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { GraphNode } from '../graph.ts';
import type { BackwardResult, ForwardResult, GradNeeds } from './types.ts';
import { broadcastTo, expectArity, KernelError, normAxis, sumRows, tidy } from './util.ts';

/** What the backward pass of a reduction needs. */
interface ReduceMeta {
  inShape: number[];
  keepShape: number[];
  scale: number;
}

/**
 * Σ of `x` over `axes` (sorted, non-negative). A leading block of axes `[0, …, k−1]` is summed with
 * {@link sumRows} (wasm `Sum` over leading axes transposes first and is several times slower).
 */
export function sumAxes(x: tf.Tensor, axes: readonly number[], keepDims: boolean): tf.Tensor {
  if (axes.length === 0) return x;
  return tidy(() => {
    const leading = axes.every((a, i) => a === i) && axes.length < x.rank;
    const outShape = x.shape.filter((_, i) => !axes.includes(i));
    const keepShape = x.shape.map((d, i) => (axes.includes(i) ? 1 : d));
    let s: tf.Tensor;
    if (leading) {
      const rows = x.shape.slice(0, axes.length).reduce((p, d) => p * d, 1);
      s = sumRows(tf.reshape(x, [rows, -1]) as tf.Tensor2D);
    } else s = tf.sum(x, axes as number[]);
    return tf.reshape(s, keepDims ? keepShape : outShape);
  });
}

/**
 * Forward of a reduction: `Σ_axes x · scale`.
 * @param batchCount the count a mean divides the batch axis by (the global batch), or null for a sum.
 * @throws KernelError for a non-float input or an axis out of range.
 */
export function reduceForward(node: GraphNode, inputs: tf.Tensor[], params: tf.Tensor[], attrs: { axis: number[]; keepDims: boolean }, batchCount: number | null): ForwardResult {
  expectArity(node, inputs, 1, params, 0);
  const [x] = inputs;
  if (x.dtype !== 'float32') throw new KernelError(node, `input must be float32, got ${x.dtype}`);
  const axes = [...new Set(attrs.axis.map((a) => normAxis(node, a, x.rank)))].sort((p, q) => p - q);
  let scale = 1;
  if (batchCount !== null) for (const a of axes) scale /= a === 0 ? batchCount : x.shape[a];
  const y = tidy(() => {
    const s = sumAxes(x, axes, attrs.keepDims);
    return scale === 1 ? s : tf.mul(s, scale);
  });
  const meta: ReduceMeta = { inShape: x.shape, keepShape: x.shape.map((d, i) => (axes.includes(i) ? 1 : d)), scale };
  return { outputs: [y], saved: [], meta };
}

/** Backward of a reduction: `dx = broadcast(dy) · scale`. */
export function reduceBackward(dy: tf.Tensor, fwd: Pick<ForwardResult, 'meta'>, needs: GradNeeds): BackwardResult {
  if (!needs.inputs[0]) return { dInputs: [null], dParams: [] };
  const { inShape, keepShape, scale } = fwd.meta as ReduceMeta;
  const dx = tidy(() => {
    const d = tf.reshape(dy, keepShape);
    return broadcastTo(scale === 1 ? d : tf.mul(d, scale), inShape);
  });
  return { dInputs: [dx], dParams: [] };
}
