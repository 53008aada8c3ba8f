/**
 * Streaming metrics of an evaluation step: one batch's contribution per metric of `graph.metrics`
 * ({@link MetricSpec}) as a few sums, computed on the host from the step's tensors; the executor sums them
 * over shards and the Estimator over batches, then {@link metricResult} turns the sums into the value (as
 * tf.metrics / Keras do: Σ total / Σ count for means, a confusion matrix for the segmentation metrics).
 */
import type * as tf from '@tensorflow/tfjs-core';
import type { MetricSpec } from '../graph.ts';
import { fmtShape } from '../kernels/util.ts';

/**
 * A streaming metric's contribution from one batch: `[total, count]` for the means (accuracy, topKAccuracy,
 * mean, meanSquaredError, perplexity); `[tp, fp, fn, tn]` (class 1 = foreground) for the binary segmentation
 * metrics meanIou, dice, meanPerClassAccuracy. Sums add over shards and batches.
 */
export interface MetricValue {
  sums: number[];
}

/** Number of sums of a metric's {@link MetricValue}. */
export function metricSize(spec: MetricSpec): number {
  return CONFUSION.has(spec.op) ? 4 : 2;
}

const CONFUSION = new Set<MetricSpec['op']>(['meanIou', 'dice', 'meanPerClassAccuracy']);

/**
 * The value of a metric from its summed {@link MetricValue}:
 * - means: total / count; perplexity: e^(Σ −log p(label) / tokens);
 * - meanIou (tf.metrics.mean_iou, 2 classes): ½ (tp / (tp + fp + fn) + tn / (tn + fn + fp));
 * - dice (Sørensen–Dice of the foreground, modelzoo UNet DSC): 2tp / (2tp + fp + fn);
 * - meanPerClassAccuracy (tf.metrics.mean_per_class_accuracy): ½ (tp / (tp + fn) + tn / (tn + fp)).
 * A class absent from both labels and predictions is left out of the means (as tf.metrics.mean_iou does);
 * an empty denominator gives 1 for dice (both masks empty: perfect agreement).
 */
export function metricResult(spec: MetricSpec, { sums }: MetricValue): number {
  const [a, b, c, d] = sums;
  const ratio = (n: number, den: number) => (den > 0 ? [n / den] : []);
  const mean = (xs: number[]) => xs.reduce((x, y) => x + y, 0) / xs.length;
  switch (spec.op) {
    case 'perplexity':
      return Math.exp(a / b);
    case 'meanIou':
      return mean([...ratio(a, a + b + c), ...ratio(d, d + c + b)]);
    case 'dice':
      return 2 * a + b + c > 0 ? (2 * a) / (2 * a + b + c) : 1;
    case 'meanPerClassAccuracy':
      return mean([...ratio(a, a + c), ...ratio(d, d + b)]);
    default:
      return a / b;
  }
}

function argmaxRows(data: ArrayLike<number>, rows: number, cols: number): Int32Array {
  const out = new Int32Array(rows);
  for (let r = 0; r < rows; r++) {
    let best = 0;
    let bv = -Infinity;
    for (let c = 0; c < cols; c++) {
      const v = data[r * cols + c];
      if (v > bv) {
        bv = v;
        best = c;
      }
    }
    out[r] = best;
  }
  return out;
}

/**
 * One batch's sums of a metric (see {@link MetricSpec}, {@link MetricValue}): accuracy (argmax of predictions against
 * integer labels when predictions have one more axis — or a trailing class axis against `[…, 1]` labels —,
 * else predictions thresholded at 0.5 against labels, element-wise), topKAccuracy (label among the k largest
 * logits; ties at the boundary count as hits, as TF `in_top_k`), mean (Σ values, element count),
 * meanSquaredError (Σ (p − y)², element count), perplexity (Σ −log softmax(logits)[label], token count),
 * meanIou / dice / meanPerClassAccuracy (confusion counts of labels > 0.5 against predictions > 0.5).
 * @throws Error naming the metric when its inputs are missing or their shapes disagree.
 */
export function computeMetric(name: string, spec: MetricSpec, values: Map<string, tf.Tensor>): MetricValue {
  const [total, count, ...rest] = metricSums(name, spec, values);
  return { sums: [total, count, ...rest] };
}

function metricSums(name: string, spec: MetricSpec, values: Map<string, tf.Tensor>): number[] {
  const get = (id: string) => {
    const t = values.get(id);
    if (!t) throw new Error(`metric '${name}': input '${id}' was not computed`);
    return t;
  };
  const mismatch = (a: tf.Tensor, b: tf.Tensor) =>
    new Error(`metric '${name}' (${spec.op}): labels ${fmtShape(a.shape)} do not match predictions ${fmtShape(b.shape)}`);
  switch (spec.op) {
    case 'mean': {
      const v = get(spec.inputs[0]).dataSync();
      let s = 0;
      for (let i = 0; i < v.length; i++) s += v[i];
      return [s, v.length];
    }
    case 'meanSquaredError': {
      const y = get(spec.inputs[0]);
      const p = get(spec.inputs[1]);
      if (y.size !== p.size) throw mismatch(y, p);
      const a = y.dataSync();
      const b = p.dataSync();
      let s = 0;
      for (let i = 0; i < a.length; i++) s += (b[i] - a[i]) ** 2;
      return [s, a.length];
    }
    case 'accuracy':
    case 'topKAccuracy': {
      const y = get(spec.inputs[0]);
      const p = get(spec.inputs[1]);
      const cols = p.shape[p.rank - 1] ?? 1;
      const sparse =
        p.rank === y.rank + 1 ||
        (p.rank === y.rank && y.shape[y.rank - 1] === 1 && cols > 1);
      if (spec.op === 'topKAccuracy' || sparse) {
        const rows = p.size / cols;
        if (y.size !== rows) throw mismatch(y, p);
        const lab = y.dataSync();
        const pd = p.dataSync();
        let hits = 0;
        if (spec.op === 'accuracy') {
          const am = argmaxRows(pd, rows, cols);
          for (let r = 0; r < rows; r++) if (am[r] === Math.trunc(lab[r])) hits++;
        } else {
          const k = spec.k ?? 5;
          for (let r = 0; r < rows; r++) {
            const l = Math.trunc(lab[r]);
            if (l < 0 || l >= cols) continue;
            const target = pd[r * cols + l];
            let greater = 0;
            for (let c = 0; c < cols; c++) if (pd[r * cols + c] > target) greater++;
            if (greater < k) hits++;
          }
        }
        return [hits, rows];
      }
      if (y.size !== p.size) throw mismatch(y, p);
      const a = y.dataSync();
      const b = p.dataSync();
      let hits = 0;
      for (let i = 0; i < a.length; i++) if ((b[i] > 0.5 ? 1 : 0) === (a[i] > 0.5 ? 1 : 0)) hits++;
      return [hits, a.length];
    }
    case 'perplexity': {
      const y = get(spec.inputs[0]);
      const p = get(spec.inputs[1]);
      const cols = p.shape[p.rank - 1]!;
      const rows = p.size / cols;
      if (y.size !== rows) throw mismatch(y, p);
      const lab = y.dataSync();
      const pd = p.dataSync();
      let nll = 0;
      for (let r = 0; r < rows; r++) {
        let mx = -Infinity;
        for (let k = 0; k < cols; k++) mx = Math.max(mx, pd[r * cols + k]);
        let z = 0;
        for (let k = 0; k < cols; k++) z += Math.exp(pd[r * cols + k] - mx);
        nll += mx + Math.log(z) - pd[r * cols + Math.trunc(lab[r])];
      }
      return [nll, rows];
    }
    case 'meanIou':
    case 'dice':
    case 'meanPerClassAccuracy': {
      const y = get(spec.inputs[0]);
      const p = get(spec.inputs[1]);
      if (y.size !== p.size) throw mismatch(y, p);
      const a = y.dataSync();
      const b = p.dataSync();
      const cm = [0, 0, 0, 0];
      for (let i = 0; i < a.length; i++) cm[a[i] > 0.5 ? (b[i] > 0.5 ? 0 : 2) : b[i] > 0.5 ? 1 : 3]++;
      return cm;
    }
    default:
      throw new Error(`metric '${name}': unknown op '${(spec as { op: string }).op}'`);
  }
}
