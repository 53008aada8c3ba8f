/**
 * Cerebras modelzoo fc_mnist: a fully connected network on flattened MNIST images,
 * hidden layers `model.hidden_sizes` (default [500, 300]) with `model.activation_fn` and dropout
 * `model.dropout` after each, then dense 10. Features: `image` `[batch, 784]`; labels `[batch]` int32.
 */
import { layers, losses, metrics, optimizers, ModeKeys, type ModelFn } from 'csrun';

export const modelFn: ModelFn = (features, labels, mode, params) => {
  const hiddenSizes = (params.model.hidden_sizes as number[] | undefined) ?? [500, 300];
  const activation = (params.model.activation_fn as string | undefined) ?? 'relu';
  const dropout = (params.model.dropout as number | undefined) ?? 0.2;
  let x = features.image;
  for (const units of hiddenSizes) {
    x = layers.dense({ units, activation }).apply(x);
    if (dropout > 0) x = layers.dropout({ rate: dropout }).apply(x);
  }
  const logits = layers.dense({ units: 10 }).apply(x);
  if (mode === ModeKeys.PREDICT) return { mode, predictions: { logits } };

  const loss = losses.sparseSoftmaxCrossEntropy(labels!, logits);
  return {
    mode,
    loss,
    trainOp: optimizers.fromParams(params.optimizer).minimize(loss),
    evalMetricOps: { accuracy: metrics.accuracy(labels!, logits) },
  };
};
