/**
 * Streaming metrics of an evaluation step: one batch's (total, count) contribution per metric of
 * `graph.metrics` ({@link MetricSpec}), computed on the host from the step's tensors; the executor sums
 * them over shards and the Estimator over batches (value = Σ total / Σ count, as tf.metrics / Keras do).
 */
import type * as tf from '@tensorflow/tfjs-core';
import type { MetricSpec } from '../graph.ts';
import { fmtShape } from '../kernels/util.ts';

/** A streaming metric's contribution from one batch: the metric value is total / count. */
export interface MetricValue {
  total: number;
  count: number;
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
 * One batch's (total, count) of a metric (see {@link MetricSpec}): accuracy (argmax of predictions against
 * integer labels when predictions have one more axis — or a trailing class axis against `[…, 1]` labels —,
 * else predictions thresholded at 0.5 against labels, element-wise), topKAccuracy (label among the k largest
 * logits; ties at the boundary count as hits, as TF `in_top_k`), mean (Σ values, element count),
 * meanSquaredError (Σ (p − y)², element count).
 * @throws Error naming the metric when its inputs are missing or their shapes disagree.
 */
export function computeMetric(name: string, spec: MetricSpec, values: Map<string, tf.Tensor>): MetricValue {
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
      return { total: s, count: v.length };
    }
    case 'meanSquaredError': {
      const y = get(spec.inputs[0]);
      const p = get(spec.inputs[1]);
      if (y.size !== p.size) throw mismatch(y, p);
      const a = y.dataSync();
      const b = p.dataSync();
      let s = 0;
      for (let i = 0; i < a.length; i++) s += (b[i] - a[i]) ** 2;
      return { total: s, count: a.length };
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
        return { total: hits, count: rows };
      }
      if (y.size !== p.size) throw mismatch(y, p);
      const a = y.dataSync();
      const b = p.dataSync();
      let hits = 0;
      for (let i = 0; i < a.length; i++) if ((b[i] > 0.5 ? 1 : 0) === (a[i] > 0.5 ? 1 : 0)) hits++;
      return { total: hits, count: a.length };
    }
    default:
      throw new Error(`metric '${name}': unknown op '${(spec as { op: string }).op}'`);
  }
}
