/**
 * Pass `size`: KernelGraph → SizedGraph. Chooses every kernel's execution parameters (DESIGN §7) so that
 * the slowest kernel is as fast as possible while every kernel's memory fits one PE's SRAM and all kernels
 * fit the fabric together.
 *
 * Method (binary search on the target time τ, as the issue suggests, with a shape-aware feasibility test):
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
 * {@link areaLowerBound} is the bound of the issue: the least τ at which the kernels' smallest legal areas
 * sum to at most the fabric's area.
 */
import { UserError } from '../runtime/errors.ts';
import { kernelCost } from './estimate.ts';
import type { KernelShapes, ShapeVisitor } from './kernels/kind.ts';
import { kernelKind } from './kernels/registry.ts';
import type { Floorplan, FloorplanRow, Kernel, KernelEdge, KernelGraph, KernelSpec, SizedGraph, SizedKernel } from './ir.ts';
import { linkBytesPerCycle, memoryWordsPerPe, type Machine } from './machine.ts';

/** A practically infinite target time (cycles); keeps `τ · T · U` exact in doubles. */
export const UNBOUNDED_CYCLES = 2 ** 40;

export { splitCandidates, type ShapeVisitor } from './kernels/kind.ts';

/** A kernel spec prepared for {@link forEachShape} / {@link execFor} (its kind module's sizing enumeration). */
export type PreparedKernel = KernelShapes;
type Prepared = KernelShapes;

/** Prepares a kernel spec for {@link forEachShape} / {@link execFor}: its split candidates per dimension. */
export function prepareKernel(spec: KernelSpec, copies: number): Prepared {
  return kernelKind(spec.kind).shapes(spec, copies);
}

/**
 * Enumerates the useful legal rectangles of a prepared kernel at target time τ (its kind's
 * `KernelShapes.forEachShape`): for every candidate split, the smallest one meeting τ and the SRAM limit
 * (widened to `minSide` if needed); only rectangles whose sides are both in `minSide … maxDim` are visited.
 * {@link execFor} (with the same τ, memory and minSide) turns a visit's (a, b, c) into execution parameters.
 * @param tau target cycles per sample (integer).
 * @param mem SRAM words per PE.
 * @param maxDim largest side a rectangle may have (the fabric's larger dimension).
 * @param macs `machine.macsPerPePerCycle`.
 * @param minSide smallest side a rectangle may have (transmission-aware sizing; 1 = no constraint).
 */
export function forEachShape(p: Prepared, tau: number, mem: number, maxDim: number, macs: number, visit: ShapeVisitor, minSide = 1): void {
  p.forEachShape(tau, mem, maxDim, macs, visit, minSide);
}

/**
 * Execution parameters of the rectangle {@link forEachShape} reported as (a, b, c) at the same τ, memory
 * limit and minSide.
 * @throws Error when (a, b, c) is not a shape forEachShape reports.
 */
export function execFor(p: Prepared, tau: number, mem: number, macs: number, a: number, b: number, c: number, minSide = 1): Record<string, number> {
  return p.execFor(tau, mem, macs, a, b, c, minSide);
}

/** A kernel prepared for sizing. */
interface Item {
  kernel: Kernel;
  prep: Prepared;
  /** Largest bytes per sample on an edge into or out of the kernel (transmission-aware sizing). */
  edgeBytes: number;
}

/**
 * Data-flow order of kernels for the snake: reverse post-order of a depth-first walk from the sources, which
 * keeps each chain (and each block's branches) together. Kernels unreachable from a source follow in input
 * order.
 * @param names kernel names in their given order (ties follow it).
 * @param edges kernel-to-kernel edges (external ones are ignored).
 */
export function dataflowOrder(names: readonly string[], edges: readonly Pick<KernelEdge, 'from' | 'to' | 'external'>[]): string[] {
  const index = new Map(names.map((n, i) => [n, i]));
  const succ = new Map<string, string[]>(names.map((n) => [n, []]));
  const indeg = new Map<string, number>(names.map((n) => [n, 0]));
  for (const e of edges) {
    if (e.external || !index.has(e.from) || !index.has(e.to) || e.from === e.to) continue;
    succ.get(e.from)!.push(e.to);
    indeg.set(e.to, indeg.get(e.to)! + 1);
  }
  for (const s of succ.values()) s.sort((a, b) => index.get(a)! - index.get(b)!);
  const post: string[] = [];
  const state = new Map<string, number>();
  const visit = (root: string) => {
    // iterative DFS (deep chains would overflow the stack recursively)
    const stack: [string, number][] = [[root, 0]];
    state.set(root, 1);
    while (stack.length) {
      const top = stack[stack.length - 1];
      const kids = succ.get(top[0])!;
      if (top[1] < kids.length) {
        const k = kids[top[1]++];
        if (!state.has(k)) {
          state.set(k, 1);
          stack.push([k, 0]);
        }
      } else {
        stack.pop();
        post.push(top[0]);
      }
    }
  };
  for (const n of names) if (indeg.get(n) === 0 && !state.has(n)) visit(n);
  for (const n of names) if (!state.has(n)) visit(n);
  post.reverse();
  // reverse post-order is topological for a DAG
  return post;
}

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
  items: readonly Item[],
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

function prepareItems(kg: KernelGraph): Item[] {
  const byName = new Map(kg.kernels.map((k) => [k.name, k]));
  const order = dataflowOrder(
    kg.kernels.map((k) => k.name),
    kg.edges,
  );
  const edgeBytes = new Map<string, number>();
  for (const e of kg.edges) {
    for (const k of [e.from, e.to]) edgeBytes.set(k, Math.max(edgeBytes.get(k) ?? 0, e.bytesPerSample));
  }
  return order.map((n) => {
    const kernel = byName.get(n)!;
    return { kernel, prep: prepareKernel(kernel.spec, kernel.copies), edgeBytes: edgeBytes.get(n) ?? 0 };
  });
}

/**
 * Smallest legal area of each kernel at τ, or null when some kernel has no legal rectangle at τ.
 * @returns PEs per kernel.
 */
function minAreas(items: readonly Item[], tau: number, machine: Machine): number[] | null {
  const mem = memoryWordsPerPe(machine);
  const { width: FW, height: FH } = machine.fabric;
  const lo = Math.min(FW, FH);
  const hi = Math.max(FW, FH);
  const out: number[] = [];
  for (const it of items) {
    let best = Infinity;
    forEachShape(it.prep, tau, mem, hi, machine.macsPerPePerCycle, (h, w) => {
      if (Math.min(h, w) <= lo && h * w < best) best = h * w;
    });
    if (best === Infinity) return null;
    out.push(best);
  }
  return out;
}

/**
 * Words per PE a kernel needs at the finest split whose rectangle fits the fabric (the least memory any
 * legal split can reach; used in error messages).
 * @returns words, or Infinity when no split fits the fabric at all.
 */
export function minMemoryWords(kernel: Kernel, machine: Machine): number {
  const { width: FW, height: FH } = machine.fabric;
  const lo = Math.min(FW, FH);
  const hi = Math.max(FW, FH);
  const { spec, copies } = kernel;
  let best = Infinity;
  const tryExec = (exec: Record<string, number>) => {
    try {
      const c = kernelCost(spec, exec, copies, machine.macsPerPePerCycle);
      if (Math.min(c.width, c.height) <= lo && Math.max(c.width, c.height) <= hi) best = Math.min(best, c.memoryWordsPerPe);
    } catch {
      /* a split out of range: not a candidate */
    }
  };
  prepareKernel(spec, copies).forEachFinestSplit(lo, hi, tryExec);
  return best;
}

/**
 * Checks that a kernel graph can fit a machine at all: every kernel has a legal rectangle within SRAM, and
 * the kernels' smallest legal areas fit the fabric together.
 * @throws UserError naming the kernel, the bytes per PE it needs and the machine.
 */
export function checkFit(kg: KernelGraph, machine: Machine): void {
  const items = prepareItems(kg);
  const mem = memoryWordsPerPe(machine);
  const { width: FW, height: FH } = machine.fabric;
  const fabricDesc = `machine '${machine.name}' (${FW}×${FH} PEs, ${machine.sramBytesPerPe} bytes of SRAM per PE)`;
  for (const it of items) {
    let any = false;
    forEachShape(it.prep, UNBOUNDED_CYCLES, mem, Math.max(FW, FH), machine.macsPerPePerCycle, (h, w) => {
      if (Math.min(h, w) <= Math.min(FW, FH)) any = true;
    });
    if (!any) {
      const words = minMemoryWords(it.kernel, machine);
      const bytes = Number.isFinite(words) ? words * machine.wordBytes : NaN;
      throw new UserError(
        `kernel '${it.kernel.name}' (${it.kernel.op}) does not fit ${fabricDesc}: ` +
          (Number.isFinite(bytes)
            ? `at every split that fits the fabric it needs at least ${bytes} bytes per PE (${words} words of ${machine.wordBytes} bytes)`
            : `no split of it fits the fabric`),
      );
    }
  }
  const areas = minAreas(items, UNBOUNDED_CYCLES, machine)!;
  const total = areas.reduce((s, a) => s + a, 0);
  if (total > FW * FH) {
    let worst = 0;
    areas.forEach((a, i) => {
      if (a > areas[worst]) worst = i;
    });
    const k = items[worst].kernel;
    const words = minMemoryWords(k, machine);
    throw new UserError(
      `model too large for ${fabricDesc}: its kernels need at least ${total} PEs at their smallest legal sizes; ` +
        `largest is kernel '${k.name}' (${k.op}) with ${areas[worst]} PEs, needing ${words * machine.wordBytes} bytes per PE at its finest split`,
    );
  }
}

/**
 * The area lower bound on the max kernel time: the least τ (cycles) at which every kernel has a legal
 * rectangle and the smallest legal areas sum to at most the fabric's area.
 * @throws UserError when even unbounded time does not fit (see {@link checkFit}).
 */
export function areaLowerBound(kg: KernelGraph, machine: Machine): number {
  checkFit(kg, machine);
  const items = prepareItems(kg);
  const cap = machine.fabric.width * machine.fabric.height;
  const ok = (tau: number) => {
    const a = minAreas(items, tau, machine);
    return a !== null && a.reduce((s, x) => s + x, 0) <= cap;
  };
  return searchLeast(ok);
}

/** Least integer τ ≥ start with ok(τ) (ok monotone), searching up to {@link UNBOUNDED_CYCLES}; Infinity if
 * none. */
function searchLeast(ok: (tau: number) => boolean, start = 1): number {
  let lo = Math.max(1, start) - 1; // ok(lo) false (or lo = 0)
  let hi = Math.max(1, start);
  while (!ok(hi)) {
    lo = hi;
    hi *= 2;
    if (hi > UNBOUNDED_CYCLES) return Infinity;
  }
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if (ok(mid)) hi = mid;
    else lo = mid;
  }
  return hi;
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
  readonly items: Item[];
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

  /** The least feasible τ in one orientation (binary search from the area bound), or null. */
  solveLeast(transposed: boolean): FloorplanSolution | null {
    const { lenMax, rowMax } = this.dims(transposed);
    const feasible = (tau: number) => {
      const t = this.tables(tau, transposed);
      return t !== null && shelfDP(t, this.items.length, rowMax, lenMax, 0) !== null;
    };
    const tau = searchLeast(feasible, this.bound);
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
