/**
 * Pass `size`: KernelGraph → SizedGraph. Chooses every kernel's execution parameters (docs/design.md §7) and
 * the floorplan together, so that the slowest kernel is as fast as possible while every kernel's memory fits
 * one PE's SRAM and all kernels fit the fabric together.
 *
 * Method (binary search on the target time τ with a shape-aware feasibility test):
 * 1. For a target τ, each kernel has many legal rectangles (one per choice of splits meeting τ and the SRAM
 *    limit; {@link forEachShape} enumerates the useful ones in closed form). For every row height r the
 *    narrowest rectangle of height ≤ r is tabulated, in both orientations (R0, R90).
 * 2. The kernels, in data-flow order, are cut into consecutive rows (a shelf floorplan: rows stacked along
 *    y, kernels side by side along x, snaking in `place`). A dynamic programme over (first kernel of the
 *    row, row height) finds the cut with the least total height; τ is feasible when it fits the fabric.
 * 3. Binary search finds the least feasible τ, on the fabric and on its transpose; the better one wins.
 *
 * Choosing shapes together with the rows is what lets kernels of very different sizes pack: a kernel in a
 * short row takes a wide, low rectangle; in a tall row a narrow, high one. The floorplan is passed on to
 * `place`, which only has to lay the rows out.
 *
 * The search starts at `areaLowerBound` (fit.ts): the least τ at which the kernels' smallest legal areas
 * sum to at most the fabric's area.
 */
import { UserError } from '../../runtime/errors.ts';
import { kernelCost } from '../estimate.ts';
import type { Floorplan, FloorplanRow, KernelGraph, SizedGraph, SizedKernel } from '../ir.ts';
import { linkBytesPerCycle, memoryWordsPerPe, type Machine } from '../machine.ts';
import { areaLowerBound, execFor, forEachShape, prepareItems, searchLeast, type SizingItem } from './fit.ts';

const INF = 0x3fffffff;

/** Narrowest width per row height for every kernel at one τ (both orientations), with the shape achieving
 * it. */
interface Tables {
  /** widths[i][r] = narrowest footprint width of kernel i with footprint height ≤ r (INF if none). */
  widths: Int32Array[];
  /** The shape achieving widths[i][r]: its (a, b, c) and whether it is rotated (flag 1). */
  argA: Int32Array[];
  argB: Int32Array[];
  argC: Int32Array[];
  argRot: Uint8Array[];
  /** The smallest side each kernel was allowed (transmission-aware sizing). */
  minSides: number[];
  /** Row heights worth trying (ascending). */
  heights: Int32Array;
}

function buildTables(
  items: readonly SizingItem[],
  tau: number,
  mem: number,
  rowMax: number,
  lenMax: number,
  macs: number,
  rotate: boolean,
  linkBytesPerCycle: number,
): Tables | null {
  const maxDim = Math.max(rowMax, lenMax);
  const widths: Int32Array[] = [];
  const argA: Int32Array[] = [];
  const argB: Int32Array[] = [];
  const argC: Int32Array[] = [];
  const argRot: Uint8Array[] = [];
  const minSides: number[] = [];
  const mark = new Uint8Array(rowMax + 1);
  for (const it of items) {
    const t = new Int32Array(rowMax + 1).fill(INF);
    const area = new Float64Array(rowMax + 1).fill(Infinity);
    const A = new Int32Array(rowMax + 1);
    const B = new Int32Array(rowMax + 1);
    const C = new Int32Array(rowMax + 1);
    const rot = new Uint8Array(rowMax + 1);
    let any = false;
    // transmission-aware: a side must offer enough parallel links to move the kernel's largest edge in τ
    const minSide = linkBytesPerCycle > 0 ? Math.ceil(it.edgeBytes / (linkBytesPerCycle * tau)) : 0;
    const offer = (fh: number, fw: number, ar: number, a: number, b: number, c: number, r: number) => {
      if (fw < t[fh] || (fw === t[fh] && ar < area[fh])) {
        t[fh] = fw;
        area[fh] = ar;
        A[fh] = a;
        B[fh] = b;
        C[fh] = c;
        rot[fh] = r;
      }
    };
    minSides.push(minSide);
    forEachShape(it.prep, tau, mem, maxDim, macs, (hh, ww, a, b, c) => {
      if (hh <= rowMax && ww <= lenMax) {
        offer(hh, ww, hh * ww, a, b, c, 0);
        any = true;
      }
      if (rotate && ww <= rowMax && hh <= lenMax) {
        offer(ww, hh, hh * ww, a, b, c, 1);
        any = true;
      }
    }, Math.max(1, minSide));
    if (!any) return null;
    for (let r = 1; r <= rowMax; r++) {
      if (t[r] < t[r - 1]) mark[r] = 1;
      else {
        t[r] = t[r - 1];
        A[r] = A[r - 1];
        B[r] = B[r - 1];
        C[r] = C[r - 1];
        rot[r] = rot[r - 1];
      }
    }
    widths.push(t);
    argA.push(A);
    argB.push(B);
    argC.push(C);
    argRot.push(rot);
  }
  const hs: number[] = [];
  for (let r = 1; r <= rowMax; r++) if (mark[r]) hs.push(r);
  return { widths, argA, argB, argC, argRot, minSides, heights: Int32Array.from(hs) };
}

/** Row cut found by the shelf DP: [first, end) kernel ranges with their heights. */
interface Cut {
  total: number;
  rows: { start: number; end: number; height: number }[];
}

/**
 * The shelf dynamic programme: cuts kernels 0…n−1 (in order) into rows. With `lambda = 0` it minimises the
 * total height; with `lambda > 0` it minimises `Σ rows (1 + λ)·height + λ·Σ widths`, a proxy of the wire
 * length of a snaked chain (neighbours in a row are about their mean width apart, consecutive rows about a
 * row height), subject to the height fitting.
 */
function shelfDP(t: Tables, n: number, rowMax: number, lenMax: number, lambda = 0): Cut | null {
  const cost = new Float64Array(n + 1).fill(Infinity);
  const hgt = new Int32Array(n + 1).fill(INF);
  const fromI = new Int32Array(n + 1).fill(-1);
  const fromR = new Int32Array(n + 1).fill(0);
  cost[0] = 0;
  hgt[0] = 0;
  for (let i = 0; i < n; i++) {
    const base = hgt[i];
    if (base >= INF) continue;
    const c0 = cost[i];
    for (const r of t.heights) {
      if (base + r > rowMax) break;
      if (t.widths[i][r] >= INF) continue;
      const total = base + r;
      let sum = 0;
      for (let j = i; j < n; j++) {
        const w = t.widths[j][r];
        if (w >= INF) break;
        sum += w;
        if (sum > lenMax) break;
        const c = c0 + (1 + lambda) * r + lambda * sum;
        if (c < cost[j + 1] || (c === cost[j + 1] && total < hgt[j + 1])) {
          cost[j + 1] = c;
          hgt[j + 1] = total;
          fromI[j + 1] = i;
          fromR[j + 1] = r;
        }
      }
    }
  }
  if (hgt[n] > rowMax) return null;
  const rows: Cut['rows'] = [];
  for (let j = n; j > 0; j = fromI[j]) rows.unshift({ start: fromI[j], end: j, height: fromR[j] });
  return { total: hgt[n], rows };
}

/** Options of {@link size}. */
export interface SizeOptions {
  /** Use this target time instead of the least feasible one (must be feasible; ISPD driver, tests). */
  targetCycles?: number;
  /** Which floorplans to try: rows along x (`rows`), along y (`cols`) or both (`best`, default). */
  orientation?: 'rows' | 'cols' | 'best';
  /** Allow R90 rotations (default true). */
  rotate?: boolean;
  /** Require every kernel's sides to be at least `⌈largest edge bytes per sample / (link bytes per cycle ·
   * τ)⌉` PEs, so that routes have enough parallel lanes not to limit throughput below the compute rate
   * (default true; the ISPD placer turns it off, the contest model has no link bandwidth). */
  transmissionAware?: boolean;
  /** Weight λ of the wire proxy in the floorplan DP (default 0: least total height); see shelfDP. Only used
   * with a fixed `targetCycles`. */
  wireWeight?: number;
}

/** A floorplan solution: target time, orientation, row cut and the shape tables it was cut from. */
export interface FloorplanSolution {
  tau: number;
  transposed: boolean;
  cut: Cut;
  tables: Tables;
}

/**
 * The sizing engine behind {@link size}: holds a kernel graph prepared for sizing and caches the per-τ
 * shape tables, so that drivers (the ISPD placer) can try many target times, orientations and DP weights
 * cheaply.
 */
export class Sizer {
  readonly items: SizingItem[];
  /** The area lower bound on the max kernel time, cycles. */
  readonly bound: number;
  private readonly cache = new Map<string, Tables | null>();
  /**
   * @param rotate allow R90 shapes.
   * @throws UserError when the graph cannot fit the machine (see {@link checkFit}).
   */
  constructor(
    readonly kg: KernelGraph,
    readonly machine: Machine,
    readonly rotate = true,
    readonly transmissionAware = true,
  ) {
    this.items = prepareItems(kg);
    this.bound = kg.kernels.length ? areaLowerBound(kg, machine) : 0;
  }

  private dims(transposed: boolean) {
    const { width, height } = this.machine.fabric;
    return transposed ? { lenMax: height, rowMax: width } : { lenMax: width, rowMax: height };
  }

  /** Shape tables at τ in one orientation (cached; null when some kernel has no legal shape). */
  tables(tau: number, transposed: boolean): Tables | null {
    const key = `${tau}:${transposed}`;
    if (this.cache.has(key)) return this.cache.get(key)!;
    const { lenMax, rowMax } = this.dims(transposed);
    const t = buildTables(
      this.items,
      tau,
      memoryWordsPerPe(this.machine),
      rowMax,
      lenMax,
      this.machine.macsPerPePerCycle,
      this.rotate,
      this.transmissionAware ? linkBytesPerCycle(this.machine) : 0,
    );
    if (this.cache.size > 64) this.cache.clear();
    this.cache.set(key, t);
    return t;
  }

  /** The floorplan at a fixed τ, or null when infeasible. `lambda` weighs the wire proxy of the shelf DP. */
  solveAt(tau: number, transposed: boolean, lambda = 0): FloorplanSolution | null {
    const t = this.tables(tau, transposed);
    if (!t) return null;
    const { lenMax, rowMax } = this.dims(transposed);
    const n = this.items.length;
    const cut = shelfDP(t, n, rowMax, lenMax, lambda) ?? (lambda > 0 ? shelfDP(t, n, rowMax, lenMax, 0) : null);
    return cut ? { tau, transposed, cut, tables: t } : null;
  }

  /** The least feasible τ in one orientation (binary search from the area bound), or null. When `stop()`
   * turns true once a feasible τ is known, the search ends with that τ (feasible, maybe not the least). */
  solveLeast(transposed: boolean, stop?: () => boolean): FloorplanSolution | null {
    const { lenMax, rowMax } = this.dims(transposed);
    const feasible = (tau: number) => {
      const t = this.tables(tau, transposed);
      return t !== null && shelfDP(t, this.items.length, rowMax, lenMax, 0) !== null;
    };
    const tau = searchLeast(feasible, this.bound, stop);
    return Number.isFinite(tau) ? this.solveAt(tau, transposed) : null;
  }

  /** Turns a solution into sized kernels and floorplan rows (each kernel verified against estimate.ts). */
  realise(sol: FloorplanSolution): SizedGraph {
    const machine = this.machine;
    const mem = memoryWordsPerPe(machine);
    const macs = machine.macsPerPePerCycle;
    const sized = new Map<string, SizedKernel>();
    const rows: FloorplanRow[] = [];
    const t = sol.tables;
    for (const row of sol.cut.rows) {
      const out: FloorplanRow = { height: row.height, kernels: [] };
      for (let i = row.start; i < row.end; i++) {
        const it = this.items[i];
        const r = row.height;
        const exec = execFor(it.prep, sol.tau, mem, macs, t.argA[i][r], t.argB[i][r], t.argC[i][r], Math.max(1, t.minSides[i]));
        const cost = kernelCost(it.kernel.spec, exec, it.kernel.copies, macs);
        const rotated = t.argRot[i][r] === 1;
        const [fw, fh] = rotated ? [cost.height, cost.width] : [cost.width, cost.height];
        if (cost.cyclesPerSample > sol.tau || cost.memoryWordsPerPe > mem || fh > r || fw !== t.widths[i][r]) {
          throw new Error(
            `internal: sizing of '${it.kernel.name}' misses its target (${cost.cyclesPerSample}/${sol.tau} cycles, ` +
              `${cost.memoryWordsPerPe}/${mem} words, footprint ${fw}×${fh} in a row of ${r})`,
          );
        }
        sized.set(it.kernel.name, {
          ...it.kernel,
          exec,
          width: cost.width,
          height: cost.height,
          cyclesPerSample: cost.cyclesPerSample,
          memoryWordsPerPe: cost.memoryWordsPerPe,
        });
        out.kernels.push({ name: it.kernel.name, rotated });
      }
      rows.push(out);
    }
    const kernels = this.kg.kernels.map((k) => sized.get(k.name)!);
    return {
      ...this.kg,
      kernels,
      targetCycles: Math.max(...kernels.map((k) => k.cyclesPerSample)),
      areaBoundCycles: this.bound,
      floorplan: { transposed: sol.transposed, rows },
    };
  }
}

/**
 * Pass `size`.
 * @param kg the lowered kernel graph.
 * @param machine fabric size, SRAM, MACs per cycle.
 * @returns every kernel with execution parameters, rectangle, cycles per sample and memory per PE; the
 *   common target time; the area lower bound; the floorplan rows for `place`.
 * @throws UserError when the model cannot fit (see {@link checkFit}) or a forced `targetCycles` is infeasible.
 */
export function size(kg: KernelGraph, machine: Machine, opts: SizeOptions = {}): SizedGraph {
  if (kg.kernels.length === 0) {
    return { ...kg, kernels: [], targetCycles: 0, areaBoundCycles: 0, floorplan: { transposed: false, rows: [] } };
  }
  const sizer = new Sizer(kg, machine, opts.rotate ?? true, opts.transmissionAware ?? true);
  const orient = opts.orientation ?? 'best';
  const sols: FloorplanSolution[] = [];
  for (const transposed of [false, true]) {
    if ((orient === 'rows' && transposed) || (orient === 'cols' && !transposed)) continue;
    const s = opts.targetCycles !== undefined ? sizer.solveAt(opts.targetCycles, transposed, opts.wireWeight ?? 0) : sizer.solveLeast(transposed);
    if (s) sols.push(s);
  }
  if (!sols.length) {
    const { width: FW, height: FH } = machine.fabric;
    if (opts.targetCycles !== undefined) {
      throw new UserError(`target time of ${opts.targetCycles} cycles per sample is infeasible on machine '${machine.name}' (${FW}×${FH} PEs)`);
    }
    throw new UserError(
      `model too large for machine '${machine.name}' (${FW}×${FH} PEs): its ${kg.kernels.length} kernels fit by area but cannot be laid out in rows on the fabric`,
    );
  }
  sols.sort((a, b) => a.tau - b.tau || a.cut.rows.length - b.cut.rows.length);
  return sizer.realise(sols[0]);
}
