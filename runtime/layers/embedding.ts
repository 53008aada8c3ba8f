/**
 * Keras `Embedding` (a lookup table indexed by int32 ids) and Keras-NLP `TokenAndPositionEmbedding`. Both also
 * run in reverse (Keras-NLP ReversibleEmbedding, `apply(x, { reverse: true })`): vectors → logits with the
 * transposed token table, for tied input and output embeddings (modelzoo `share_embedding_weights`).
 */
import type { CallOptions, SymbolicTensor } from '../symbolic.ts';
import { Layer, type InitializerArg, type LayerArgs, type LayerSpec, type WeightDecl } from './base.ts';

/**
 * The reverse call of an embedding layer: x `[batch, …, outputDim]` float32 → `[batch, …, inputDim]` logits,
 * reading only the weight `table` of the layer's `weights`.
 */
function reverseSpec(fail: (m: string) => never, x: SymbolicTensor, inputDim: number, outputDim: number, weights: WeightDecl[], table: string): LayerSpec<'reverseEmbedding'> {
  if (x.dtype !== 'float32' || x.rank < 2 || x.shape[x.rank - 1] !== outputDim) fail(`reverse: expected float32 vectors [batch, …, ${outputDim}], got ${x.dtype} ${x}`);
  return { op: 'reverseEmbedding', attrs: { inputDim, outputDim }, out: { shape: [...x.shape.slice(0, -1), inputDim], dtype: 'float32' }, weights, reads: [table] };
}

/** Keras Embedding arguments. */
export interface EmbeddingArgs extends LayerArgs {
  /** Vocabulary size (ids are in [0, inputDim)). */
  inputDim: number;
  /** Size of each vector. */
  outputDim: number;
  /** Keras default: randomUniform in [-0.05, 0.05]. */
  embeddingsInitializer?: InitializerArg;
}

/** Embedding lookup. Input int32 `[batch, ...]` → `[batch, ..., outputDim]`; weight embeddings `[inputDim, outputDim]`. */
export class Embedding extends Layer {
  readonly className = 'Embedding';
  readonly baseName = 'embedding';
  constructor(override readonly args: EmbeddingArgs) {
    super(args);
    for (const k of ['inputDim', 'outputDim'] as const) {
      if (!Number.isInteger(args?.[k]) || args[k] <= 0) this.fail(`${k} must be a positive integer, got ${JSON.stringify(args?.[k])}`);
    }
  }
  /** @throws UserError for non-int32 ids (float vectors of the right size with `reverse`). */
  protected spec([x]: SymbolicTensor[], _training: boolean, options: CallOptions): LayerSpec<'embedding' | 'reverseEmbedding'> {
    const { inputDim, outputDim } = this.args;
    const weights = [{ weight: 'embeddings', shape: [inputDim, outputDim], init: this.args.embeddingsInitializer ?? { name: 'randomUniform', config: { minval: -0.05, maxval: 0.05 } } }];
    if (options.reverse) return reverseSpec((m) => this.fail(m), x, inputDim, outputDim, weights, 'embeddings');
    if (x.dtype !== 'int32') this.fail(`expected int32 ids, got ${x.dtype} tensor ${x}`);
    this.staticDims(x);
    return { op: 'embedding', attrs: { inputDim, outputDim }, out: { shape: [...x.shape, outputDim], dtype: 'float32' }, weights };
  }
}

/** Creates an {@link Embedding} layer. */
export function embedding(args: EmbeddingArgs): Embedding {
  return new Embedding(args);
}

/** Keras-NLP TokenAndPositionEmbedding arguments. */
export interface TokenAndPositionEmbeddingArgs extends LayerArgs {
  /** Token ids are in [0, vocabularySize). */
  vocabularySize: number;
  /** Longest input sequence (rows of the learned position table). */
  sequenceLength: number;
  /** Size of each embedding vector. */
  embeddingDim: number;
  /** Initializer of both tables; Keras-NLP default "uniform" (randomUniform in [-0.05, 0.05]). */
  embeddingsInitializer?: InitializerArg;
}

/**
 * Token plus learned position embedding (Keras-NLP `TokenAndPositionEmbedding`): int32 ids `[batch, seq]` with
 * seq ≤ sequenceLength → `token_embedding[ids] + position_embedding[0:seq]`, `[batch, seq, embeddingDim]`. Weights
 * `token_embedding/embeddings [vocabularySize, embeddingDim]`, `position_embedding/embeddings [sequenceLength,
 * embeddingDim]` (Keras-NLP names).
 */
export class TokenAndPositionEmbedding extends Layer {
  readonly className = 'TokenAndPositionEmbedding';
  readonly baseName = 'token_and_position_embedding';
  constructor(override readonly args: TokenAndPositionEmbeddingArgs) {
    super(args);
    for (const k of ['vocabularySize', 'sequenceLength', 'embeddingDim'] as const) {
      if (!Number.isInteger(args?.[k]) || args[k] <= 0) this.fail(`${k} must be a positive integer, got ${JSON.stringify(args?.[k])}`);
    }
  }
  /** @throws UserError for non-int32 ids, a rank other than 2, or a sequence longer than sequenceLength (with
   * `reverse`: vectors whose last axis is not embeddingDim). */
  protected spec([x]: SymbolicTensor[], _training: boolean, options: CallOptions): LayerSpec<'tokenAndPositionEmbedding' | 'reverseEmbedding'> {
    const { vocabularySize, sequenceLength, embeddingDim } = this.args;
    const init = this.args.embeddingsInitializer ?? { name: 'randomUniform', config: { minval: -0.05, maxval: 0.05 } };
    const weights = [
      { weight: 'token_embedding/embeddings', shape: [vocabularySize, embeddingDim], init },
      { weight: 'position_embedding/embeddings', shape: [sequenceLength, embeddingDim], init },
    ];
    if (options.reverse) return reverseSpec((m) => this.fail(m), x, vocabularySize, embeddingDim, weights, 'token_embedding/embeddings');
    if (x.dtype !== 'int32') this.fail(`expected int32 token ids, got ${x.dtype} tensor ${x}`);
    this.expectRank(x, 2, '[batch, sequence] of token ids');
    const [seq] = this.staticDims(x);
    if (seq > sequenceLength) this.fail(`input ${x} has sequences of length ${seq}, longer than sequenceLength ${sequenceLength} (the position embedding's rows)`);
    return { op: 'tokenAndPositionEmbedding', attrs: { vocabularySize, sequenceLength, embeddingDim }, out: { shape: [x.shape[0], seq, embeddingDim], dtype: 'float32' }, weights };
  }
}

/** Creates a {@link TokenAndPositionEmbedding} layer. */
export function tokenAndPositionEmbedding(args: TokenAndPositionEmbeddingArgs): TokenAndPositionEmbedding {
  return new TokenAndPositionEmbedding(args);
}
