/** Keras core layers without weights: `Dropout`, `Flatten`, `Reshape`, `Activation`, `Add`, `Concatenate`. */
import { formatShape, type SymbolicTensor } from '../symbolic.ts';
import { Layer, activationArg, type LayerArgs, type LayerSpec } from './base.ts';

/** Keras Dropout arguments. */
export interface DropoutArgs extends LayerArgs {
  /** Fraction of inputs dropped, in [0, 1). */
  rate: number;
}

/** Inverted dropout: in training, zeroes each element with probability `rate` and scales the rest by 1/(1−rate). */
export class Dropout extends Layer {
  readonly className = 'Dropout';
  readonly baseName = 'dropout';
  constructor(override readonly args: DropoutArgs) {
    super(args);
    if (!(typeof args?.rate === 'number' && args.rate >= 0 && args.rate < 1)) this.fail(`rate must be in [0, 1), got ${JSON.stringify(args?.rate)}`);
  }
  protected spec([x]: SymbolicTensor[], training: boolean): LayerSpec<'dropout'> {
    return { op: 'dropout', attrs: { rate: this.args.rate, training }, out: { shape: x.shape, dtype: x.dtype }, weights: [] };
  }
}

/** Flattens all but the batch axis. `[batch, d1, ..., dn]` → `[batch, d1·…·dn]`. */
export class Flatten extends Layer {
  readonly className = 'Flatten';
  readonly baseName = 'flatten';
  protected spec([x]: SymbolicTensor[]): LayerSpec<'flatten'> {
    if (x.rank < 2) this.fail(`expected input of rank ≥ 2 [batch, ...], got shape ${x}`);
    const n = this.staticDims(x).reduce((a, b) => a * b, 1);
    return { op: 'flatten', attrs: {}, out: { shape: [x.shape[0], n], dtype: x.dtype }, weights: [] };
  }
}

/** Keras Reshape arguments. */
export interface ReshapeArgs extends LayerArgs {
  /** Target shape without the batch dimension; one entry may be -1. */
  targetShape: number[];
}

/** Reshape of the non-batch dimensions. `[batch, ...]` → `[batch, ...targetShape]`. */
export class Reshape extends Layer {
  readonly className = 'Reshape';
  readonly baseName = 'reshape';
  constructor(override readonly args: ReshapeArgs) {
    super(args);
    const t = args?.targetShape;
    if (!Array.isArray(t) || !t.every((d) => Number.isInteger(d) && (d > 0 || d === -1)) || t.filter((d) => d === -1).length > 1) {
      this.fail(`targetShape must be a list of positive integers with at most one -1, got ${JSON.stringify(t)}`);
    }
  }
  protected spec([x]: SymbolicTensor[]): LayerSpec<'reshape'> {
    const n = this.staticDims(x).reduce((a, b) => a * b, 1);
    const known = this.args.targetShape.filter((d) => d > 0).reduce((a, b) => a * b, 1);
    const target = this.args.targetShape.map((d) => (d === -1 ? n / known : d));
    if (!target.every(Number.isInteger) || target.reduce((a, b) => a * b, 1) !== n) {
      this.fail(`cannot reshape ${x} (${n} values per sample) to target shape ${formatShape([null, ...this.args.targetShape])}`);
    }
    return { op: 'reshape', attrs: { targetShape: target }, out: { shape: [x.shape[0], ...target], dtype: x.dtype }, weights: [] };
  }
}

/** Keras Activation arguments. */
export interface ActivationArgs extends LayerArgs {
  activation: string;
}

/** Applies an activation element-wise; shape unchanged. */
export class Activation extends Layer {
  readonly className = 'Activation';
  readonly baseName = 'activation';
  constructor(override readonly args: ActivationArgs) {
    super(args);
    activationArg(this.label(), args?.activation);
  }
  protected spec([x]: SymbolicTensor[]): LayerSpec<'activation'> {
    return { op: 'activation', attrs: { activation: activationArg(this.label(), this.args.activation) }, out: { shape: x.shape, dtype: 'float32' }, weights: [] };
  }
}

/** Element-wise sum of two or more tensors of identical shape. */
export class Add extends Layer {
  readonly className = 'Add';
  readonly baseName = 'add';
  protected override readonly arity = 'many' as const;
  protected spec(xs: SymbolicTensor[]): LayerSpec<'add'> {
    const s = formatShape(xs[0].shape);
    if (!xs.every((x) => formatShape(x.shape) === s)) this.fail(`inputs must have identical shapes, got ${xs.map((x) => x.toString()).join(', ')}`);
    return { op: 'add', attrs: {}, out: { shape: xs[0].shape, dtype: xs[0].dtype }, weights: [] };
  }
}

/** Keras Concatenate arguments. */
export interface ConcatenateArgs extends LayerArgs {
  /** Axis to join along (default -1: the channels of `[batch, h, w, c]`; use 1 for the channels of channels-first
   * `[batch, c, h, w]`, as in Keras); the batch axis 0 is not allowed. */
  axis?: number;
}

/** Concatenation along one axis; the other dimensions must match. */
export class Concatenate extends Layer {
  readonly className = 'Concatenate';
  readonly baseName = 'concatenate';
  protected override readonly arity = 'many' as const;
  constructor(override readonly args: ConcatenateArgs = {}) {
    super(args);
  }
  protected spec(xs: SymbolicTensor[]): LayerSpec<'concatenate'> {
    const rank = xs[0].rank;
    if (!xs.every((x) => x.rank === rank)) this.fail(`inputs must have the same rank, got ${xs.map((x) => x.toString()).join(', ')}`);
    const axis = (this.args.axis ?? -1) < 0 ? rank + (this.args.axis ?? -1) : this.args.axis!;
    if (axis <= 0 || axis >= rank) this.fail(`axis ${this.args.axis} is out of range for inputs of rank ${rank} (the batch axis cannot be joined)`);
    for (const x of xs) {
      for (let d = 1; d < rank; d++) {
        if (d !== axis && x.shape[d] !== xs[0].shape[d]) this.fail(`inputs must match except on axis ${axis}, got ${xs.map((t) => t.toString()).join(', ')}`);
      }
    }
    const shape = [...xs[0].shape];
    shape[axis] = xs.reduce((s, x) => s + (x.shape[axis] as number), 0);
    if (xs.some((x) => x.dtype !== xs[0].dtype)) this.fail('inputs must have the same dtype');
    return { op: 'concatenate', attrs: { axis }, out: { shape, dtype: xs[0].dtype }, weights: [] };
  }
}

/** Creates a {@link Dropout} layer. */
export function dropout(args: DropoutArgs): Dropout {
  return new Dropout(args);
}
/** Creates a {@link Flatten} layer. */
export function flatten(args: LayerArgs = {}): Flatten {
  return new Flatten(args);
}
/** Creates a {@link Reshape} layer. */
export function reshape(args: ReshapeArgs): Reshape {
  return new Reshape(args);
}
/** Creates an {@link Activation} layer. */
export function activation(args: ActivationArgs): Activation {
  return new Activation(args);
}
/** Creates an {@link Add} layer; call it on a list: `layers.add().apply([a, b])`. */
export function add(args: LayerArgs = {}): Add {
  return new Add(args);
}
/** Creates a {@link Concatenate} layer; call it on a list. */
export function concatenate(args: ConcatenateArgs = {}): Concatenate {
  return new Concatenate(args);
}

