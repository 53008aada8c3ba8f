/**
 * Losses (tf.losses names). Each records one loss node reducing to a scalar mean over the batch (and over
 * elements for element-wise losses), i.e. tf.losses' default SUM_BY_NONZERO_WEIGHTS with unit weights and
 * Keras' SUM_OVER_BATCH_SIZE.
 */
import type { OpAttrs } from '../graph.ts';
import { Layer, type LayerSpec } from '../layers/base.ts';
import { formatShape, type SymbolicTensor } from '../symbolic.ts';

/**
 * True when `labels` are class ids for `scores` `[batch, …, classes]`: shape `[batch, …]` (the scores' leading
 * axes) or `[batch, …, 1]`.
 */
export function isClassIdsFor(labels: SymbolicTensor, scores: SymbolicTensor): boolean {
  if (scores.rank < 2) return false;
  const lead = scores.shape.slice(0, -1);
  const same = (a: readonly (number | null)[]) => a.length === lead.length && a.every((d, i) => d === lead[i]);
  return same(labels.shape) || (labels.rank === scores.rank && labels.shape[labels.rank - 1] === 1 && same(labels.shape.slice(0, -1)));
}

type LossOp = 'sparseSoftmaxCrossEntropy' | 'softmaxCrossEntropy' | 'sigmoidCrossEntropy' | 'meanSquaredError';

class Loss<K extends LossOp> extends Layer {
  protected override readonly arity = 'many' as const;
  constructor(
    readonly className: string,
    readonly baseName: string,
    private readonly op: K,
    private readonly attrs: OpAttrs[K],
  ) {
    super({});
  }
  protected spec([labels, logits]: SymbolicTensor[]): LayerSpec<K> {
    if (this.op === 'sparseSoftmaxCrossEntropy') {
      if (logits.rank < 2) this.fail(`expected logits [batch, …, classes] of rank ≥ 2, got shape ${logits}`);
      if (!isClassIdsFor(labels, logits)) this.fail(`expected labels ${formatShape(logits.shape.slice(0, -1))} or ${formatShape([...logits.shape.slice(0, -1), 1])} of class ids for logits ${logits}, got shape ${labels}`);
      if (labels.dtype !== 'int32') this.fail(`expected int32 class-id labels, got ${labels.dtype} ${labels}`);
    } else {
      if (labels.toString() !== logits.toString()) this.fail(`labels ${labels} and ${this.op === 'meanSquaredError' ? 'predictions' : 'logits'} ${logits} must have the same shape`);
      if (labels.dtype !== 'float32') this.fail(`expected float32 labels, got ${labels.dtype}`);
      if (this.op === 'softmaxCrossEntropy' && logits.rank !== 2) this.fail(`expected logits of rank 2 [batch, classes], got shape ${logits}`);
    }
    return { op: this.op, attrs: this.attrs, out: { shape: [], dtype: 'float32' }, weights: [] };
  }
}

/**
 * Softmax cross-entropy with integer class labels (tf.losses.sparse_softmax_cross_entropy), the mean over
 * every position (e.g. every token of a language model).
 * @param labels int32 `[batch, …]` or `[batch, …, 1]` class ids.
 * @param logits `[batch, …, classes]` unnormalised scores.
 * @returns scalar mean loss.
 */
export function sparseSoftmaxCrossEntropy(labels: SymbolicTensor, logits: SymbolicTensor): SymbolicTensor {
  return new Loss('SparseSoftmaxCrossEntropy', 'sparse_softmax_cross_entropy', 'sparseSoftmaxCrossEntropy', {}).apply([labels, logits]);
}

/**
 * Softmax cross-entropy with probability labels (tf.losses.softmax_cross_entropy).
 * @param labels `[batch, classes]` probabilities (one-hot or soft).
 * @param logits `[batch, classes]`.
 * @param options.labelSmoothing labels become `labels·(1−s) + s/classes`.
 */
export function softmaxCrossEntropy(labels: SymbolicTensor, logits: SymbolicTensor, options: { labelSmoothing?: number } = {}): SymbolicTensor {
  return new Loss('SoftmaxCrossEntropy', 'softmax_cross_entropy', 'softmaxCrossEntropy', { labelSmoothing: options.labelSmoothing ?? 0 }).apply([labels, logits]);
}

/**
 * Element-wise sigmoid cross-entropy (tf.losses.sigmoid_cross_entropy), mean over all elements.
 * @param labels same shape as logits, values in [0, 1].
 */
export function sigmoidCrossEntropy(labels: SymbolicTensor, logits: SymbolicTensor): SymbolicTensor {
  return new Loss('SigmoidCrossEntropy', 'sigmoid_cross_entropy', 'sigmoidCrossEntropy', {}).apply([labels, logits]);
}

/** Mean squared error over all elements (tf.losses.mean_squared_error). Labels and predictions of equal shape. */
export function meanSquaredError(labels: SymbolicTensor, predictions: SymbolicTensor): SymbolicTensor {
  return new Loss('MeanSquaredError', 'mean_squared_error', 'meanSquaredError', {}).apply([labels, predictions]);
}
