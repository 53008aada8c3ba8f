/**
 * Pass `checkFit` (KernelGraph → KernelGraph, unchanged) and the fitting questions the sizing passes ask:
 * can a kernel meet a target time τ within one PE's SRAM at all, what is its smallest legal area at τ, the
 * least memory per PE any split reaches, and the area lower bound on the max kernel time (the least τ at
 * which the kernels' smallest legal areas sum to at most the fabric's area). Each kernel's legal rectangles
 * come from its kind module's sizing enumeration (`compiler/kernels/`, `KernelShapes`; docs/design.md §7).
 *
 * Kernels are considered in data-flow order ({@link dataflowOrder}, also the order the floorplan cuts
 * into rows), so the first kernel that cannot fit is the one reported.
 */
import { UserError } from '../../runtime/errors.ts';
import { kernelCost } from '../estimate.ts';
import type { KernelShapes, ShapeVisitor } from '../kernels/kind.ts';
import { kernelKind } from '../kernels/registry.ts';
import type { Kernel, KernelEdge, KernelGraph, KernelSpec } from '../ir.ts';
import { memoryWordsPerPe, type Machine } from '../machine.ts';

/** A practically infinite target time (cycles); keeps `τ · T · U` exact in doubles. */
export const UNBOUNDED_CYCLES = 2 ** 40;
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
export interface SizingItem {
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

/** The kernels of a graph prepared for sizing, in {@link dataflowOrder}, with their largest edge bytes. */
export function prepareItems(kg: KernelGraph): SizingItem[] {
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
export function minAreas(items: readonly SizingItem[], tau: number, machine: Machine): number[] | null {
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

/** The end of every "does not fit" message: what pipelined execution means and the way out. */
const PIPELINED =
  'too large for pipelined execution (every kernel and its weights on the wafer at once; csrun has no weight streaming): use a larger machine or a smaller model';

/** Bytes as B, KB, MB, GB (powers of 1024, 3 significant digits). */
function formatBytes(b: number): string {
  const units = ['bytes', 'KB', 'MB', 'GB', 'TB'];
  let i = 0;
  while (b >= 1024 && i < units.length - 1) {
    b /= 1024;
    i++;
  }
  return i === 0 ? `${b} bytes` : `${b.toPrecision(3)} ${units[i]}`;
}

/** SRAM words a kernel uses at its smallest legal rectangle without a time limit: area × words per PE. */
function minAreaSramWords(it: SizingItem, machine: Machine): number {
  const mem = memoryWordsPerPe(machine);
  const { width: FW, height: FH } = machine.fabric;
  const best = { area: Infinity, a: 0, b: 0, c: 0 };
  forEachShape(it.prep, UNBOUNDED_CYCLES, mem, Math.max(FW, FH), machine.macsPerPePerCycle, (h, w, a, b, c) => {
    if (Math.min(h, w) <= Math.min(FW, FH) && h * w < best.area) Object.assign(best, { area: h * w, a, b, c });
  });
  if (best.area === Infinity) return 0;
  const { area, a, b, c } = best;
  const exec = execFor(it.prep, UNBOUNDED_CYCLES, mem, machine.macsPerPePerCycle, a, b, c);
  return area * kernelCost(it.kernel.spec, exec, it.kernel.copies, machine.macsPerPePerCycle).memoryWordsPerPe;
}

/**
 * Checks that a kernel graph can fit a machine at all: every kernel has a legal rectangle within SRAM, and
 * the kernels' smallest legal areas fit the fabric together.
 * @throws UserError "too large for pipelined execution": naming the kernel, the bytes per PE it needs and the
 *   machine; or, when the kernels fit one by one but not together, the PEs they need (and how many times the
 *   fabric that is), the SRAM they use there against the fabric's, and the largest kernel.
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
            ? `at every split that fits the fabric it needs at least ${bytes} bytes per PE (${words} words of ${machine.wordBytes} bytes), ` +
              `${(bytes / machine.sramBytesPerPe).toFixed(2)}× the SRAM of a PE`
            : `no split of it fits the fabric`) +
          `; ${PIPELINED}`,
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
    const sram = items.reduce((sum, it) => sum + minAreaSramWords(it, machine), 0) * machine.wordBytes;
    const fabricSram = FW * FH * machine.sramBytesPerPe;
    throw new UserError(
      `model too large for ${fabricDesc}: its kernels need at least ${total} PEs at their smallest legal sizes, ` +
        `${(total / (FW * FH)).toFixed(2)}× the fabric's ${FW * FH} PEs, using ${formatBytes(sram)} of SRAM there (the fabric has ${formatBytes(fabricSram)}); ` +
        `largest is kernel '${k.name}' (${k.op}) with ${areas[worst]} PEs, needing ${words * machine.wordBytes} bytes per PE at its finest split; ${PIPELINED}`,
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
 * none. When `stop()` turns true after a feasible τ is known, the search ends early and returns that τ
 * (feasible, not necessarily the least). */
export function searchLeast(ok: (tau: number) => boolean, start = 1, stop: () => boolean = () => false): number {
  let lo = Math.max(1, start) - 1; // ok(lo) false (or lo = 0)
  let hi = Math.max(1, start);
  while (!ok(hi)) {
    lo = hi;
    hi *= 2;
    if (hi > UNBOUNDED_CYCLES) return Infinity;
  }
  while (hi - lo > 1 && !stop()) {
    const mid = Math.floor((lo + hi) / 2);
    if (ok(mid)) hi = mid;
    else lo = mid;
  }
  return hi;
}
