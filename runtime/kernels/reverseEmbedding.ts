/**
 * reverseEmbedding (Keras-NLP ReversibleEmbedding with `reverse=True`, tied embeddings): x `[batch, …, D]` →
 * `x · Eᵀ` `[batch, …, V]` with the embedding table E `[V, D]`. Leading axes are flattened into rows.
 * Backward: `dx = dy · E`, `dE = dyᵀ · x` (plain matMuls after explicit transposes, `matMul.ts`); the
 * embedding node reading the same table adds its own gradient to E's.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { OpKernel } from './types.ts';
import { expectArity, expectShape, fmtShape, KernelError, tidy } from './util.ts';

/** The reverseEmbedding kernel. Params `[embeddings]`.
 * @throws KernelError when the input's last axis is not outputDim or the input is not float32. */
export const reverseEmbeddingKernel: OpKernel<'reverseEmbedding'> = {
  op: 'reverseEmbedding',
  forward(node, inputs, params) {
    expectArity(node, inputs, 1, params, 1);
    const { inputDim: v, outputDim: d } = node.attrs;
    const [x] = inputs;
    expectShape(node, params[0], 'embeddings', [v, d]);
    if (x.dtype !== 'float32' || x.rank < 2 || x.shape[x.rank - 1] !== d) throw new KernelError(node, `input must be float32 [batch, …, ${d}], got ${x.dtype} ${fmtShape(x.shape)}`);
    return tidy(() => {
      const x2 = tf.reshape(x, [-1, d]) as tf.Tensor2D;
      const y = tf.reshape(tf.matMul(x2, tf.transpose(params[0] as tf.Tensor2D)), [...x.shape.slice(0, -1), v]);
      return { outputs: [y], saved: [x2], meta: x.shape };
    });
  },
  backward(node, [dy], fwd, params, needs) {
    const { inputDim: v } = node.attrs;
    const [x2] = fwd.saved as [tf.Tensor2D];
    return tidy(() => {
      const dy2 = tf.reshape(dy, [-1, v]) as tf.Tensor2D;
      const dx = needs.inputs[0] ? tf.reshape(tf.matMul(dy2, params[0] as tf.Tensor2D), fwd.meta as number[]) : null;
      const dE = needs.params[0] ? tf.matMul(tf.transpose(dy2), x2) : null;
      return { dInputs: [dx], dParams: [dE] };
    });
  },
};
