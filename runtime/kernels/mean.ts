/**
 * mean (tf.mean): Σ over `axis` divided by the number of elements reduced, where the batch axis counts the
 * GLOBAL batch (`ctx.globalBatch`), so shards' partial means add up to the whole batch's (`reduce_util.ts`).
 * Backward: `dx = dy / count` broadcast over the reduced axes.
 */
import type { OpKernel } from './types.ts';
import { reduceBackward, reduceForward } from './reduce_util.ts';

/** The mean kernel. No params.
 * @throws KernelError for a non-float input or an axis out of range. */
export const meanKernel: OpKernel<'mean'> = {
  op: 'mean',
  forward: (node, inputs, params, ctx) => reduceForward(node, inputs, params, node.attrs, ctx.globalBatch),
  backward: (_node, [dy], fwd, _params, needs) => reduceBackward(dy, fwd, needs),
};
