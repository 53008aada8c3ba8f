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
