/**
 * tokenAndPositionEmbedding (Keras-NLP TokenAndPositionEmbedding, learned positions): int32 token ids
 * `[batch, seq]` → `T[ids] + P[0:seq]`, `[batch, seq, embeddingDim]`, with T the token table
 * `[vocabularySize, embeddingDim]` and P the position table `[sequenceLength, embeddingDim]` (seq ≤
 * sequenceLength). Float ids are truncated to int32.
 *
 * Backward: `dT[v] = Σ_{ids = v} dy` (scatter-add, as `embedding.ts`), `dP[s] = Σ_batch dy[:, s]` for s < seq
 * (`sumRows`), zero beyond. Ids get no gradient.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { OpKernel } from './types.ts';
import { checkedIds } from './embedding.ts';
import { expectArity, expectRank, expectShape, fmtShape, gatherRows, KernelError, scatterRows, sumRows, tidy } from './util.ts';

/** The tokenAndPositionEmbedding kernel. Params `[token_embedding/embeddings, position_embedding/embeddings]`.
 * @throws UserError naming the node and the id when a token id is outside `[0, vocabularySize)`;
 *   KernelError when the sequence is longer than `sequenceLength`. */
export const tokenAndPositionEmbeddingKernel: OpKernel<'tokenAndPositionEmbedding'> = {
  op: 'tokenAndPositionEmbedding',
  forward(node, inputs, params) {
    expectArity(node, inputs, 1, params, 2);
    const { vocabularySize: v, sequenceLength: l, embeddingDim: d } = node.attrs;
    const [x] = inputs;
    const [tok, pos] = params;
    expectRank(node, x, 'input', 2, '[batch, sequence] token ids');
    expectShape(node, tok, 'token embeddings', [v, d]);
    expectShape(node, pos, 'position embeddings', [l, d]);
    const [b, s] = x.shape;
    if (s > l) throw new KernelError(node, `sequence length ${s} of input ${fmtShape(x.shape)} exceeds sequenceLength ${l}`);
    const idx = checkedIds(node, x, v, 'vocabularySize', 'token id');
    const y = tidy(() => tf.add(tf.reshape(gatherRows(tok, idx), [b, s, d]), s === l ? pos : tf.slice(pos, [0, 0], [s, d])));
    return { outputs: [y], saved: [idx], meta: [b, s] };
  },
  backward(node, [dy], fwd, _params, needs) {
    const { vocabularySize: v, sequenceLength: l, embeddingDim: d } = node.attrs;
    const [idx] = fwd.saved as [tf.Tensor1D];
    const [b, s] = fwd.meta as [number, number];
    const dTok = needs.params[0] ? scatterRows(idx, dy, v) : null;
    const dPos = needs.params[1]
      ? tidy(() => {
          const sum = tf.reshape(sumRows(tf.reshape(dy, [b, s * d]) as tf.Tensor2D), [s, d]);
          return s === l ? sum : tf.pad(sum, [[0, l - s], [0, 0]]);
        })
      : null;
    return { dInputs: [null], dParams: [dTok, dPos] };
  },
};
