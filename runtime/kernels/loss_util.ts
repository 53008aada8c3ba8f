/**
 * Shared checks of the loss kernels: label/prediction shapes and the global normaliser.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { GraphNode } from '../graph.ts';
import type { KernelContext } from './types.ts';
import { fmtShape, KernelError } from './util.ts';

/**
 * Brings `labels` to `shape` when the two differ only by a trailing axis of size 1 (Keras'
 * `squeeze_or_expand_dimensions`, e.g. `[batch]` labels for `[batch, 1]` predictions).
 * @throws KernelError when the shapes are otherwise different.
 */
export function alignLabels(node: GraphNode, labels: tf.Tensor, shape: readonly number[]): tf.Tensor {
  const ls = labels.shape;
  if (ls.length === shape.length && ls.every((d, i) => d === shape[i])) return labels;
  const squeezeEq = (a: readonly number[], b: readonly number[]) =>
    a.length === b.length + 1 && a[a.length - 1] === 1 && b.every((d, i) => d === a[i]);
  if (squeezeEq(ls, shape) || squeezeEq(shape, ls)) return tf.reshape(labels, shape as number[]);
  throw new KernelError(node, `labels of shape ${fmtShape(ls)} do not match predictions of shape ${fmtShape(shape)}`);
}

/**
 * The global number of terms a mean loss divides by: `globalBatch · (elements per sample)` of `t`, where the
 * per-sample count excludes axis 0 (and the class axis for the softmax losses, `dropLast`).
 * @throws KernelError when there is nothing to average.
 */
export function globalCount(node: GraphNode, t: tf.Tensor, ctx: KernelContext, dropLast: boolean): number {
  const end = dropLast ? t.rank - 1 : t.rank;
  let n = 1;
  for (let i = 1; i < end; i++) n *= t.shape[i];
  const count = ctx.globalBatch * n;
  if (!(count > 0)) throw new KernelError(node, `cannot average a loss over ${count} elements (global batch ${ctx.globalBatch})`);
  return count;
}

/** Float32 view of labels (casting int labels). */
export function floatLabels(t: tf.Tensor): tf.Tensor {
  return t.dtype === 'float32' ? t : tf.cast(t, 'float32');
}
