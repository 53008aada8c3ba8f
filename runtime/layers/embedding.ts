/** Keras `Embedding`: a lookup table indexed by int32 ids. */
import type { SymbolicTensor } from '../symbolic.ts';
import { Layer, type InitializerArg, type LayerArgs, type LayerSpec } from './base.ts';

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
  protected spec([x]: SymbolicTensor[]): LayerSpec<'embedding'> {
    if (x.dtype !== 'int32') this.fail(`expected int32 ids, got ${x.dtype} tensor ${x}`);
    this.staticDims(x);
    const { inputDim, outputDim } = this.args;
    return {
      op: 'embedding',
      attrs: { inputDim, outputDim },
      out: { shape: [...x.shape, outputDim], dtype: 'float32' },
      weights: [{ weight: 'embeddings', shape: [inputDim, outputDim], init: this.args.embeddingsInitializer ?? { name: 'randomUniform', config: { minval: -0.05, maxval: 0.05 } } }],
    };
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
  /** @throws UserError for non-int32 ids, a rank other than 2, or a sequence longer than sequenceLength. */
  protected spec([x]: SymbolicTensor[]): LayerSpec<'tokenAndPositionEmbedding'> {
    if (x.dtype !== 'int32') this.fail(`expected int32 token ids, got ${x.dtype} tensor ${x}`);
    this.expectRank(x, 2, '[batch, sequence] of token ids');
    const [seq] = this.staticDims(x);
    const { vocabularySize, sequenceLength, embeddingDim } = this.args;
    if (seq > sequenceLength) this.fail(`input ${x} has sequences of length ${seq}, longer than sequenceLength ${sequenceLength} (the position embedding's rows)`);
    const init = this.args.embeddingsInitializer ?? { name: 'randomUniform', config: { minval: -0.05, maxval: 0.05 } };
    return {
      op: 'tokenAndPositionEmbedding',
      attrs: { vocabularySize, sequenceLength, embeddingDim },
      out: { shape: [x.shape[0], seq, embeddingDim], dtype: 'float32' },
      weights: [
        { weight: 'token_embedding/embeddings', shape: [vocabularySize, embeddingDim], init },
        { weight: 'position_embedding/embeddings', shape: [sequenceLength, embeddingDim], init },
      ],
    };
  }
}

/** Creates a {@link TokenAndPositionEmbedding} layer. */
export function tokenAndPositionEmbedding(args: TokenAndPositionEmbeddingArgs): TokenAndPositionEmbedding {
  return new TokenAndPositionEmbedding(args);
}
