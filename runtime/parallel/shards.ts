/**
 * Shards: the contiguous slices a batch is cut into for data parallelism (`runconfig.compute_shards`), and
 * how the compute workers (threads) share them. For a fixed number of shards S the results do not depend
 * on the number of workers W (W divides S; each worker runs S / W consecutive shards), because the
 * all-reduce adds the shards' contributions in shard order (`./allreduce.ts`).
 */
import os from 'node:os';
import type { Batch, TensorData } from '../batch.ts';
import { batchRows } from '../batch.ts';
import type { SliceInfo } from '../exec/step.ts';
import { UserError } from '../errors.ts';

/** One shard's slice of a batch and its place in the global batch. */
export interface ShardBatch {
  batch: Batch;
  slice: SliceInfo;
}

/** Compute workers the machine can give: one per core (at most 8), keeping none back on a 2-core machine. */
export function defaultComputeWorkers(): number {
  return Math.max(1, Math.min(8, os.availableParallelism?.() ?? os.cpus().length));
}

/** Least common multiple of two positive integers. */
function lcm(a: number, b: number): number {
  const gcd = (x: number, y: number): number => (y === 0 ? x : gcd(y, x % y));
  return (a / gcd(a, b)) * b;
}

/**
 * Shards and workers of a run. `workers` 0 means {@link defaultComputeWorkers}; `shards` 0 means
 * lcm(max(2, workers), replicas): two shards by default, so that a run on one worker and a run on two give the
 * same bits, and a whole number of shards per data-parallel replica of the plan (compiler/replicas.ts: replica r
 * is shards r·S/K … (r+1)·S/K − 1, and the all-reduce of the shards in shard order is the replicas' reduction).
 * @throws UserError if `workers` or `replicas` does not divide `shards`.
 */
export function shardLayout(workers: number, shards: number, replicas = 1): { workers: number; shards: number } {
  const w = workers || defaultComputeWorkers();
  const s = shards || lcm(Math.max(2, w), replicas);
  if (s % w !== 0) throw new UserError(`runconfig.compute_shards (${s}) must be a multiple of the compute workers (${w})`);
  if (s % replicas !== 0) throw new UserError(`runconfig.compute_shards (${s}) must be a multiple of the plan's replicas (${replicas})`);
  return { workers: w, shards: s };
}

/** Splits `n` samples into `parts` contiguous slices, sizes differing by at most one (larger ones first). */
export function splitBatch(n: number, parts: number): { offset: number; size: number }[] {
  const base = Math.floor(n / parts);
  const extra = n % parts;
  const out: { offset: number; size: number }[] = [];
  let offset = 0;
  for (let i = 0; i < parts; i++) {
    const size = base + (i < extra ? 1 : 0);
    out.push({ offset, size });
    offset += size;
  }
  return out;
}

/** Elements per row of a tensor `[rows, ...]`. */
function rowSize(t: TensorData): number {
  return t.shape.slice(1).reduce((a, b) => a * b, 1);
}

/** Applies `f` to every tensor of a batch. */
function mapBatch(batch: Batch, f: (t: TensorData) => TensorData): Batch {
  const features: Record<string, TensorData> = {};
  for (const [k, t] of Object.entries(batch.features)) features[k] = f(t);
  return { features, ...(batch.labels ? { labels: f(batch.labels) } : {}) };
}

/** Rows `[offset, offset + size)` of every tensor of a batch (copies, ready to transfer). */
export function sliceBatch(batch: Batch, offset: number, size: number): Batch {
  return mapBatch(batch, (t) => {
    const per = rowSize(t);
    const data = (t.data as Float32Array).slice(offset * per, (offset + size) * per);
    return { data, shape: [size, ...t.shape.slice(1)], dtype: t.dtype };
  });
}

/** Repeats the rows of a batch cyclically up to `n` rows (prediction batches smaller than the shard count). */
export function padBatch(batch: Batch, n: number): Batch {
  return mapBatch(batch, (t) => {
    const per = rowSize(t);
    const rows = t.shape[0];
    const data = t.data instanceof Int32Array ? new Int32Array(n * per) : new Float32Array(n * per);
    for (let i = 0; i < n; i++) data.set((t.data as Float32Array).subarray((i % rows) * per, ((i % rows) + 1) * per), i * per);
    return { data, shape: [n, ...t.shape.slice(1)], dtype: data instanceof Int32Array ? 'int32' : 'float32' };
  });
}

/**
 * A batch cut into `numShards` shards, grouped by worker (`numWorkers` divides `numShards`).
 * @throws UserError if the batch has fewer samples than shards.
 */
export function shardBatch(batch: Batch, numShards: number, numWorkers: number): ShardBatch[][] {
  const n = batchRows(batch);
  if (n < numShards) throw new UserError(`a batch of ${n} samples cannot be split into ${numShards} compute shards`);
  const all = splitBatch(n, numShards).map(({ offset, size }) => ({ batch: sliceBatch(batch, offset, size), slice: { sampleOffset: offset, globalBatch: n } }));
  const per = numShards / numWorkers;
  return Array.from({ length: numWorkers }, (_, w) => all.slice(w * per, (w + 1) * per));
}

/** The buffers of shard batches, to transfer rather than copy. */
export function shardBuffers(shards: readonly ShardBatch[]): ArrayBuffer[] {
  return shards.flatMap(({ batch }) => [...Object.values(batch.features), ...(batch.labels ? [batch.labels] : [])].map((t) => (t.data as Float32Array).buffer as ArrayBuffer));
}

/**
 * Joins per-shard predictions (shard order) into the first `n` rows of the whole batch, by prediction name.
 */
export function joinPredictions(pieces: readonly Record<string, TensorData>[], n: number): Record<string, TensorData> {
  const out: Record<string, TensorData> = {};
  for (const name of Object.keys(pieces[0])) {
    const parts = pieces.map((r) => r[name]);
    const per = rowSize(parts[0]);
    const data = parts[0].data instanceof Int32Array ? new Int32Array(n * per) : new Float32Array(n * per);
    let o = 0;
    for (const p of parts) {
      const take = Math.min(p.data.length, n * per - o);
      data.set((p.data as Float32Array).subarray(0, take), o);
      o += take;
    }
    out[name] = { data, shape: [n, ...parts[0].shape.slice(1)], dtype: parts[0].dtype };
  }
  return out;
}
