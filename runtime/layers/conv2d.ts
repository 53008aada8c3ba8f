/**
 * `Conv2D` and `Conv2DTranspose` (Keras / tfjs-layers `layers.conv2d`, `layers.conv2dTranspose`) over `[batch, h, w, c]`
 * (or `[batch, c, h, w]` with `dataFormat: 'channelsFirst'`), bias and activation fused.
 */
import type { SymbolicTensor } from '../symbolic.ts';
import { Layer, activationArg, dataFormatArg, paddingArg, pair, regularizerArg, type DataFormat, type InitializerArg, type LayerArgs, type LayerSpec, type RegularizerArg } from './base.ts';

/** Keras Conv2D arguments. */
export interface Conv2DArgs extends LayerArgs {
  /** Output channels K. */
  filters: number;
  /** Kernel [kh, kw] (an int means square). */
  kernelSize: number | [number, number];
  /** Stride [sh, sw]; default 1. */
  strides?: number | [number, number];
  /** 'valid' (default) or 'same'. */
  padding?: 'valid' | 'same';
  /** Dilation [dh, dw]; default 1 (strides and dilation > 1 cannot be combined, as in Keras). */
  dilationRate?: number | [number, number];
  activation?: string | null;
  /** Default true. */
  useBias?: boolean;
  /** Default glorotUniform. */
  kernelInitializer?: InitializerArg;
  /** Default zeros. */
  biasInitializer?: InitializerArg;
  kernelRegularizer?: RegularizerArg | null;
  /** 'channelsLast' (default): input `[batch, h, w, c]`; 'channelsFirst': `[batch, c, h, w]`, output likewise (see {@link Layer}'s dataFormat). */
  dataFormat?: DataFormat;
}

/**
 * Output size of a convolution or pooling window along one axis (TensorFlow's rule).
 * 'valid': ⌊(n − d·(k − 1) − 1) / s⌋ + 1; 'same': ⌈n / s⌉.
 */
export function convOutSize(n: number, k: number, s: number, d: number, padding: 'valid' | 'same'): number {
  return padding === 'same' ? Math.ceil(n / s) : Math.floor((n - d * (k - 1) - 1) / s) + 1;
}

/**
 * 2-D convolution layer. Input `[batch, h, w, c]` → `[batch, ho, wo, filters]` (channelsFirst: `[batch, c, h, w]` →
 * `[batch, filters, ho, wo]`); weights kernel `[kh, kw, c, filters]` (both formats, as Keras), bias `[filters]`.
 */
export class Conv2D extends Layer {
  readonly className = 'Conv2D';
  readonly baseName = 'conv2d';
  constructor(override readonly args: Conv2DArgs) {
    super(args);
    if (!Number.isInteger(args?.filters) || args.filters <= 0) this.fail(`filters must be a positive integer, got ${JSON.stringify(args?.filters)}`);
    activationArg(this.label(), args.activation);
    this.dataFormat = dataFormatArg(this.label(), args.dataFormat);
  }

  protected spec([x]: SymbolicTensor[]): LayerSpec<'conv2d'> {
    const name = this.label();
    this.expectRank(x, 4, '[batch, h, w, c]');
    const [h, w, c] = this.staticDims(x);
    const kernelSize = pair(name, 'kernelSize', this.args.kernelSize, 1);
    const strides = pair(name, 'strides', this.args.strides, 1);
    const dilationRate = pair(name, 'dilationRate', this.args.dilationRate, 1);
    const padding = paddingArg(name, this.args.padding);
    if ((strides[0] > 1 || strides[1] > 1) && (dilationRate[0] > 1 || dilationRate[1] > 1)) this.fail('strides > 1 cannot be combined with dilationRate > 1');
    const ho = convOutSize(h, kernelSize[0], strides[0], dilationRate[0], padding);
    const wo = convOutSize(w, kernelSize[1], strides[1], dilationRate[1], padding);
    if (ho <= 0 || wo <= 0) this.fail(`kernel ${kernelSize.join('x')} (dilation ${dilationRate.join('x')}) with 'valid' padding does not fit input ${x}`);
    const useBias = this.args.useBias ?? true;
    const reg = regularizerArg(name, this.args.kernelRegularizer);
    return {
      op: 'conv2d',
      attrs: { filters: this.args.filters, kernelSize, strides, padding, dilationRate, activation: activationArg(name, this.args.activation), useBias },
      out: { shape: [x.shape[0], ho, wo, this.args.filters], dtype: 'float32' },
      weights: [
        { weight: 'kernel', shape: [kernelSize[0], kernelSize[1], c, this.args.filters], init: this.args.kernelInitializer ?? 'glorotUniform', regularizer: reg },
        ...(useBias ? [{ weight: 'bias', shape: [this.args.filters], init: this.args.biasInitializer ?? 'zeros' }] : []),
      ],
    };
  }
}

/** Creates a {@link Conv2D} layer. */
export function conv2d(args: Conv2DArgs): Conv2D {
  return new Conv2D(args);
}

/** Keras Conv2DTranspose arguments (no dilation or output padding). */
export interface Conv2DTransposeArgs extends LayerArgs {
  /** Output channels. */
  filters: number;
  /** Kernel [kh, kw] (an int means square). */
  kernelSize: number | [number, number];
  /** Stride [sh, sw] (the upsampling factor); default 1. */
  strides?: number | [number, number];
  /** 'valid' (default): out = (in − 1)·s + k; 'same': out = in·s. */
  padding?: 'valid' | 'same';
  activation?: string | null;
  /** Default true. */
  useBias?: boolean;
  /** Default glorotUniform (Keras fans of the `[kh, kw, filters, in]` kernel). */
  kernelInitializer?: InitializerArg;
  /** Default zeros. */
  biasInitializer?: InitializerArg;
  kernelRegularizer?: RegularizerArg | null;
  /** 'channelsLast' (default): input `[batch, h, w, c]`; 'channelsFirst': `[batch, c, h, w]`, output likewise (see {@link Layer}'s dataFormat). */
  dataFormat?: DataFormat;
}

/**
 * Transposed 2-D convolution (Keras `Conv2DTranspose`, e.g. UNet's 2×2 stride-2 upsampling). Input `[batch, h, w,
 * c]` → `[batch, ho, wo, filters]` (see {@link Conv2DTransposeArgs.padding}); weights kernel `[kh, kw, filters, c]`
 * (Keras layout, both formats), bias `[filters]`; channelsFirst: `[batch, c, h, w]` → `[batch, filters, ho, wo]`. Kernel in
 * `../kernels/conv2dTranspose.ts`.
 */
export class Conv2DTranspose extends Layer {
  readonly className = 'Conv2DTranspose';
  readonly baseName = 'conv2d_transpose';
  constructor(override readonly args: Conv2DTransposeArgs) {
    super(args);
    if (!Number.isInteger(args?.filters) || args.filters <= 0) this.fail(`filters must be a positive integer, got ${JSON.stringify(args?.filters)}`);
    activationArg(this.label(), args.activation);
    this.dataFormat = dataFormatArg(this.label(), args.dataFormat);
  }

  protected spec([x]: SymbolicTensor[]): LayerSpec<'conv2dTranspose'> {
    const name = this.label();
    this.expectRank(x, 4, '[batch, h, w, c]');
    const [h, w, c] = this.staticDims(x);
    const kernelSize = pair(name, 'kernelSize', this.args.kernelSize, 1);
    const strides = pair(name, 'strides', this.args.strides, 1);
    const padding = paddingArg(name, this.args.padding);
    const out = (n: number, i: 0 | 1) => (padding === 'same' ? n * strides[i] : (n - 1) * strides[i] + kernelSize[i]);
    const useBias = this.args.useBias ?? true;
    return {
      op: 'conv2dTranspose',
      attrs: { filters: this.args.filters, kernelSize, strides, padding, activation: activationArg(name, this.args.activation), useBias },
      out: { shape: [x.shape[0], out(h, 0), out(w, 1), this.args.filters], dtype: 'float32' },
      weights: [
        { weight: 'kernel', shape: [kernelSize[0], kernelSize[1], this.args.filters, c], init: this.args.kernelInitializer ?? 'glorotUniform', regularizer: regularizerArg(name, this.args.kernelRegularizer) },
        ...(useBias ? [{ weight: 'bias', shape: [this.args.filters], init: this.args.biasInitializer ?? 'zeros' }] : []),
      ],
    };
  }
}

/** Creates a {@link Conv2DTranspose} layer. */
export function conv2dTranspose(args: Conv2DTransposeArgs): Conv2DTranspose {
  return new Conv2DTranspose(args);
}
