/** Keras `Input` (`layers.input`): a free symbolic tensor that starts a functional model. */
import type { DType } from '../graph.ts';
import { UserError } from '../errors.ts';
import { SymbolicTensor } from '../symbolic.ts';

/** Keras Input arguments. */
export interface InputArgs {
  /** Shape without the batch dimension, e.g. `[28, 28, 1]`. */
  shape: number[];
  /** Name; a functional model matches it against the feature keys of `modelFn` (default: by position). */
  name?: string;
  /** Default 'float32'. */
  dtype?: DType;
}

/**
 * Creates a model input `[batch, ...shape]`.
 * @throws UserError for a shape that is not a list of positive integers.
 */
export function input(args: InputArgs): SymbolicTensor {
  if (!Array.isArray(args?.shape) || !args.shape.every((d) => Number.isInteger(d) && d > 0)) {
    throw new UserError(`input '${args?.name ?? 'input'}': shape must be a list of positive integers (without the batch dimension), got ${JSON.stringify(args?.shape)}`);
  }
  return new SymbolicTensor([null, ...args.shape], args.dtype ?? 'float32', { kind: 'input', name: args.name ?? 'input' });
}
