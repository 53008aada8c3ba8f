/**
 * Streaming evaluation metrics (tf.metrics / Keras metrics names). Each returns a {@link MetricOp} to put
 * in `EstimatorSpec.evalMetricOps`; the runtime accumulates a few sums over all evaluation batches (total and
 * count, or a confusion matrix) and reports the metric of the whole evaluation (`../exec/metrics.ts`).
 */
import type { MetricSpec } from '../graph.ts';
import { UserError } from '../errors.ts';
import { SymbolicTensor, scopeOf } from '../symbolic.ts';
import { isClassIdsFor as isClassIds } from './losses.ts';

/** A metric of the traced graph. */
export interface MetricOp {
  readonly kind: 'metric';
  readonly spec: MetricSpec;
}

function check(name: string, xs: unknown[]): SymbolicTensor[] {
  if (!xs.every((x) => x instanceof SymbolicTensor)) throw new UserError(`metrics.${name}: arguments must be tensors of modelFn`);
  const ts = xs as SymbolicTensor[];
  scopeOf(ts, `metrics.${name}`);
  return ts;
}


/**
 * Accuracy. With `[batch, …]`/`[batch, …, 1]` class ids and `[batch, …, classes]` predictions, the argmax of the
 * predictions is compared to the labels at every position (Keras sparse_categorical_accuracy; e.g. next-token
 * accuracy); with equal shapes, float
 * predictions are thresholded at 0.5 (binary accuracy) and int predictions compared for equality.
 * @throws UserError for other shape combinations.
 */
export function accuracy(labels: SymbolicTensor, predictions: SymbolicTensor): MetricOp {
  const [l, p] = check('accuracy', [labels, predictions]);
  if (!(isClassIds(l, p) || l.toString() === p.toString())) {
    throw new UserError(`metrics.accuracy: labels ${l} and predictions ${p} must have equal shapes, or be [batch, …] class ids and [batch, …, classes] scores`);
  }
  return { kind: 'metric', spec: { op: 'accuracy', inputs: [l.id, p.id] } };
}

/** Top-k accuracy of `[batch, …, classes]` scores against `[batch, …]` class ids (Keras sparse_top_k_categorical_accuracy). */
export function topKAccuracy(labels: SymbolicTensor, predictions: SymbolicTensor, k = 5): MetricOp {
  const [l, p] = check('topKAccuracy', [labels, predictions]);
  if (!isClassIds(l, p)) throw new UserError(`metrics.topKAccuracy: expects [batch, …] class ids and [batch, …, classes] scores, got ${l} and ${p}`);
  const classes = p.shape[p.rank - 1] as number;
  if (!Number.isInteger(k) || k < 1 || k > classes) throw new UserError(`metrics.topKAccuracy: k must be in [1, ${classes}], got ${k}`);
  return { kind: 'metric', spec: { op: 'topKAccuracy', inputs: [l.id, p.id], k } };
}

/** Mean of all elements of a tensor over the evaluation (tf.metrics.mean). */
export function mean(values: SymbolicTensor): MetricOp {
  const [v] = check('mean', [values]);
  return { kind: 'metric', spec: { op: 'mean', inputs: [v.id] } };
}

/** Mean squared error over all elements (tf.metrics.mean_squared_error). Equal shapes required. */
export function meanSquaredError(labels: SymbolicTensor, predictions: SymbolicTensor): MetricOp {
  const [l, p] = check('meanSquaredError', [labels, predictions]);
  if (l.toString() !== p.toString()) throw new UserError(`metrics.meanSquaredError: labels ${l} and predictions ${p} must have the same shape`);
  return { kind: 'metric', spec: { op: 'meanSquaredError', inputs: [l.id, p.id] } };
}

/**
 * Perplexity of `[batch, …, classes]` logits against `[batch, …]` class ids: e^(mean over every position of
 * −log softmax(logits)[label]), the mean taken over the whole evaluation (e.g. a language model's tokens).
 * @throws UserError for other shapes.
 */
export function perplexity(labels: SymbolicTensor, logits: SymbolicTensor): MetricOp {
  const [l, p] = check('perplexity', [labels, logits]);
  if (!isClassIds(l, p)) throw new UserError(`metrics.perplexity: expects [batch, …] class ids and [batch, …, classes] logits, got ${l} and ${p}`);
  return { kind: 'metric', spec: { op: 'perplexity', inputs: [l.id, p.id] } };
}

/** A binary segmentation metric: labels and probabilities of equal shapes. */
function binaryMask(op: 'meanIou' | 'dice' | 'meanPerClassAccuracy', labels: SymbolicTensor, predictions: SymbolicTensor): MetricOp {
  const [l, p] = check(op, [labels, predictions]);
  if (l.toString() !== p.toString()) throw new UserError(`metrics.${op}: labels ${l} and predictions ${p} must have the same shape (a binary mask and its foreground probabilities)`);
  return { kind: 'metric', spec: { op, inputs: [l.id, p.id] } };
}

/**
 * Mean intersection-over-union of a binary segmentation (tf.metrics.mean_iou with 2 classes; modelzoo UNet
 * "mIOU"): labels in {0, 1} and foreground probabilities, both thresholded at 0.5; IoU per class from the
 * confusion matrix of the whole evaluation, averaged over the classes present.
 * @throws UserError when the shapes differ.
 */
export function meanIou(labels: SymbolicTensor, predictions: SymbolicTensor): MetricOp {
  return binaryMask('meanIou', labels, predictions);
}

/**
 * Dice coefficient (Sørensen–Dice, F1) of the foreground of a binary segmentation (modelzoo UNet "DSC"):
 * 2·TP / (2·TP + FP + FN) over the whole evaluation, masks thresholded at 0.5.
 * @throws UserError when the shapes differ.
 */
export function dice(labels: SymbolicTensor, predictions: SymbolicTensor): MetricOp {
  return binaryMask('dice', labels, predictions);
}

/**
 * Mean per-class accuracy of a binary segmentation (tf.metrics.mean_per_class_accuracy; modelzoo UNet "MPCA"):
 * the mean over the two classes of the fraction of that class's pixels predicted as it (masks thresholded at 0.5).
 * @throws UserError when the shapes differ.
 */
export function meanPerClassAccuracy(labels: SymbolicTensor, predictions: SymbolicTensor): MetricOp {
  return binaryMask('meanPerClassAccuracy', labels, predictions);
}
