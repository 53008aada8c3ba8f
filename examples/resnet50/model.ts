/**
 * ResNet-50 (He et al. 2015, "Deep Residual Learning for Image Recognition"), with the layer structure of
 * Keras' `keras.applications.ResNet50` (v1: the stride of a projection block sits on its first 1 × 1
 * convolution; batch normalisation after every convolution): a 7 × 7 / 2 stem, a 3 × 3 / 2 max pool, four
 * stages of bottleneck blocks [3, 4, 6, 3] with filters [64, 256], [128, 512], [256, 1024], [512, 2048],
 * global average pooling and a dense classifier. 25.6 M parameters for 1000 classes (Keras count).
 *
 * Features: `image` `[batch, 224, 224, 3]`; labels `[batch]` int32 in [0, num_classes). The point of this
 * example is `csrun compile examples/resnet50`: it is large enough to fill a wafer.
 * Differences from Keras: the stem uses `padding: 'same'` instead of ZeroPadding2D(3) + 'valid' (same output
 * size, 112 × 112); the classifier returns logits (the softmax is in the loss).
 */
import { layers, losses, metrics, optimizers, regularizers, ModeKeys, type ModelFn, type SymbolicTensor } from 'csrun';

type Reg = ReturnType<typeof regularizers.l2> | null;

function convBn(x: SymbolicTensor, filters: number, kernelSize: number, strides: number, reg: Reg, relu: boolean): SymbolicTensor {
  x = layers.conv2d({ filters, kernelSize, strides, padding: 'same', useBias: false, kernelRegularizer: reg }).apply(x);
  x = layers.batchNormalization({ epsilon: 1.001e-5 }).apply(x);
  return relu ? layers.activation({ activation: 'relu' }).apply(x) : x;
}

/** Keras `identity_block`: 1×1 → 3×3 → 1×1 on the main path, the input as shortcut. */
function identityBlock(x: SymbolicTensor, f1: number, f2: number, reg: Reg): SymbolicTensor {
  let y = convBn(x, f1, 1, 1, reg, true);
  y = convBn(y, f1, 3, 1, reg, true);
  y = convBn(y, f2, 1, 1, reg, false);
  return layers.activation({ activation: 'relu' }).apply(layers.add().apply([x, y]));
}

/** Keras `conv_block`: like the identity block with a strided 1×1 projection shortcut. */
function convBlock(x: SymbolicTensor, f1: number, f2: number, strides: number, reg: Reg): SymbolicTensor {
  const shortcut = convBn(x, f2, 1, strides, reg, false);
  let y = convBn(x, f1, 1, strides, reg, true);
  y = convBn(y, f1, 3, 1, reg, true);
  y = convBn(y, f2, 1, 1, reg, false);
  return layers.activation({ activation: 'relu' }).apply(layers.add().apply([shortcut, y]));
}

export const modelFn: ModelFn = (features, labels, mode, params) => {
  const numClasses = (params.model.num_classes as number | undefined) ?? 1000;
  const weightDecay = (params.model.weight_decay as number | undefined) ?? 0;
  const reg: Reg = weightDecay > 0 ? regularizers.l2(weightDecay) : null;
  const stages = (params.model.blocks_per_stage as number[] | undefined) ?? [3, 4, 6, 3];

  let x = convBn(features.image, 64, 7, 2, reg, true);
  x = layers.maxPooling2d({ poolSize: 3, strides: 2, padding: 'same' }).apply(x);
  const filters: [number, number][] = [
    [64, 256],
    [128, 512],
    [256, 1024],
    [512, 2048],
  ];
  stages.forEach((blocks, s) => {
    const [f1, f2] = filters[s];
    x = convBlock(x, f1, f2, s === 0 ? 1 : 2, reg);
    for (let b = 1; b < blocks; b++) x = identityBlock(x, f1, f2, reg);
  });
  x = layers.globalAveragePooling2d().apply(x);
  const logits = layers.dense({ units: numClasses, kernelRegularizer: reg }).apply(x);
  if (mode === ModeKeys.PREDICT) return { mode, predictions: { logits } };

  const loss = losses.sparseSoftmaxCrossEntropy(labels!, logits);
  return {
    mode,
    loss,
    trainOp: optimizers.fromParams(params.optimizer).minimize(loss),
    evalMetricOps: { accuracy: metrics.accuracy(labels!, logits) },
  };
};
