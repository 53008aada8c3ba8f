/**
 * All-reduce rounds for data-parallel replicas that run as concurrent async tasks: the k-th call of every
 * replica forms round k; when all have arrived, their arrays are combined (by default added in replica
 * order in float32) and every replica gets its own copy of the result. Used in one thread (tests, several
 * shards per compute worker) and, with a combine that also exchanges with other threads, by the wafer's
 * compute workers (wafer-sim/collective.ts).
 */

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
 * One `allReduceSum(x)` per replica, gathering rounds as described in the module comment.
 * @param combine  turns a round's arrays (replica order) into the result; may throw (the round rejects).
 * @throws (rejects) Error if the replicas of a round pass arrays of different lengths, or what `combine`
 *   throws.
 */
export function roundCollective(
  numReplicas: number,
  combine: (parts: Float32Array[]) => Float32Array = sumInOrder,
): ((x: Float32Array) => Promise<Float32Array>)[] {
  if (!(Number.isInteger(numReplicas) && numReplicas >= 1)) throw new Error(`numReplicas must be a positive integer, got ${numReplicas}`);
  const rounds = new Map<number, Round>();
  const calls = new Array<number>(numReplicas).fill(0);
  return Array.from({ length: numReplicas }, (_, r) => (x: Float32Array) =>
    new Promise<Float32Array>((resolve, reject) => {
      const k = calls[r]++;
      let round = rounds.get(k);
      if (!round) rounds.set(k, (round = { parts: new Array(numReplicas), waiters: new Array(numReplicas), arrived: 0 }));
      round.parts[r] = x.slice();
      round.waiters[r] = { resolve, reject };
      if (++round.arrived < numReplicas) return;
      rounds.delete(k);
      const parts = round.parts as Float32Array[];
      try {
        if (parts.some((p) => p.length !== parts[0].length)) {
          throw new Error(`all-reduce round ${k}: replicas passed arrays of lengths ${parts.map((p) => p.length).join(', ')}`);
        }
        const sum = combine(parts);
        round.waiters.forEach((w, i) => w.resolve(i === 0 ? sum : sum.slice()));
      } catch (e) {
        round.waiters.forEach((w) => w.reject(e as Error));
      }
    }),
  );
}

/** In-thread all-reduce of `numReplicas` replicas: {@link roundCollective} with {@link sumInOrder}. */
export function inThreadAllReduce(numReplicas: number): ((x: Float32Array) => Promise<Float32Array>)[] {
  return roundCollective(numReplicas);
}
