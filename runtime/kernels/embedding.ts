/**
 * embedding (Keras Embedding): integer indices `[batch, …]` → rows of E `[inputDim, outputDim]`, output
 * `[batch, …, outputDim]`. Float indices are truncated to int32 (Keras casts them).
 *
 * Backward: `dE[v] = Σ_{k: idx_k = v} dy_k`, a deterministic scatter-add with the wasm `ScatterNd` kernel
 * (which sums duplicate indices sequentially); tfjs' own gradient of `gather` needs `UnsortedSegmentSum`, which
 * wasm lacks. Indices get no gradient.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { OpKernel } from './types.ts';
import { expectArity, expectShape, KernelError, tidy } from './util.ts';

/** The embedding kernel. Params `[embeddings]`.
 * @throws KernelError naming the node and the offending value when an index is outside `[0, inputDim)`. */
export const embeddingKernel: OpKernel<'embedding'> = {
  op: 'embedding',
  forward(node, inputs, params) {
    expectArity(node, inputs, 1, params, 1);
    const { inputDim, outputDim } = node.attrs;
    const [x] = inputs;
    const [e] = params;
    expectShape(node, e, 'embeddings', [inputDim, outputDim]);
    if (x.rank < 1) throw new KernelError(node, `input must be [batch, …] indices, got a scalar`);
    const idx = (x.dtype === 'int32' ? tf.reshape(x, [-1]) : tidy(() => tf.cast(tf.reshape(x, [-1]), 'int32'))) as tf.Tensor1D;
    const values = idx.dataSync();
    for (let i = 0; i < values.length; i++) {
      const v = values[i];
      if (v < 0 || v >= inputDim) {
        idx.dispose();
        throw new KernelError(node, `index ${v} at position ${i} is outside [0, ${inputDim})`);
      }
    }
    const y = tidy(() => tf.reshape(tf.gather(e, idx), [...x.shape, outputDim]));
    return { outputs: [y], saved: [idx], meta: undefined };
  },
  backward(node, [dy], fwd, _params, needs) {
    if (!needs.params[0]) return { dInputs: [null], dParams: [null] };
    const { inputDim, outputDim } = node.attrs;
    const [idx] = fwd.saved as [tf.Tensor1D];
    const dE = tidy(() =>
      tf.scatterND(tf.reshape(idx, [-1, 1]), tf.reshape(dy, [-1, outputDim]), [inputDim, outputDim]),
    );
    return { dInputs: [null], dParams: [dE] };
  },
};
