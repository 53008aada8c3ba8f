/**
 * The kernel performance model (DESIGN §7, §9) and the pipeline timing model: the ONE module both the
 * compiler (sizing, reports) and the wafer simulator (its clock) use, so a compile estimate and a simulated
 * run cannot disagree by construction of two formulas.
 *
 * ## Kernel models (cycles per sample, words per PE, rectangle in PEs)
 * `⌈x⌉` is the ceiling, `copies` is 3 (TRAIN, kernels with weights: forward, backward, weight update), 2
 * (TRAIN, kernels without weights: forward, backward) or 1 (EVAL / PREDICT). `m` is
 * `machine.macsPerPePerCycle` (1 in the published model).
 *
 * - **conv** (Cerebras' ISPD 2020 model, DESIGN §7; `H × W` is the *input* image, as in the ISPD kgraph
 *   files, whose edge shapes show a stride-2 conv's H to be its input size; DESIGN §7's "(output)" is read
 *   so that `/T²` counts one MAC per output pixel):
 *   `height = h·w·(c+1)`, `width = copies·k`,
 *   `time = ⌈⌈H/h⌉·⌈W/w⌉·⌈C/c⌉·⌈K/k⌉·R·S / (T·U·m)⌉ + ⌈Ho/h⌉·⌈Wo/w⌉·⌈K/k⌉·e` with `Ho = ⌈H/T⌉`,
 *   `Wo = ⌈W/U⌉` and `e` the fused epilogue ops per output element (0 in the published model; batch
 *   norm, activation, residual add, dropout fused by `lower`),
 *   `memory = ⌈C/c⌉·⌈K/k⌉·R·S + ⌈(W+S−1)/w⌉·⌈(H+R−1)/h⌉·⌈K/k⌉` words (ceilings: whole words per PE).
 *   The contest's T² is `T·U` here (rows × columns stride; equal in every benchmark).
 * - **dblock / cblock** (DESIGN §9): the sub-convolutions of the block side by side sharing `h`, `w`, each
 *   with its own `ci`, `ki`: `height = max`, `width = Σ`, `time = max`, `memory = max` over the sub-convs.
 * - **pool** (ours): a depthwise window, one compare/add per cycle:
 *   `height = h·w`, `width = copies·c`, `time = ⌈⌈H/h⌉·⌈W/w⌉·⌈C/c⌉·R·S / (T·U)⌉ + ⌈Ho/h⌉·⌈Wo/w⌉·⌈C/c⌉·e`
 *   (`e` fused epilogue ops per output element, `Ho = ⌈H/T⌉`, `Wo = ⌈W/U⌉`),
 *   `memory = ⌈(H + max(R−T,0))/h⌉·⌈(W + max(S−U,0))/w⌉·⌈C/c⌉` (input tile plus overlapping halo).
 * - **norm** (ours): `height = h·w`, `width = copies·c`,
 *   `time = ⌈H/h⌉·⌈W/w⌉·⌈C/c⌉·ops + (h−1) + (w−1)` (per-element ops, then a reduction of the per-channel
 *   statistics across the h × w grid, one hop per step), `memory = ⌈H/h⌉·⌈W/w⌉·⌈C/c⌉ + 4·⌈C/c⌉`.
 * - **eltwise** (ours): `height = h`, `width = copies·w`, `time = ⌈N/(h·w)⌉·ops`,
 *   `memory = ⌈N/(h·w)⌉·(arity + 1)`.
 * - **loss** (ours): `height = h`, `width = copies·w`, `time = ⌈N/(h·w)⌉·ops + (h−1) + (w−1)` (softmax
 *   reduction), `memory = 3·⌈N/(h·w)⌉ + 2`.
 * - **embedding** (ours): `height = v`, `width = copies·k`, `time = L·⌈D/k⌉ + (v−1)`,
 *   `memory = ⌈V/v⌉·⌈D/k⌉ + L·⌈D/k⌉`.
 *
 * ## Pipeline model
 * Kernels run concurrently as a pipeline; samples stream through. The steady-state interval between samples
 * is `max(slowest kernel's cycles per sample, busiest link's bytes per sample / link bytes per cycle)`; the
 * first sample needs the critical path's fill (kernel cycles plus hops × hop latency, forward, and in TRAIN
 * the backward pass retracing it). A batch of B samples takes `fill + (B − 1) · interval` cycles
 * ({@link batchCycles}).
 */
import type {
  BlockSpec,
  ConvSpec,
  Copies,
  ExecParams,
  KernelEdge,
  KernelSpec,
  LinkLoad,
  PlanEstimate,
  PoolSpec,
  Route,
} from './ir.ts';
import type { Mode } from '../runtime/graph.ts';
import { linkBytesPerCycle, type Machine } from './machine.ts';

/** One convolution of a conv-like kernel (conv: itself; dblock: 3; cblock: 4). Fields as {@link ConvSpec}. */
export interface SubConv {
  H: number;
  W: number;
  R: number;
  S: number;
  C: number;
  K: number;
  T: number;
  U: number;
  epilogueOps: number;
}

/** What a kernel costs at given execution parameters. */
export interface KernelCost {
  /** R0 rectangle, PEs. */
  width: number;
  height: number;
  /** Cycles per sample. */
  cyclesPerSample: number;
  /** SRAM words needed by each PE. */
  memoryWordsPerPe: number;
  /** Useful operations (MACs for conv) per sample and copy: the work a perfectly efficient kernel does. */
  opsPerSample: number;
}

const cdiv = (a: number, b: number) => Math.ceil(a / b);

/**
 * The sub-convolutions of a conv-like kernel (DESIGN §9 block definitions).
 * dblock(H, W, F): 1×1 F→F/4, 3×3 F/4→F/4, 1×1 F/4→F, all at H × W, stride 1.
 * cblock(H, W, F): 1×1 F/2→F/4 at H × W; 3×3 F/4→F/4 stride 2 at H × W; 1×1 F/4→F at H/2 × W/2;
 * 1×1 F/2→F stride 2 at H × W.
 */
export function subConvs(spec: ConvSpec | BlockSpec): SubConv[] {
  if (spec.kind === 'conv') return [{ ...spec }];
  const { H, W, F } = spec;
  const q = Math.max(1, Math.floor(F / 4));
  const half = Math.max(1, Math.floor(F / 2));
  const c = (H: number, W: number, R: number, C: number, K: number, T: number): SubConv => ({
    H, W, R, S: R, C, K, T, U: T, epilogueOps: 0,
  });
  if (spec.kind === 'dblock') return [c(H, W, 1, F, q, 1), c(H, W, 3, q, q, 1), c(H, W, 1, q, F, 1)];
  return [
    c(H, W, 1, half, q, 1),
    c(H, W, 3, q, q, 2),
    c(Math.ceil(H / 2), Math.ceil(W / 2), 1, q, F, 1),
    c(H, W, 1, half, F, 2),
  ];
}

/** Names of a kernel kind's execution parameters, in the order the `.paint` format lists them. */
export function execKeys(spec: KernelSpec): string[] {
  switch (spec.kind) {
    case 'conv':
      return ['h', 'w', 'c', 'k'];
    case 'dblock':
      return ['h', 'w', 'c1', 'c2', 'c3', 'k1', 'k2', 'k3'];
    case 'cblock':
      return ['h', 'w', 'c1', 'c2', 'c3', 'c4', 'k1', 'k2', 'k3', 'k4'];
    case 'pool':
    case 'norm':
      return ['h', 'w', 'c'];
    case 'eltwise':
    case 'loss':
      return ['h', 'w'];
    case 'embedding':
      return ['v', 'k'];
  }
}

/** Cycles per sample of one sub-convolution at splits h, w, c, k (DESIGN §7 time, plus epilogue). */
export function subConvCycles(sc: SubConv, h: number, w: number, c: number, k: number, macs = 1): number {
  const main = cdiv(cdiv(sc.H, h) * cdiv(sc.W, w) * cdiv(sc.C, c) * cdiv(sc.K, k) * sc.R * sc.S, sc.T * sc.U * macs);
  if (!sc.epilogueOps) return main;
  return main + cdiv(cdiv(sc.H, sc.T), h) * cdiv(cdiv(sc.W, sc.U), w) * cdiv(sc.K, k) * sc.epilogueOps;
}

/** SRAM words per PE of one sub-convolution (DESIGN §7 memory). */
export function subConvMemory(sc: SubConv, h: number, w: number, c: number, k: number): number {
  return cdiv(sc.C, c) * cdiv(sc.K, k) * sc.R * sc.S + cdiv(sc.W + sc.S - 1, w) * cdiv(sc.H + sc.R - 1, h) * cdiv(sc.K, k);
}

/** Useful MACs per sample of one sub-convolution: `H·W·R·S·C·K/(T·U)` plus its epilogue ops. */
export function subConvOps(sc: SubConv): number {
  return (sc.H * sc.W * sc.R * sc.S * sc.C * sc.K) / (sc.T * sc.U) + Math.ceil(sc.H / sc.T) * Math.ceil(sc.W / sc.U) * sc.K * sc.epilogueOps;
}

function need(exec: ExecParams, key: string, max: number, what: string): number {
  const v = exec[key];
  if (!Number.isInteger(v) || v < 1 || v > max) {
    throw new RangeError(`execution parameter ${key}=${v} of ${what} must be an integer in 1..${max}`);
  }
  return v;
}

/**
 * Cost of a kernel at given execution parameters: rectangle (R0), cycles per sample, words per PE and the
 * useful work per sample (see the module doc for every kind's formula).
 * @param spec formal arguments.
 * @param exec execution parameters with the keys of {@link execKeys}.
 * @param copies 3, 2 or 1 (see {@link Copies}).
 * @param macsPerPePerCycle `machine.macsPerPePerCycle` (conv kinds only).
 * @throws RangeError when an execution parameter is missing, not an integer, < 1 or larger than the
 *   dimension it splits.
 */
export function kernelCost(spec: KernelSpec, exec: ExecParams, copies: Copies | number, macsPerPePerCycle = 1): KernelCost {
  switch (spec.kind) {
    case 'conv':
    case 'dblock':
    case 'cblock': {
      const subs = subConvs(spec);
      const maxH = Math.max(...subs.map((s) => s.H));
      const maxW = Math.max(...subs.map((s) => s.W));
      const h = need(exec, 'h', maxH, spec.kind);
      const w = need(exec, 'w', maxW, spec.kind);
      let height = 0;
      let width = 0;
      let time = 0;
      let mem = 0;
      let ops = 0;
      subs.forEach((sc, i) => {
        const suffix = spec.kind === 'conv' ? '' : String(i + 1);
        const c = need(exec, `c${suffix}`, sc.C, spec.kind);
        const k = need(exec, `k${suffix}`, sc.K, spec.kind);
        height = Math.max(height, h * w * (c + 1));
        width += copies * k;
        time = Math.max(time, subConvCycles(sc, h, w, c, k, macsPerPePerCycle));
        mem = Math.max(mem, subConvMemory(sc, h, w, c, k));
        ops += subConvOps(sc);
      });
      return { width, height, cyclesPerSample: time, memoryWordsPerPe: mem, opsPerSample: ops };
    }
    case 'pool': {
      const { H, W, C, R, S, T, U } = spec;
      const h = need(exec, 'h', H, 'pool');
      const w = need(exec, 'w', W, 'pool');
      const c = need(exec, 'c', C, 'pool');
      return {
        width: copies * c,
        height: h * w,
        cyclesPerSample: poolCycles(spec, h, w, c),
        memoryWordsPerPe: cdiv(H + Math.max(R - T, 0), h) * cdiv(W + Math.max(S - U, 0), w) * cdiv(C, c),
        opsPerSample: kernelOps(spec),
      };
    }
    case 'norm': {
      const { H, W, C, opsPerElement } = spec;
      const h = need(exec, 'h', H, 'norm');
      const w = need(exec, 'w', W, 'norm');
      const c = need(exec, 'c', C, 'norm');
      return {
        width: copies * c,
        height: h * w,
        cyclesPerSample: cdiv(H, h) * cdiv(W, w) * cdiv(C, c) * opsPerElement + (h - 1) + (w - 1),
        memoryWordsPerPe: cdiv(H, h) * cdiv(W, w) * cdiv(C, c) + 4 * cdiv(C, c),
        opsPerSample: H * W * C * opsPerElement,
      };
    }
    case 'eltwise': {
      const { N, arity, opsPerElement } = spec;
      const h = need(exec, 'h', N, 'eltwise');
      const w = need(exec, 'w', N, 'eltwise');
      const per = cdiv(N, h * w);
      return {
        width: copies * w,
        height: h,
        cyclesPerSample: per * opsPerElement,
        memoryWordsPerPe: per * (arity + 1),
        opsPerSample: N * opsPerElement,
      };
    }
    case 'loss': {
      const { N, opsPerElement } = spec;
      const h = need(exec, 'h', N, 'loss');
      const w = need(exec, 'w', N, 'loss');
      const per = cdiv(N, h * w);
      return {
        width: copies * w,
        height: h,
        cyclesPerSample: per * opsPerElement + (h - 1) + (w - 1),
        memoryWordsPerPe: 3 * per + 2,
        opsPerSample: N * opsPerElement,
      };
    }
    case 'embedding': {
      const { V, D, L } = spec;
      const v = need(exec, 'v', V, 'embedding');
      const k = need(exec, 'k', D, 'embedding');
      return {
        width: copies * k,
        height: v,
        cyclesPerSample: L * cdiv(D, k) + (v - 1),
        memoryWordsPerPe: cdiv(V, v) * cdiv(D, k) + L * cdiv(D, k),
        opsPerSample: L * D,
      };
    }
  }
}

/** Cycles per sample of a pool kernel at splits h, w, c (module doc). */
export function poolCycles(spec: PoolSpec, h: number, w: number, c: number): number {
  const { H, W, C, R, S, T, U } = spec;
  const main = cdiv(cdiv(H, h) * cdiv(W, w) * cdiv(C, c) * R * S, T * U);
  return spec.epilogueOps ? main + cdiv(cdiv(H, T), h) * cdiv(cdiv(W, U), w) * cdiv(C, c) * spec.epilogueOps : main;
}

/** Useful work per sample and copy of a kernel (independent of execution parameters). */
export function kernelOps(spec: KernelSpec): number {
  switch (spec.kind) {
    case 'conv':
    case 'dblock':
    case 'cblock':
      return subConvs(spec).reduce((s, sc) => s + subConvOps(sc), 0);
    case 'pool':
      return (spec.H * spec.W * spec.C * spec.R * spec.S) / (spec.T * spec.U) + Math.ceil(spec.H / spec.T) * Math.ceil(spec.W / spec.U) * spec.C * spec.epilogueOps;
    case 'norm':
      return spec.H * spec.W * spec.C * spec.opsPerElement;
    case 'eltwise':
    case 'loss':
      return spec.N * spec.opsPerElement;
    case 'embedding':
      return spec.L * spec.D;
  }
}

/** The minimal kernel information the pipeline model needs. */
export interface TimedKernel {
  name: string;
  spec: KernelSpec;
  copies: Copies | number;
  /** Footprint (either orientation), PEs. */
  width: number;
  height: number;
  cyclesPerSample: number;
}

/**
 * Steady-state and fill timing of a placed and routed kernel pipeline.
 * @param kernels placed kernels (in any order).
 * @param edges data-flow edges (external inputs included: their hops count towards the fill).
 * @param routes the routes of `edges` (matched by from/to/tensor; missing routes count 0 hops).
 * @param busiest the busiest directed link (route.ts), or null when nothing is routed.
 * @param mode TRAIN fills forward and backward.
 * @param machine clock, link bandwidth, hop latency, fabric size.
 * @returns every {@link PlanEstimate} field. Rates are samples/s; `samplesPerS` is exactly
 *   `clockHz / max(computeCycles, transmissionCycles)`.
 */
export function planEstimate(
  kernels: readonly TimedKernel[],
  edges: readonly KernelEdge[],
  routes: readonly Route[],
  busiest: LinkLoad | null,
  mode: Mode,
  machine: Machine,
): PlanEstimate {
  const computeCycles = kernels.reduce((m, k) => Math.max(m, k.cyclesPerSample), 0);
  const transmissionCycles = busiest ? busiest.bytesPerSample / linkBytesPerCycle(machine) : 0;
  const intervalCycles = Math.max(computeCycles, transmissionCycles, 1e-9);
  const hz = machine.clockHz;
  const area = kernels.reduce((s, k) => s + k.width * k.height, 0);
  const ops = kernels.reduce((s, k) => s + kernelOps(k.spec) * k.copies, 0);
  const { fill, path } = criticalPath(kernels, edges, routes, machine.hopLatencyCycles);
  let bottleneck = kernels.find((k) => k.cyclesPerSample === computeCycles)?.name ?? '';
  if (busiest && transmissionCycles > computeCycles) bottleneck = `link (${busiest.x},${busiest.y},${busiest.dir})`;
  return {
    intervalCycles,
    computeCycles,
    transmissionCycles,
    samplesPerS: hz / intervalCycles,
    computeSamplesPerS: computeCycles > 0 ? hz / computeCycles : Infinity,
    transmissionSamplesPerS: transmissionCycles > 0 ? hz / transmissionCycles : Infinity,
    fillCycles: mode === 'train' ? 2 * fill : fill,
    criticalPath: path,
    activePeFraction: area / (machine.fabric.width * machine.fabric.height),
    computeUtilization: area > 0 ? ops / (area * machine.macsPerPePerCycle * intervalCycles) : 0,
    bottleneck,
  };
}

/**
 * Longest forward path through the kernel DAG: Σ kernel cycles per sample + Σ route hops × hop latency
 * (external input routes included).
 * @returns the path's cycles and its kernels in order.
 */
export function criticalPath(
  kernels: readonly TimedKernel[],
  edges: readonly KernelEdge[],
  routes: readonly Route[],
  hopLatencyCycles: number,
): { fill: number; path: string[] } {
  const hops = new Map<string, number>();
  for (const r of routes) hops.set(`${r.from}\u0000${r.to}\u0000${r.tensor}`, r.hops);
  const byName = new Map(kernels.map((k) => [k.name, k]));
  const preds = new Map<string, { from: string; lat: number; external: boolean }[]>();
  for (const e of edges) {
    if (!byName.has(e.to)) continue;
    const lat = (hops.get(`${e.from}\u0000${e.to}\u0000${e.tensor}`) ?? 0) * hopLatencyCycles;
    const list = preds.get(e.to) ?? [];
    list.push({ from: e.from, lat, external: e.external || !byName.has(e.from) });
    preds.set(e.to, list);
  }
  const best = new Map<string, { t: number; prev: string | null }>();
  const visiting = new Set<string>();
  const finish = (name: string): number => {
    const got = best.get(name);
    if (got) return got.t;
    if (visiting.has(name)) throw new Error(`kernel graph has a cycle through '${name}'`);
    visiting.add(name);
    let t = 0;
    let prev: string | null = null;
    for (const p of preds.get(name) ?? []) {
      const start = (p.external ? 0 : finish(p.from)) + p.lat;
      if (start > t || (prev === null && !p.external && start >= t)) {
        t = start;
        prev = p.external ? null : p.from;
      }
    }
    visiting.delete(name);
    const total = t + (byName.get(name)?.cyclesPerSample ?? 0);
    best.set(name, { t: total, prev });
    return total;
  };
  let fill = 0;
  let last: string | null = null;
  for (const k of kernels) {
    const t = finish(k.name);
    if (t > fill) {
      fill = t;
      last = k.name;
    }
  }
  const path: string[] = [];
  for (let n = last; n !== null; n = best.get(n)?.prev ?? null) path.unshift(n);
  return { fill, path };
}

/**
 * Simulated cycles for one batch of `batchSize` samples through a compiled plan: pipeline fill along the
 * critical path plus `(batchSize − 1)` bottleneck intervals. The simulator's clock uses this so that its
 * samples/s converges to the compile report's `samplesPerS` (`clockHz / intervalCycles`).
 * @param estimate `plan.estimate`.
 * @param batchSize samples in the batch, ≥ 1.
 * @returns cycles (not rounded).
 * @throws RangeError for a batch size < 1.
 */
export function batchCycles(estimate: Pick<PlanEstimate, 'fillCycles' | 'intervalCycles'>, batchSize: number): number {
  if (!(batchSize >= 1)) throw new RangeError(`batch size must be ≥ 1, got ${batchSize}`);
  return estimate.fillCycles + (batchSize - 1) * estimate.intervalCycles;
}

/**
 * Busy cycles of one kernel over a batch: `cyclesPerSample × batchSize`. Its utilization over the batch is
 * this divided by {@link batchCycles}.
 */
export function kernelBusyCycles(kernel: { cyclesPerSample: number }, batchSize: number): number {
  return kernel.cyclesPerSample * batchSize;
}

/** Per-kernel timing of one batch (see {@link batchTiming}). */
export interface KernelBatchTiming {
  name: string;
  cyclesPerSample: number;
  /** `cyclesPerSample × batchSize`. */
  busyCycles: number;
  /** `batch cycles − busyCycles`. */
  idleCycles: number;
  /** `busyCycles / batch cycles` (0…1). */
  utilization: number;
}

/**
 * The simulator's clock for one batch, from a plan alone: total cycles ({@link batchCycles}), seconds at
 * the machine's clock, and every kernel's busy and idle cycles and utilization. Summed over a run, samples /
 * seconds tends to `plan.estimate.samplesPerS` as batches grow.
 * @param plan a compiled plan (its `estimate`, `kernels` and `machine`).
 * @param batchSize samples in the batch, ≥ 1.
 * @throws RangeError for a batch size < 1.
 */
export function batchTiming(
  plan: { estimate: Pick<PlanEstimate, 'fillCycles' | 'intervalCycles'>; kernels: readonly { name: string; cyclesPerSample: number }[]; machine: Pick<Machine, 'clockHz'> },
  batchSize: number,
): { cycles: number; seconds: number; kernels: KernelBatchTiming[] } {
  const cycles = batchCycles(plan.estimate, batchSize);
  return {
    cycles,
    seconds: cyclesToSeconds(cycles, plan.machine),
    kernels: plan.kernels.map((k) => {
      const busy = kernelBusyCycles(k, batchSize);
      return { name: k.name, cyclesPerSample: k.cyclesPerSample, busyCycles: busy, idleCycles: cycles - busy, utilization: busy / cycles };
    }),
  };
}

/** Seconds of simulated time for `cycles` on a machine: `cycles / clockHz`. */
export function cyclesToSeconds(cycles: number, machine: Pick<Machine, 'clockHz'>): number {
  return cycles / machine.clockHz;
}
