/**
 * The MNIST CNN of the ElasticDL model zoo (mnist_functional_api.py), as a tf.estimator modelFn:
 * conv 32 3×3 relu → conv 64 3×3 relu → batch norm → max-pool 2 → dropout → flatten → dense 10.
 * 111,242 parameters (Keras count). Features: `image` `[batch, 28, 28, 1]` in [0, 1]; labels `[batch]` int32.
 */
import { layers, losses, metrics, optimizers, ModeKeys, type ModelFn } from 'csrun';

export const modelFn: ModelFn = (features, labels, mode, params) => {
  const dropoutRate = (params.model.dropout_rate as number | undefined) ?? 0.25;
  let x = layers.conv2d({ filters: 32, kernelSize: 3, activation: 'relu' }).apply(features.image);
  x = layers.conv2d({ filters: 64, kernelSize: 3, activation: 'relu' }).apply(x);
  x = layers.batchNormalization().apply(x);
  x = layers.maxPooling2d({ poolSize: 2 }).apply(x);
  x = layers.dropout({ rate: dropoutRate }).apply(x);
  const logits = layers.dense({ units: 10 }).apply(layers.flatten().apply(x));
  if (mode === ModeKeys.PREDICT) return { mode, predictions: { logits } };

  const loss = losses.sparseSoftmaxCrossEntropy(labels!, logits);
  return {
    mode,
    loss,
    trainOp: optimizers.fromParams(params.optimizer).minimize(loss),
    evalMetricOps: { accuracy: metrics.accuracy(labels!, logits) },
  };
};
