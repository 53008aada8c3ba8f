/**
 * Batches as the executor and the wafer take them: host-side typed arrays with shapes, batch dimension
 * first. No dependencies, so that input workers can use it without loading tfjs.
 */
import type { DType } from './graph.ts';

/** A host-side tensor: row-major data and its shape (batch first for batch tensors). */
export interface HostTensor {
  data: Float32Array | Int32Array | Uint8Array | Float64Array | number[];
  shape: number[];
  /** Element type; defaults to the graph input's dtype. */
  dtype?: DType;
}

/** One batch: features by key (as in `graph.inputs.features`) and labels (absent for prediction). */
export interface Batch {
  features: Record<string, HostTensor>;
  labels?: HostTensor;
}

/**
 * Rows (samples) of a batch: the leading dimension of its first feature (of its labels if it has no
 * features); 0 for an empty batch. Structural, so it takes any batch of `{ shape }` tensors.
 */
export function batchRows(batch: { features?: Record<string, { shape: readonly number[] }>; labels?: { shape: readonly number[] } }): number {
  const t = Object.values(batch.features ?? {})[0] ?? batch.labels;
  return t && t.shape.length > 0 ? t.shape[0] : 0;
}

