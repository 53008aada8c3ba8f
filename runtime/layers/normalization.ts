/** Keras `BatchNormalization` and `LayerNormalization` (last axis, channels-last). */
import type { SymbolicTensor } from '../symbolic.ts';
import { Layer, type InitializerArg, type LayerArgs, type LayerSpec } from './base.ts';

/** Keras BatchNormalization arguments (only `axis: -1`, the channels-last default). */
export interface BatchNormalizationArgs extends LayerArgs {
  axis?: -1;
  /** Moving-average momentum; Keras default 0.99. */
  momentum?: number;
  /** Keras default 1e-3. */
  epsilon?: number;
  /** Learn beta (default true). */
  center?: boolean;
  /** Learn gamma (default true). */
  scale?: boolean;
  gammaInitializer?: InitializerArg;
  betaInitializer?: InitializerArg;
  movingMeanInitializer?: InitializerArg;
  movingVarianceInitializer?: InitializerArg;
}

/**
 * Batch normalization over every axis but the last. Input `[batch, ..., c]` → same shape. Weights (Keras
 * order) gamma `[c]`, beta `[c]`, moving_mean `[c]`, moving_variance `[c]` (the moving ones not trainable).
 * In training it normalises with the batch statistics and updates the moving ones; otherwise it uses the
 * moving statistics.
 */
export class BatchNormalization extends Layer {
  readonly className = 'BatchNormalization';
  readonly baseName = 'batch_normalization';
  constructor(override readonly args: BatchNormalizationArgs = {}) {
    super(args);
    if (args.axis !== undefined && args.axis !== -1) this.fail(`only axis -1 (channels-last) is supported, got ${args.axis}`);
    const m = args.momentum ?? 0.99;
    if (!(m >= 0 && m <= 1)) this.fail(`momentum must be in [0, 1], got ${m}`);
    if (!((args.epsilon ?? 1e-3) > 0)) this.fail(`epsilon must be positive, got ${args.epsilon}`);
  }
  protected spec([x]: SymbolicTensor[], training: boolean): LayerSpec<'batchNormalization'> {
    if (x.rank < 2) this.fail(`expected input of rank ≥ 2 [batch, ..., channels], got shape ${x}`);
    const dims = this.staticDims(x);
    const c = dims[dims.length - 1];
    const center = this.args.center ?? true;
    const scale = this.args.scale ?? true;
    return {
      op: 'batchNormalization',
      attrs: { momentum: this.args.momentum ?? 0.99, epsilon: this.args.epsilon ?? 1e-3, center, scale, training },
      out: { shape: x.shape, dtype: 'float32' },
      weights: [
        ...(scale ? [{ weight: 'gamma', shape: [c], init: this.args.gammaInitializer ?? 'ones' }] : []),
        ...(center ? [{ weight: 'beta', shape: [c], init: this.args.betaInitializer ?? 'zeros' }] : []),
        { weight: 'moving_mean', shape: [c], init: this.args.movingMeanInitializer ?? 'zeros', trainable: false },
        { weight: 'moving_variance', shape: [c], init: this.args.movingVarianceInitializer ?? 'ones', trainable: false },
      ],
    };
  }
}

/** Keras LayerNormalization arguments (only `axis: -1`). */
export interface LayerNormalizationArgs extends LayerArgs {
  axis?: -1;
  /** Keras default 1e-3. */
  epsilon?: number;
  center?: boolean;
  scale?: boolean;
  gammaInitializer?: InitializerArg;
  betaInitializer?: InitializerArg;
}

/** Layer normalization over the last axis. Input `[batch, ..., c]` → same shape; weights gamma `[c]`, beta `[c]`. */
export class LayerNormalization extends Layer {
  readonly className = 'LayerNormalization';
  readonly baseName = 'layer_normalization';
  constructor(override readonly args: LayerNormalizationArgs = {}) {
    super(args);
    if (args.axis !== undefined && args.axis !== -1) this.fail(`only axis -1 (channels-last) is supported, got ${args.axis}`);
  }
  protected spec([x]: SymbolicTensor[]): LayerSpec<'layerNormalization'> {
    if (x.rank < 2) this.fail(`expected input of rank ≥ 2 [batch, ..., features], got shape ${x}`);
    const dims = this.staticDims(x);
    const c = dims[dims.length - 1];
    const center = this.args.center ?? true;
    const scale = this.args.scale ?? true;
    return {
      op: 'layerNormalization',
      attrs: { epsilon: this.args.epsilon ?? 1e-3, center, scale },
      out: { shape: x.shape, dtype: 'float32' },
      weights: [
        ...(scale ? [{ weight: 'gamma', shape: [c], init: this.args.gammaInitializer ?? 'ones' }] : []),
        ...(center ? [{ weight: 'beta', shape: [c], init: this.args.betaInitializer ?? 'zeros' }] : []),
      ],
    };
  }
}

/** Creates a {@link BatchNormalization} layer. */
export function batchNormalization(args: BatchNormalizationArgs = {}): BatchNormalization {
  return new BatchNormalization(args);
}
/** Creates a {@link LayerNormalization} layer. */
export function layerNormalization(args: LayerNormalizationArgs = {}): LayerNormalization {
  return new LayerNormalization(args);
}
