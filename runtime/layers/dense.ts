/** `Dense` (Keras / tfjs-layers `layers.dense`): fully connected layer on the last axis, bias and activation fused. */
import type { SymbolicTensor } from '../symbolic.ts';
import { Layer, activationArg, regularizerArg, type InitializerArg, type LayerArgs, type LayerSpec, type RegularizerArg } from './base.ts';

/** Keras Dense arguments. */
export interface DenseArgs extends LayerArgs {
  units: number;
  activation?: string | null;
  /** Default true. */
  useBias?: boolean;
  /** Default glorotUniform. */
  kernelInitializer?: InitializerArg;
  /** Default zeros. */
  biasInitializer?: InitializerArg;
  kernelRegularizer?: RegularizerArg | null;
}

/** Dense layer. Input `[batch, ..., in]` → `[batch, ..., units]`; weights kernel `[in, units]`, bias `[units]`. */
export class Dense extends Layer {
  readonly className = 'Dense';
  readonly baseName = 'dense';
  constructor(override readonly args: DenseArgs) {
    super(args);
    if (!Number.isInteger(args?.units) || args.units <= 0) this.fail(`units must be a positive integer, got ${JSON.stringify(args?.units)}`);
    activationArg(this.label(), args.activation);
  }

  protected spec([x]: SymbolicTensor[]): LayerSpec<'dense'> {
    const name = this.label();
    if (x.rank < 2) this.fail(`expected input of rank ≥ 2 [batch, ..., features], got shape ${x}`);
    const dims = this.staticDims(x);
    const inDim = dims[dims.length - 1];
    const useBias = this.args.useBias ?? true;
    return {
      op: 'dense',
      attrs: { units: this.args.units, activation: activationArg(name, this.args.activation), useBias },
      out: { shape: [...x.shape.slice(0, -1), this.args.units], dtype: 'float32' },
      weights: [
        { weight: 'kernel', shape: [inDim, this.args.units], init: this.args.kernelInitializer ?? 'glorotUniform', regularizer: regularizerArg(name, this.args.kernelRegularizer) },
        ...(useBias ? [{ weight: 'bias', shape: [this.args.units], init: this.args.biasInitializer ?? 'zeros' }] : []),
      ],
    };
  }
}

/** Creates a {@link Dense} layer. */
export function dense(args: DenseArgs): Dense {
  return new Dense(args);
}
