/**
 * sum (tf.sum): Σ over `axis`, keeping them as size 1 with `keepDims`. Over the batch axis the result is this
 * shard's partial sum (`reduce_util.ts`). Backward: `dx = dy` broadcast over the reduced axes.
 */
import type { OpKernel } from './types.ts';
import { reduceBackward, reduceForward } from './reduce_util.ts';

/** The sum kernel. No params.
 * @throws KernelError for a non-float input or an axis out of range. */
export const sumKernel: OpKernel<'sum'> = {
  op: 'sum',
  forward: (node, inputs, params) => reduceForward(node, inputs, params, node.attrs, null),
  backward: (_node, [dy], fwd, _params, needs) => reduceBackward(dy, fwd, needs),
};
