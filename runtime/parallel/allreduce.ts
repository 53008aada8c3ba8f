/**
 * All-reduce (element-wise sum) across the data-parallel shards of a batch: the one home of the
 * collective, in one thread and across worker threads.
 *
 * Rounds. Shards run as concurrent async tasks; the k-th call of every shard forms round k. When all have
 * arrived, their arrays are combined and every shard gets its own copy of the result. The sum adds the
 * contributions in shard order in float32 (((s₀ + s₁) + s₂) + …), so the bits never depend on timing.
 *
 * Across threads. A batch is cut into S shards (`runconfig.compute_shards`); each compute worker thread
 * runs a contiguous range of them, one executor per shard, interleaved at their all-reduce calls. Once all
 * its shards of a round have called, a worker writes their parts to its slots of a SharedArrayBuffer →
 * barrier → sums slots 0…S−1 in shard order → barrier (slots may be overwritten afterwards). Every worker
 * therefore computes the same sum in the same order, and the result is bit-identical for any number of
 * workers that divides S. Arrays larger than a slot go in slot-sized chunks. A worker that fails sets the
 * abort flag; the others leave their barrier wait with an error instead of hanging.
 */

/** `allReduceSum(x)` of one shard: the element-wise sum of `x` over all shards (a new array). */
export type AllReduceSum = (x: Float32Array) => Promise<Float32Array>;

/** Element-wise sum of equal-length arrays, added in array order in float32: ((p₀ + p₁) + p₂) + … */
export function sumInOrder(parts: readonly Float32Array[]): Float32Array {
  const out = new Float32Array(parts[0]);
  for (let s = 1; s < parts.length; s++) {
    const p = parts[s];
    for (let i = 0; i < out.length; i++) out[i] += p[i];
  }
  return out;
}

interface Round {
  parts: (Float32Array | undefined)[];
  waiters: { resolve: (v: Float32Array) => void; reject: (e: Error) => void }[];
  arrived: number;
}

/**
 * One `allReduceSum(x)` per shard, gathering rounds as described in the module comment.
 * @param combine  turns a round's arrays (shard order) into the result; may throw (the round rejects).
 * @throws Error if `numShards` is not a positive integer; (rejects) Error if the shards of a round pass
 *   arrays of different lengths, or what `combine` throws.
 */
export function roundCollective(numShards: number, combine: (parts: Float32Array[]) => Float32Array = sumInOrder): AllReduceSum[] {
  if (!(Number.isInteger(numShards) && numShards >= 1)) throw new Error(`numShards must be a positive integer, got ${numShards}`);
  const rounds = new Map<number, Round>();
  const calls = new Array<number>(numShards).fill(0);
  return Array.from({ length: numShards }, (_, r) => (x: Float32Array) =>
    new Promise<Float32Array>((resolve, reject) => {
      const k = calls[r]++;
      let round = rounds.get(k);
      if (!round) rounds.set(k, (round = { parts: new Array(numShards), waiters: new Array(numShards), arrived: 0 }));
      round.parts[r] = x.slice();
      round.waiters[r] = { resolve, reject };
      if (++round.arrived < numShards) return;
      rounds.delete(k);
      const parts = round.parts as Float32Array[];
      try {
        if (parts.some((p) => p.length !== parts[0].length)) {
          throw new Error(`all-reduce round ${k}: shards passed arrays of lengths ${parts.map((p) => p.length).join(', ')}`);
        }
        const sum = combine(parts);
        round.waiters.forEach((w, i) => w.resolve(i === 0 ? sum : sum.slice()));
      } catch (e) {
        round.waiters.forEach((w) => w.reject(e as Error));
      }
    }),
  );
}

/** In-thread all-reduce of `numShards` shards: {@link roundCollective} with {@link sumInOrder}. */
export function inThreadAllReduce(numShards: number): AllReduceSum[] {
  return roundCollective(numShards);
}

/** Shared memory of one collective group; created by the main thread and sent to every worker. */
export interface CollectiveBuffers {
  /** `[generation, arrivals, aborted]` (Int32). */
  control: SharedArrayBuffer;
  /** `numShards` slots of `slotFloats` float32 values. */
  data: SharedArrayBuffer;
  numShards: number;
  numWorkers: number;
  /** Float32 values per slot (chunk size of one exchange). */
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
 * The all-reduce functions of the shards `firstShard … firstShard + localShards − 1` running in this worker
 * thread: rounds gather the local shards ({@link roundCollective}), then the worker exchanges with the
 * other workers through `buffers` (see the module comment).
 * @returns one `allReduceSum(x)` per local shard.
 * @throws (rejects) Error('collective aborted…') when another worker failed, or when the shards of a round
 *   pass arrays of different lengths.
 */
export function sharedMemoryAllReduce(buffers: CollectiveBuffers, firstShard: number, localShards: number): AllReduceSum[] {
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
