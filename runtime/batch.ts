/**
 * The one tensor and batch format of csrun, from the user's inputFn through the support server to the
 * executor and the wafer: host-side typed arrays with shapes, batch dimension first. No dependencies
 * (not even tfjs), so that input workers can import it cheaply; structured-clonable, and every tensor's
 * buffer transferable between threads.
 */

/** Element types of {@link TensorData}. The wafer computes in float32 and int32 (`DType` of graph.ts);
 * uint8 tensors (raw pixels) are widened to the graph input's dtype when the executor uploads them. */
export type TensorDType = 'float32' | 'int32' | 'uint8';

/** The typed arrays that back {@link TensorData}. */
export type TypedArray = Float32Array | Int32Array | Uint8Array;

/**
 * A dense tensor in row-major (C) order: `data.length === product(shape)`; `shape` `[]` is a scalar, and
 * a batch tensor has its batch dimension first (`[batch, ...]`). `dtype` matches the array class
 * (float32 ↔ Float32Array, int32 ↔ Int32Array, uint8 ↔ Uint8Array).
 */
export interface TensorData {
  data: TypedArray;
  shape: number[];
  dtype: TensorDType;
}

/**
 * One batch: features a dict of named tensors (keys as in `graph.inputs.features`), labels one tensor
 * (absent in PREDICT), batch dimension first on every tensor (MNIST: `features.image` `[batch, 28, 28, 1]`
 * float32 in [0, 1], `labels` `[batch]` int32).
 */
export interface Batch {
  features: Record<string, TensorData>;
  labels?: TensorData;
}

/**
 * Rows (samples) of a batch: the leading dimension of its first feature (of its labels if it has no
 * features); 0 for an empty batch. Structural, so it takes any batch of `{ shape }` tensors.
 */
export function batchRows(batch: { features?: Record<string, { shape: readonly number[] }>; labels?: { shape: readonly number[] } }): number {
  const t = Object.values(batch.features ?? {})[0] ?? batch.labels;
  return t && t.shape.length > 0 ? t.shape[0] : 0;
}

/** Bytes of a batch's tensors, features and labels (what crosses the host-to-wafer link). */
export function batchBytes(batch: { features: Record<string, { data: { byteLength: number } }>; labels?: { data: { byteLength: number } } }): number {
  let n = 0;
  for (const t of Object.values(batch.features)) n += t.data.byteLength;
  return n + (batch.labels?.data.byteLength ?? 0);
}
