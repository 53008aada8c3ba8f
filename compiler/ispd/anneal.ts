/**
 * Position search for `csrun place` (docs/design.md §9): simulated annealing on the placed rectangles of an
 * ISPD solution whose kernels' execution parameters (and so their footprints, times and memory) are fixed.
 * It shortens the wire term `Σ L1 distance between connected kernel centres` and keeps the placement legal
 * at every step: each rectangle stays inside the fabric and overlaps no other; memory and time do not
 * change because execution parameters do not.
 *
 * Moves (one kernel, or a pair for swaps):
 * - pull: to the median of its neighbours' centres (the L1 optimum of its own wire), or 1/2, 1/4 of the way;
 * - shift: a random displacement whose range shrinks with the temperature;
 * - swap: two kernels exchange centres;
 * - rotate: R0 ↔ R90 about its centre (the footprint's sides swap).
 * Acceptance is Metropolis (`Δ ≤ 0`, or with probability `exp(−Δ/T)`), T falling geometrically over the
 * run. Randomness is counter-based (`runtime/random.ts`), so a run depends only on its input and seed.
 */
import { streamKey, uniformAt } from '../../runtime/random.ts';
import type { KernelEdge, PlacedKernel } from '../ir.ts';

/** Options of {@link anneal}. */
export interface AnnealOptions {
  /** Length of the cooling schedule, moves. */
  iterations: number;
  /** Stop after this many moves, cooling as if the run were `iterations` long (default `iterations`), so
   * that a shorter run is a prefix of a longer one. */
  stopAfter?: number;
  /** Random seed (any safe integer). */
  seed: number;
  /** Starting temperature in PEs of wire (default: 1/20 of the mean edge length). */
  t0?: number;
  /** Stop early (the best found so far is returned) when this returns true; polled every 1024 moves. */
  stop?: () => boolean;
}

/** Result of {@link anneal}: the best placement seen (the input when nothing shorter was found). */
export interface AnnealResult {
  kernels: PlacedKernel[];
  /** Σ L1 centre distances over kernel → kernel edges, PEs. */
  wirelength: number;
  /** Moves actually tried. */
  moves: number;
}

const median = (xs: number[]): number => {
  xs.sort((a, b) => a - b);
  const m = xs.length >> 1;
  return xs.length % 2 ? xs[m] : (xs[m - 1] + xs[m]) / 2;
};

/**
 * Anneals kernel positions and rotations on a `fabricW × fabricH` fabric.
 * @param kernels a legal placement (not modified).
 * @param edges the graph's edges; external ones and those naming unplaced kernels are ignored.
 * @returns the best placement seen; legal whenever the input was.
 */
export function anneal(kernels: readonly PlacedKernel[], edges: readonly KernelEdge[], fabricW: number, fabricH: number, opts: AnnealOptions): AnnealResult {
  const n = kernels.length;
  const index = new Map(kernels.map((k, i) => [k.name, i]));
  const ea: number[] = [];
  const eb: number[] = [];
  for (const e of edges) {
    const a = index.get(e.from);
    const b = index.get(e.to);
    if (e.external || a === undefined || b === undefined || a === b) continue;
    ea.push(a);
    eb.push(b);
  }
  const inc: number[][] = kernels.map(() => []);
  ea.forEach((a, e) => {
    inc[a].push(e);
    inc[eb[e]].push(e);
  });
  const x = Int32Array.from(kernels, (k) => k.x);
  const y = Int32Array.from(kernels, (k) => k.y);
  const w = Int32Array.from(kernels, (k) => k.width);
  const h = Int32Array.from(kernels, (k) => k.height);
  const rot = Uint8Array.from(kernels, (k) => (k.rotation === 'R90' ? 1 : 0));
  // centres doubled, so that they stay integers
  const len = (e: number) => {
    const a = ea[e];
    const b = eb[e];
    return Math.abs(2 * x[a] + w[a] - 2 * x[b] - w[b]) + Math.abs(2 * y[a] + h[a] - 2 * y[b] - h[b]);
  };
  let cur = 0;
  for (let e = 0; e < ea.length; e++) cur += len(e);
  let best = cur;
  const snapshot = () => ({ x: x.slice(), y: y.slice(), w: w.slice(), h: h.slice(), rot: rot.slice() });
  let bestState = snapshot();
  const movable = kernels.map((_, i) => i).filter((i) => inc[i].length > 0);
  if (!movable.length || !ea.length) return { kernels: [...kernels], wirelength: cur / 2, moves: 0 };

  const fits = (i: number, nx: number, ny: number, nw: number, nh: number, skip: number): boolean => {
    if (nx < 0 || ny < 0 || nx + nw > fabricW || ny + nh > fabricH) return false;
    for (let j = 0; j < n; j++) {
      if (j === i || j === skip) continue;
      if (nx < x[j] + w[j] && x[j] < nx + nw && ny < y[j] + h[j] && y[j] < ny + nh) return false;
    }
    return true;
  };
  const seen = new Int32Array(ea.length).fill(-1);
  const cost = (ks: number[], stamp: number) => {
    let s = 0;
    for (const k of ks) {
      for (const e of inc[k]) {
        if (seen[e] === stamp) continue;
        seen[e] = stamp;
        s += len(e);
      }
    }
    return s;
  };
  const key = streamKey(opts.seed, n, ea.length);
  let draw = 0;
  const rnd = () => uniformAt(key, draw++);
  const t0 = 2 * (opts.t0 ?? cur / 2 / ea.length / 20); // doubled units, like len
  const tEnd = 0.01;
  const cool = Math.pow(tEnd / Math.max(t0, tEnd * 1.0001), 1 / Math.max(1, opts.iterations));
  let T = Math.max(t0, tEnd);
  const span = Math.max(fabricW, fabricH);
  const old = { x: 0, y: 0, w: 0, h: 0, r: 0, jx: 0, jy: 0 };
  let moves = 0;
  let stamp = 0;
  const last = Math.min(opts.iterations, opts.stopAfter ?? Infinity);
  for (let it = 0; it < last; it++, T *= cool) {
    if ((it & 1023) === 0 && opts.stop?.()) break;
    moves++;
    const i = movable[Math.floor(rnd() * movable.length)];
    const u = rnd();
    let j = -1;
    let nx = x[i];
    let ny = y[i];
    let nw = w[i];
    let nh = h[i];
    let jx = 0;
    let jy = 0;
    if (u < 0.4) {
      const cx: number[] = [];
      const cy: number[] = [];
      for (const e of inc[i]) {
        const o = ea[e] === i ? eb[e] : ea[e];
        cx.push(2 * x[o] + w[o]);
        cy.push(2 * y[o] + h[o]);
      }
      const tx = (median(cx) - w[i]) / 2;
      const ty = (median(cy) - h[i]) / 2;
      const f = [1, 0.5, 0.25][Math.floor(rnd() * 3)];
      nx = Math.round(x[i] + f * (tx - x[i]));
      ny = Math.round(y[i] + f * (ty - y[i]));
    } else if (u < 0.75) {
      const r = Math.max(1, Math.round((span / 4) * Math.min(1, T / t0)));
      nx = x[i] + Math.round((2 * rnd() - 1) * r);
      ny = y[i] + Math.round((2 * rnd() - 1) * r);
    } else if (u < 0.9) {
      j = Math.floor(rnd() * n);
      if (j === i) continue;
      nx = Math.round(x[j] + (w[j] - w[i]) / 2);
      ny = Math.round(y[j] + (h[j] - h[i]) / 2);
      jx = Math.round(x[i] + (w[i] - w[j]) / 2);
      jy = Math.round(y[i] + (h[i] - h[j]) / 2);
    } else {
      if (w[i] === h[i]) continue;
      nw = h[i];
      nh = w[i];
      nx = Math.round(x[i] + (w[i] - nw) / 2);
      ny = Math.round(y[i] + (h[i] - nh) / 2);
    }
    if (j < 0 && nx === x[i] && ny === y[i] && nw === w[i]) continue;
    if (!fits(i, nx, ny, nw, nh, j)) continue;
    if (j >= 0) {
      if (!fits(j, jx, jy, w[j], h[j], i)) continue;
      if (nx < jx + w[j] && jx < nx + nw && ny < jy + h[j] && jy < ny + nh) continue;
    }
    const ks = j >= 0 ? [i, j] : [i];
    const before = cost(ks, stamp++);
    Object.assign(old, { x: x[i], y: y[i], w: w[i], h: h[i], r: rot[i], jx: j >= 0 ? x[j] : 0, jy: j >= 0 ? y[j] : 0 });
    x[i] = nx;
    y[i] = ny;
    if (nw !== w[i]) rot[i] ^= 1;
    w[i] = nw;
    h[i] = nh;
    if (j >= 0) {
      x[j] = jx;
      y[j] = jy;
    }
    const delta = cost(ks, stamp++) - before;
    if (delta <= 0 || rnd() < Math.exp(-delta / T)) {
      cur += delta;
      if (cur < best) {
        best = cur;
        bestState = snapshot();
      }
    } else {
      x[i] = old.x;
      y[i] = old.y;
      w[i] = old.w;
      h[i] = old.h;
      rot[i] = old.r;
      if (j >= 0) {
        x[j] = old.jx;
        y[j] = old.jy;
      }
    }
  }
  const s = bestState;
  const out = kernels.map((k, i): PlacedKernel => {
    const flipped = s.rot[i] !== (k.rotation === 'R90' ? 1 : 0);
    return { ...k, x: s.x[i], y: s.y[i], width: s.w[i], height: s.h[i], rotation: flipped ? (k.rotation === 'R0' ? 'R90' : 'R0') : k.rotation };
  });
  return { kernels: out, wirelength: best / 2, moves };
}
