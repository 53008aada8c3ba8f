/**
 * The MNIST CNN written in the ElasticDL model-file convention (mnist_functional_api.py): the module
 * exports a Keras `model`, `loss(labels, predictions)`, `optimizer()` and `evalMetricsFn()`; csrun adapts
 * them onto the modelFn contract. The input pipeline is `datasetFn` in data.ts.
 */
import { layers, losses, metrics, optimizers, Model } from 'csrun';
import type { SymbolicTensor } from 'csrun';

const inputs = layers.input({ shape: [28, 28], name: 'image' });
let x = layers.reshape({ targetShape: [28, 28, 1] }).apply(inputs);
x = layers.conv2d({ filters: 32, kernelSize: [3, 3], activation: 'relu' }).apply(x);
x = layers.conv2d({ filters: 64, kernelSize: [3, 3], activation: 'relu' }).apply(x);
x = layers.batchNormalization().apply(x);
x = layers.maxPooling2d({ poolSize: [2, 2] }).apply(x);
x = layers.dropout({ rate: 0.25 }).apply(x);
x = layers.flatten().apply(x);
const outputs = layers.dense({ units: 10 }).apply(x);

export const model = new Model({ inputs, outputs, name: 'mnist_model' });

export function loss(labels: SymbolicTensor, predictions: SymbolicTensor): SymbolicTensor {
  return losses.sparseSoftmaxCrossEntropy(labels, predictions);
}

export function optimizer(lr = 0.001) {
  return optimizers.adam({ learningRate: lr });
}

export function evalMetricsFn() {
  return {
    accuracy: (labels: SymbolicTensor, predictions: SymbolicTensor) => metrics.accuracy(labels, predictions),
  };
}
