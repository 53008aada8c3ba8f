/**
 * Pooling layers (Keras `MaxPooling2D`, `AveragePooling2D`, `GlobalAveragePooling2D`) and `UpSampling2D` over `[batch, h, w, c]`,
 * or `[batch, c, h, w]` with `dataFormat: 'channelsFirst'` (see {@link Layer}'s dataFormat).
 */
import type { SymbolicTensor } from '../symbolic.ts';
import { Layer, dataFormatArg, paddingArg, pair, type DataFormat, type LayerArgs, type LayerSpec } from './base.ts';
import { convOutSize } from './conv2d.ts';

/** Keras pooling arguments. */
export interface Pooling2DArgs extends LayerArgs {
  /** Window [ph, pw]; default 2. */
  poolSize?: number | [number, number];
  /** Default: poolSize. */
  strides?: number | [number, number];
  /** 'valid' (default) or 'same'. */
  padding?: 'valid' | 'same';
  /** 'channelsLast' (default) or 'channelsFirst'. */
  dataFormat?: DataFormat;
}

/** Keras GlobalAveragePooling2D arguments. */
export interface GlobalPooling2DArgs extends LayerArgs {
  /** 'channelsLast' (default): `[batch, h, w, c]`; 'channelsFirst': `[batch, c, h, w]`; the output is `[batch, c]` either way. */
  dataFormat?: DataFormat;
}

abstract class Pooling2D extends Layer {
  protected abstract readonly op: 'maxPooling2d' | 'averagePooling2d';
  constructor(override readonly args: Pooling2DArgs = {}) {
    super(args);
  }
  protected spec([x]: SymbolicTensor[]): LayerSpec<'maxPooling2d' | 'averagePooling2d'> {
    const name = this.label();
    this.expectRank(x, 4, '[batch, h, w, c]');
    const [h, w, c] = this.staticDims(x);
    const poolSize = pair(name, 'poolSize', this.args.poolSize, 2);
    const strides = this.args.strides === undefined ? poolSize : pair(name, 'strides', this.args.strides, 1);
    const padding = paddingArg(name, this.args.padding);
    const ho = convOutSize(h, poolSize[0], strides[0], 1, padding);
    const wo = convOutSize(w, poolSize[1], strides[1], 1, padding);
    if (ho <= 0 || wo <= 0) this.fail(`pool ${poolSize.join('x')} with 'valid' padding does not fit input ${x}`);
    return { op: this.op, attrs: { poolSize, strides, padding }, out: { shape: [x.shape[0], ho, wo, c], dtype: 'float32' }, weights: [] };
  }
}

/** Max pooling. `[batch, h, w, c]` → `[batch, ho, wo, c]` (channelsFirst: `[batch, c, h, w]` → `[batch, c, ho, wo]`). */
export class MaxPooling2D extends Pooling2D {
  readonly className = 'MaxPooling2D';
  readonly baseName = 'max_pooling2d';
  protected readonly op = 'maxPooling2d';
  constructor(args: Pooling2DArgs = {}) {
    super(args);
    this.dataFormat = dataFormatArg(this.label(), args.dataFormat); // after the subclass fields (className) exist
  }
}

/** Average pooling ('same' padding averages over the valid elements only, as TensorFlow). */
export class AveragePooling2D extends Pooling2D {
  readonly className = 'AveragePooling2D';
  readonly baseName = 'average_pooling2d';
  protected readonly op = 'averagePooling2d';
  constructor(args: Pooling2DArgs = {}) {
    super(args);
    this.dataFormat = dataFormatArg(this.label(), args.dataFormat); // after the subclass fields (className) exist
  }
}

/** Mean over h and w. `[batch, h, w, c]` (channelsFirst: `[batch, c, h, w]`) → `[batch, c]`. */
export class GlobalAveragePooling2D extends Layer {
  readonly className = 'GlobalAveragePooling2D';
  readonly baseName = 'global_average_pooling2d';
  constructor(override readonly args: GlobalPooling2DArgs = {}) {
    super(args);
    this.dataFormat = dataFormatArg(this.label(), args.dataFormat);
  }
  protected spec([x]: SymbolicTensor[]): LayerSpec<'globalAveragePooling2d'> {
    this.expectRank(x, 4, '[batch, h, w, c]');
    const [, , c] = this.staticDims(x);
    return { op: 'globalAveragePooling2d', attrs: {}, out: { shape: [x.shape[0], c], dtype: 'float32' }, weights: [] };
  }
}

/** Creates a {@link MaxPooling2D} layer. */
export function maxPooling2d(args: Pooling2DArgs = {}): MaxPooling2D {
  return new MaxPooling2D(args);
}
/** Creates an {@link AveragePooling2D} layer. */
export function averagePooling2d(args: Pooling2DArgs = {}): AveragePooling2D {
  return new AveragePooling2D(args);
}
/** Creates a {@link GlobalAveragePooling2D} layer. */
export function globalAveragePooling2d(args: GlobalPooling2DArgs = {}): GlobalAveragePooling2D {
  return new GlobalAveragePooling2D(args);
}

/** Keras UpSampling2D arguments. */
export interface UpSampling2DArgs extends LayerArgs {
  /** Upsampling factors [rows, cols] (an int means both); default 2. */
  size?: number | [number, number];
  /** Only 'nearest' (the Keras default). */
  interpolation?: 'nearest';
  /** 'channelsLast' (default) or 'channelsFirst' (`[batch, c, h, w]` → `[batch, c, h·size[0], w·size[1]]`). */
  dataFormat?: DataFormat;
}

/**
 * Nearest-neighbour upsampling (Keras `UpSampling2D`): `[batch, h, w, c]` → `[batch, h·size[0], w·size[1], c]`,
 * each pixel repeated size[0] × size[1] times. No weights. Kernel in `../kernels/upSampling2d.ts`.
 */
export class UpSampling2D extends Layer {
  readonly className = 'UpSampling2D';
  readonly baseName = 'up_sampling2d';
  constructor(override readonly args: UpSampling2DArgs = {}) {
    super(args);
    if ((args.interpolation ?? 'nearest') !== 'nearest') this.fail(`interpolation '${args.interpolation}' is not supported (csrun has 'nearest')`);
    this.dataFormat = dataFormatArg(this.label(), args.dataFormat);
  }
  protected spec([x]: SymbolicTensor[]): LayerSpec<'upSampling2d'> {
    this.expectRank(x, 4, '[batch, h, w, c]');
    const [h, w, c] = this.staticDims(x);
    const size = pair(this.label(), 'size', this.args.size ?? 2, 1);
    return { op: 'upSampling2d', attrs: { size }, out: { shape: [x.shape[0], h * size[0], w * size[1], c], dtype: x.dtype }, weights: [] };
  }
}

/** Creates an {@link UpSampling2D} layer. */
export function upSampling2d(args: UpSampling2DArgs = {}): UpSampling2D {
  return new UpSampling2D(args);
}
