/**
 * All-reduce (element-wise sum) across data-parallel replicas running in worker threads, over a
 * SharedArrayBuffer with an Atomics barrier. Every replica adds the contributions in replica order
 * (0, 1, …, N−1), so all replicas get bit-identical sums and the result does not depend on timing.
 *
 * Protocol of one call (every replica calls with arrays of equal length, in the same sequence):
 * write own slot → barrier → sum slots 0…N−1 → barrier (slots may be overwritten afterwards). Arrays larger
 * than a slot are reduced in slot-sized chunks. A replica that fails sets the abort flag; the others leave
 * their barrier wait with an error instead of hanging.
 */

/** Shared memory of one collective group; created by the main thread and sent to every replica. */
export interface CollectiveBuffers {
  /** `[generation, arrivals, aborted]` */
  control: SharedArrayBuffer;
  /** N slots of `slotFloats` float32 values. */
  data: SharedArrayBuffer;
  numReplicas: number;
  slotFloats: number;
}

/** Allocates buffers for `numReplicas` replicas, `slotFloats` float32 values per slot. */
export function createCollective(numReplicas: number, slotFloats = 1 << 20): CollectiveBuffers {
  return {
    control: new SharedArrayBuffer(3 * 4),
    data: new SharedArrayBuffer(numReplicas * slotFloats * 4),
    numReplicas,
    slotFloats,
  };
}

/** Marks the group as failed: every replica waiting in a barrier throws. Callable from any thread. */
export function abortCollective(buffers: CollectiveBuffers): void {
  const ctl = new Int32Array(buffers.control);
  Atomics.store(ctl, 2, 1);
  Atomics.add(ctl, 0, 1);
  Atomics.notify(ctl, 0);
}

/**
 * The all-reduce of replica `rank` (0-based) of the group.
 * @returns `allReduceSum(x)`: a new Float32Array with the element-wise sum of every replica's `x`.
 * @throws Error('collective aborted') when another replica failed.
 */
export function replicaAllReduce(buffers: CollectiveBuffers, rank: number): (x: Float32Array) => Promise<Float32Array> {
  const { numReplicas: n, slotFloats } = buffers;
  const ctl = new Int32Array(buffers.control);
  const data = new Float32Array(buffers.data);

  const barrier = (): void => {
    const gen = Atomics.load(ctl, 0);
    if (Atomics.load(ctl, 2)) throw new Error('collective aborted: another replica failed');
    if (Atomics.add(ctl, 1, 1) === n - 1) {
      Atomics.store(ctl, 1, 0);
      Atomics.add(ctl, 0, 1);
      Atomics.notify(ctl, 0);
      return;
    }
    while (Atomics.load(ctl, 0) === gen) Atomics.wait(ctl, 0, gen, 1000);
    if (Atomics.load(ctl, 2)) throw new Error('collective aborted: another replica failed');
  };

  return async (x: Float32Array): Promise<Float32Array> => {
    if (n === 1) return Float32Array.from(x);
    const out = new Float32Array(x.length);
    for (let start = 0; start < x.length || start === 0; start += slotFloats) {
      const len = Math.min(slotFloats, x.length - start);
      data.set(x.subarray(start, start + len), rank * slotFloats);
      barrier();
      const dst = out.subarray(start, start + len);
      dst.set(data.subarray(0, len));
      for (let r = 1; r < n; r++) {
        const src = data.subarray(r * slotFloats, r * slotFloats + len);
        for (let i = 0; i < len; i++) dst[i] += src[i];
      }
      barrier();
      if (x.length === 0) break;
    }
    return out;
  };
}
