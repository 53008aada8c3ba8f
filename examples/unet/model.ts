/**
 * The Cerebras modelzoo UNet (TF, `modelzoo/unet/tf`) as a tf.estimator modelFn, built from its params under
 * the upstream names (README.md lists the keys).
 *
 * Network, for images `[batch, H, W, C]` (channels_last) or `[batch, C, H, W]` (channels_first):
 *   encoder: for each of `encoder_filters` but the last, a block (the `convs_per_block` convolutions, "same"
 *   padding, `nonlinearity`), kept as a skip connection, then 2×2 max-pooling (`downscale_method: max_pool`);
 *   bottleneck: a block with the last of `encoder_filters`;
 *   decoder: for each of `decoder_filters`, Conv2DTranspose(kernel 2, strides 2, "same"), concatenated with the
 *   encoder's output at that resolution (`skip_connect`), then a block;
 *   output: a 1×1 convolution to one channel (binary segmentation: `num_classes: 2`), the logits of the
 *   foreground. Loss: sigmoid cross-entropy over every pixel. Eval metrics (modelzoo names): mIOU, DSC, MPCA, Acc.
 *
 * channels_first: every layer gets `dataFormat: 'channelsFirst'` and the skip concatenation joins axis 1, as the
 * modelzoo's Keras layers do; images, logits and masks are `[batch, 1, H, W]`. The layers trace their own layout
 * transposes around csrun's channels-last kernels, so the numerics are those of the channels-last network on the
 * transposed input, and the compiler, which lowers the transposes as free layout, gives the same plan.
 * PREDICT: `probabilities` (sigmoid of the logits), in the image's layout.
 */
import { initializers, layers, losses, metrics, optimizers, ModeKeys, UserError, type ModelFn, type Params, type SymbolicTensor } from 'csrun';

/** Supported entries of `convs_per_block` and their kernel sizes. */
export const CONV_KINDS: Record<string, number> = { '3x3_conv': 3, '1x1_conv': 1 };

/** The model and input sections as typed values, with the modelzoo defaults. @throws UserError for unsupported values. */
export function unetConfig(params: Params) {
  const m = params.model as Record<string, unknown>;
  const input = params.train_input as Record<string, unknown>;
  const ints = (k: string): number[] => {
    const v = m[k];
    if (!Array.isArray(v) || !v.length || !v.every((x) => Number.isInteger(x) && x > 0)) throw new UserError(`model.${k} must be a list of positive integers, got ${JSON.stringify(v)}`);
    return v as number[];
  };
  const encoderFilters = ints('encoder_filters');
  const decoderFilters = ints('decoder_filters');
  if (encoderFilters.length !== decoderFilters.length + 1) {
    throw new UserError(`model.encoder_filters has ${encoderFilters.length} entries and model.decoder_filters ${decoderFilters.length}: the encoder needs exactly one more (its last entry is the bottleneck)`);
  }
  const convs = (m.convs_per_block ?? ['3x3_conv', '3x3_conv']) as unknown[];
  if (!Array.isArray(convs) || !convs.length) throw new UserError(`model.convs_per_block must be a non-empty list, got ${JSON.stringify(m.convs_per_block)}`);
  for (const c of convs) {
    if (typeof c !== 'string' || !(c in CONV_KINDS)) throw new UserError(`model.convs_per_block: unknown entry ${JSON.stringify(c)}; supported: ${Object.keys(CONV_KINDS).join(', ')}`);
  }
  const shape = input.image_shape as number[];
  if (!Array.isArray(shape) || shape.length !== 3 || !shape.every((x) => Number.isInteger(x) && x > 0)) throw new UserError(`train_input.image_shape must be [height, width, channels], got ${JSON.stringify(input.image_shape)}`);
  const divisor = 2 ** decoderFilters.length;
  if (shape[0] % divisor || shape[1] % divisor) {
    throw new UserError(`train_input.image_shape ${JSON.stringify(shape)}: height and width must be divisible by ${divisor} (2^${decoderFilters.length}, one halving per max-pooling)`);
  }
  const numClasses = input.num_classes ?? 2;
  if (numClasses !== 2) throw new UserError(`train_input.num_classes ${JSON.stringify(numClasses)}: the modelzoo UNet does binary segmentation only (num_classes: 2, one foreground logit per pixel)`);
  const dataFormat = (m.data_format ?? 'channels_last') as string;
  if (dataFormat !== 'channels_last' && dataFormat !== 'channels_first') throw new UserError(`model.data_format must be channels_last or channels_first, got ${JSON.stringify(m.data_format)}`);
  const downscale = (m.downscale_method ?? 'max_pool') as string;
  if (downscale !== 'max_pool') throw new UserError(`model.downscale_method ${JSON.stringify(downscale)} is not supported (csrun implements max_pool)`);
  const bool = (k: string, dflt: boolean) => {
    const v = m[k] ?? dflt;
    if (typeof v !== 'boolean') throw new UserError(`model.${k} must be true or false, got ${JSON.stringify(v)}`);
    return v;
  };
  return {
    encoderFilters, decoderFilters, convs: convs as string[], shape, dataFormat,
    skipConnect: bool('skip_connect', true),
    enableBias: bool('enable_bias', true),
    nonlinearity: (m.nonlinearity ?? 'relu') as string,
    initializer: initializers.fromParams(m.initializer, 'model.initializer', 'glorotUniform'),
    biasInitializer: initializers.fromParams(m.bias_initializer, 'model.bias_initializer', 'zeros'),
  };
}

export const modelFn: ModelFn = (features, labels, mode, params) => {
  const c = unetConfig(params);
  const image = features.image;
  if (!image) throw new UserError(`examples/unet: the input pipeline must yield features.image, got features ${Object.keys(features).join(', ') || '(none)'}`);
  const dataFormat = c.dataFormat === 'channels_first' ? 'channelsFirst' : 'channelsLast';
  const conv = (filters: number, k: number, activation: string | null) =>
    layers.conv2d({ filters, kernelSize: k, padding: 'same', activation, useBias: c.enableBias, kernelInitializer: c.initializer, biasInitializer: c.biasInitializer, dataFormat });
  const block = (x: SymbolicTensor, filters: number) => c.convs.reduce((h, kind) => conv(filters, CONV_KINDS[kind], c.nonlinearity).apply(h), x);

  let x = image;
  const skips: SymbolicTensor[] = [];
  for (const f of c.encoderFilters.slice(0, -1)) {
    x = block(x, f);
    skips.push(x);
    x = layers.maxPooling2d({ poolSize: 2, strides: 2, dataFormat }).apply(x);
  }
  x = block(x, c.encoderFilters.at(-1)!);
  c.decoderFilters.forEach((f, i) => {
    x = layers.conv2dTranspose({ filters: f, kernelSize: 2, strides: 2, padding: 'same', useBias: c.enableBias, kernelInitializer: c.initializer, biasInitializer: c.biasInitializer, dataFormat }).apply(x);
    if (c.skipConnect) x = layers.concatenate({ axis: dataFormat === 'channelsFirst' ? 1 : -1 }).apply([x, skips[skips.length - 1 - i]]);
    x = block(x, f);
  });
  const logits = conv(1, 1, null).apply(x);
  const probabilities = layers.activation({ activation: 'sigmoid' }).apply(logits);
  if (mode === ModeKeys.PREDICT) return { mode, predictions: { probabilities } };

  if (labels!.toString() !== logits.toString()) throw new UserError(`examples/unet: the mask ${labels} does not match the image's logits ${logits}: masks must have the image's height and width and one channel, in the same data_format`);
  const loss = losses.sigmoidCrossEntropy(labels!, logits);
  const all: Record<string, (l: SymbolicTensor, p: SymbolicTensor) => ReturnType<typeof metrics.dice>> = {
    mIOU: metrics.meanIou, DSC: metrics.dice, MPCA: metrics.meanPerClassAccuracy, Acc: metrics.accuracy,
  };
  const names = ((params.model as Record<string, unknown>).eval_metrics ?? Object.keys(all)) as string[];
  const evalMetricOps: Record<string, ReturnType<typeof metrics.dice>> = {};
  for (const n of names) {
    if (!(n in all)) throw new UserError(`model.eval_metrics: unknown metric ${JSON.stringify(n)}; supported: ${Object.keys(all).join(', ')}`);
    evalMetricOps[n] = all[n](labels!, probabilities);
  }
  return { mode, loss, trainOp: optimizers.fromParams(params.optimizer).minimize(loss), evalMetricOps };
};
