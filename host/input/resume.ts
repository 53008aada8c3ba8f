/**
 * Resuming the support server's merged stream (host/input/support-server.ts, "Order" and resume): how many
 * batches of each input worker's stream the first `startStep` merged batches took. A pure function of the
 * step and the streams' lengths, kept apart from the server so that it is read and tested on its own.
 */

/**
 * How many batches each of N round-robin streams contributes to the first `startStep` merged batches,
 * given the streams' lengths (`Infinity` where not known to be shorter), and which stream comes next.
 * Rounds visit streams in index order and pass over streams that have ended.
 * @returns `counts[i]` (batches of stream i among the first startStep) and `cursor` (next stream).
 */
export function resumePlan(startStep: number, lengths: readonly number[]): { counts: number[]; cursor: number } {
  const n = lengths.length;
  const counts = new Array<number>(n).fill(0);
  let remaining = startStep;
  let round = 0;
  while (remaining > 0) {
    const live: number[] = [];
    for (let i = 0; i < n; i++) if (lengths[i] > round) live.push(i);
    if (live.length === 0) return { counts, cursor: 0 };
    // Whole rounds at once while every live stream lasts (fast path for infinite streams).
    const minLen = Math.min(...live.map((i) => lengths[i]));
    const whole = Math.min(Math.floor(remaining / live.length), minLen - round);
    if (whole > 0) {
      for (const i of live) counts[i] += whole;
      remaining -= whole * live.length;
      round += whole;
      continue;
    }
    for (let k = 0; k < remaining; k++) counts[live[k]]++;
    return { counts, cursor: live[remaining] };
  }
  for (let i = 0; i < n; i++) if (lengths[i] > round) return { counts, cursor: i };
  return { counts, cursor: 0 };
}
