/**
 * embedding (Keras Embedding): integer indices `[batch, …]` → rows of E `[inputDim, outputDim]`, output
 * `[batch, …, outputDim]`. Float indices are truncated to int32 (Keras casts them).
 *
 * Forward gathers rows with `gatherRows` (wasm `GatherNd`, ~30× faster than `GatherV2`, `README.md`).
 * Backward: `dE[v] = Σ_{k: idx_k = v} dy_k`, a deterministic scatter-add (`scatterRows`, wasm `ScatterNd`);
 * tfjs' own gradient of `gather` needs `UnsortedSegmentSum`, which wasm lacks. Indices get no gradient.
 */
import * as tf from '@tensorflow/tfjs-core';
import { UserError } from '../errors.ts';
import type { GraphNode } from '../graph.ts';
import type { OpKernel } from './types.ts';
import { expectShape, expectArity, gatherRows, KernelError, scatterRows, tidy } from './util.ts';

/**
 * The ids of `x` as a flat int32 tensor, checked against `[0, size)`.
 * @param what names the size in the message, e.g. `vocabularySize`.
 * @param noun what an entry is called in the message, e.g. `token id`.
 * @throws UserError naming the node, the id, its position and the range.
 */
export function checkedIds(node: GraphNode, x: tf.Tensor, size: number, what: string, noun = 'index'): tf.Tensor1D {
  if (x.rank < 1) throw new KernelError(node, `input must be [batch, …] indices, got a scalar`);
  const idx = (x.dtype === 'int32' ? tf.reshape(x, [-1]) : tidy(() => tf.cast(tf.reshape(x, [-1]), 'int32'))) as tf.Tensor1D;
  const values = idx.dataSync();
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v < 0 || v >= size) {
      idx.dispose();
      throw new UserError(`node '${node.name}' (${node.op}): ${noun} ${v} at position ${i} is outside [0, ${size}) (${what} ${size})`);
    }
  }
  return idx;
}

/** The embedding kernel. Params `[embeddings]`.
 * @throws UserError naming the node and the offending value when an index is outside `[0, inputDim)`. */
export const embeddingKernel: OpKernel<'embedding'> = {
  op: 'embedding',
  forward(node, inputs, params) {
    expectArity(node, inputs, 1, params, 1);
    const { inputDim, outputDim } = node.attrs;
    const [x] = inputs;
    const [e] = params;
    expectShape(node, e, 'embeddings', [inputDim, outputDim]);
    const idx = checkedIds(node, x, inputDim, 'inputDim');
    const y = tidy(() => tf.reshape(gatherRows(e, idx), [...x.shape, outputDim]));
    return { outputs: [y], saved: [idx], meta: undefined };
  },
  backward(node, [dy], fwd, _params, needs) {
    if (!needs.params[0]) return { dInputs: [null], dParams: [null] };
    const [idx] = fwd.saved as [tf.Tensor1D];
    return { dInputs: [null], dParams: [scatterRows(idx, dy, node.attrs.inputDim)] };
  },
};
