/**
 * All-reduce (element-wise sum) across the data-parallel shards of a batch. A batch is cut into S shards
 * (`compute_shards`); each compute worker thread runs a contiguous range of them, one executor per shard,
 * interleaved on its async all-reduce calls. Every sum adds the S contributions in shard order
 * (((s₀ + s₁) + s₂) + …) in float32, in every worker, so the result is bit-identical for any number of
 * workers that divides S and never depends on timing.
 *
 * Across workers the exchange goes through a SharedArrayBuffer with an Atomics barrier: each worker, once
 * all its shards of a round have called, writes their slots → barrier → sums slots 0…S−1 → barrier (slots
 * may be overwritten afterwards). Arrays larger than a slot go in slot-sized chunks. A worker that fails sets
 * the abort flag; the others leave their barrier wait with an error instead of hanging.
 */
import { roundCollective, sumInOrder } from '../runtime/allreduce.ts';

/** Shared memory of one collective group; created by the main thread and sent to every worker. */
export interface CollectiveBuffers {
  /** `[generation, arrivals, aborted]` */
  control: SharedArrayBuffer;
  /** `numShards` slots of `slotFloats` float32 values. */
  data: SharedArrayBuffer;
  numShards: number;
  numWorkers: number;
  slotFloats: number;
}

/** Allocates buffers for `numShards` shards over `numWorkers` worker threads, `slotFloats` values per slot. */
export function createCollective(numShards: number, numWorkers: number, slotFloats = 1 << 20): CollectiveBuffers {
  return {
    control: new SharedArrayBuffer(3 * 4),
    data: new SharedArrayBuffer(numShards * slotFloats * 4),
    numShards,
    numWorkers,
    slotFloats,
  };
}

/** Marks the group as failed: every worker waiting in a barrier throws. Callable from any thread. */
export function abortCollective(buffers: CollectiveBuffers): void {
  const ctl = new Int32Array(buffers.control);
  Atomics.store(ctl, 2, 1);
  Atomics.add(ctl, 0, 1);
  Atomics.notify(ctl, 0);
}

/**
 * The all-reduce functions of the shards `firstShard … firstShard + localShards − 1` running in this worker.
 * The k-th call of every shard forms round k; when all local shards of a round have called, the worker
 * exchanges with the other workers and every local call resolves with its own copy of the sum.
 * @returns one `allReduceSum(x)` per local shard.
 * @throws (rejects) Error('collective aborted…') when another worker failed, or when the shards of a round
 *   pass arrays of different lengths (runtime/allreduce.ts gathers the rounds).
 */
export function shardAllReduce(buffers: CollectiveBuffers, firstShard: number, localShards: number): ((x: Float32Array) => Promise<Float32Array>)[] {
  const { numShards: S, numWorkers: W, slotFloats } = buffers;
  const ctl = new Int32Array(buffers.control);
  const data = new Float32Array(buffers.data);

  const barrier = (): void => {
    const gen = Atomics.load(ctl, 0);
    if (Atomics.load(ctl, 2)) throw new Error('collective aborted: another compute worker failed');
    if (Atomics.add(ctl, 1, 1) === W - 1) {
      Atomics.store(ctl, 1, 0);
      Atomics.add(ctl, 0, 1);
      Atomics.notify(ctl, 0);
      return;
    }
    while (Atomics.load(ctl, 0) === gen) Atomics.wait(ctl, 0, gen, 1000);
    if (Atomics.load(ctl, 2)) throw new Error('collective aborted: another compute worker failed');
  };

  /** Sums the round's local parts with every other worker's, in shard order. */
  const exchange = (parts: Float32Array[]): Float32Array => {
    if (W === 1) return sumInOrder(parts);
    const n = parts[0].length;
    const out = new Float32Array(n);
    for (let start = 0; start === 0 || start < n; start += slotFloats) {
      const len = Math.max(0, Math.min(slotFloats, n - start));
      parts.forEach((p, j) => data.set(p.subarray(start, start + len), (firstShard + j) * slotFloats));
      barrier();
      out.set(sumInOrder(Array.from({ length: S }, (_, s) => data.subarray(s * slotFloats, s * slotFloats + len))), start);
      barrier();
      if (n === 0) break;
    }
    return out;
  };

  return roundCollective(localShards, exchange);
}
