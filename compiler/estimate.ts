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
 * ({@link batchCycles}); each kernel starts when the first sample reaches it ({@link kernelStartCycles},
 * the same walk as {@link criticalPath}). A plan is compiled for one batch size B, and its estimate carries
 * both rates: `steadyStateSamplesPerS = clock / interval` (the slowest kernel / busiest link) and
 * `samplesPerS = B · clock / (fill + (B − 1) · interval)` (the rate a run with batches of B sees).
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
export type SubConv = Omit<ConvSpec, 'kind'>;

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
 * Steady-state, fill and batch timing of a placed and routed kernel pipeline, compiled for batches of
 * `batchSize` samples.
 *
 * Two throughputs, both samples/s:
 * - `steadyStateSamplesPerS = clockHz / intervalCycles = min(computeSamplesPerS, transmissionSamplesPerS)`:
 *   what the slowest kernel and the busiest link allow once the pipeline is full (an infinitely long batch);
 * - `samplesPerS = batchSize · clockHz / batchCycles(estimate, batchSize)`: the effective rate of a batch of
 *   `batchSize` samples, the pipeline fill included — exactly what the simulated clock at `sim_level: analytic` (wafer-sim/clock.ts)
 *   measures for batches of that size, and the headline "estimated samples/s" of the compile report.
 *
 * `computeUtilization` is a steady-state figure (useful work per interval over the active PEs), not reduced
 * by the fill.
 * @param kernels placed kernels (in any order).
 * @param edges data-flow edges (external inputs included: their hops count towards the fill).
 * @param routes the routes of `edges` (matched by from/to/tensor; missing routes count 0 hops).
 * @param busiest the busiest directed link (route.ts), or null when nothing is routed.
 * @param mode TRAIN fills forward and backward.
 * @param machine clock, link bandwidth, hop latency, fabric size.
 * @param batchSize samples per batch the plan is compiled for (an integer ≥ 1).
 * @returns every {@link PlanEstimate} field.
 * @throws RangeError when `batchSize` is not an integer ≥ 1; Error when the kernel graph has a cycle.
 */
export function planEstimate(
  kernels: readonly TimedKernel[],
  edges: readonly KernelEdge[],
  routes: readonly Route[],
  busiest: LinkLoad | null,
  mode: Mode,
  machine: Machine,
  batchSize: number,
): PlanEstimate {
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError(`batch size must be an integer ≥ 1, got ${batchSize}`);
  const computeCycles = kernels.reduce((m, k) => Math.max(m, k.cyclesPerSample), 0);
  const transmissionCycles = busiest ? busiest.bytesPerSample / linkBytesPerCycle(machine) : 0;
  const intervalCycles = Math.max(computeCycles, transmissionCycles, 1e-9);
  const hz = machine.clockHz;
  const area = kernels.reduce((s, k) => s + k.width * k.height, 0);
  const ops = kernels.reduce((s, k) => s + kernelOps(k.spec) * k.copies, 0);
  const { fill, path } = criticalPath(kernels, edges, routes, machine.hopLatencyCycles);
  const fillCycles = mode === 'train' ? 2 * fill : fill;
  let bottleneck = kernels.find((k) => k.cyclesPerSample === computeCycles)?.name ?? '';
  if (busiest && transmissionCycles > computeCycles) bottleneck = `link (${busiest.x},${busiest.y},${busiest.dir})`;
  return {
    intervalCycles,
    computeCycles,
    transmissionCycles,
    samplesPerS: (batchSize * hz) / batchCycles({ fillCycles, intervalCycles }, batchSize),
    steadyStateSamplesPerS: hz / intervalCycles,
    computeSamplesPerS: computeCycles > 0 ? hz / computeCycles : Infinity,
    transmissionSamplesPerS: transmissionCycles > 0 ? hz / transmissionCycles : Infinity,
    fillCycles,
    criticalPath: path,
    activePeFraction: area / (machine.fabric.width * machine.fabric.height),
    computeUtilization: area > 0 ? ops / (area * machine.macsPerPePerCycle * intervalCycles) : 0,
    bottleneck,
  };
}

/**
 * The forward walk of the first sample through the kernel DAG, shared by {@link kernelStartCycles} and
 * {@link criticalPath}: for every kernel (index-aligned with `kernels`) the cycle its last input arrives
 * (longest path over its producers' start + cycles per sample, plus the route's hops × hop latency; an
 * external input is ready at cycle 0) and the producer that arrives last (null for none or an external
 * input; on ties an internal producer wins over an external one, the first such edge otherwise).
 * @throws Error naming a kernel when the graph has a cycle.
 */
function forwardWalk(
  kernels: readonly { name: string; cyclesPerSample: number }[],
  edges: readonly KernelEdge[],
  routes: readonly Route[],
  hopLatencyCycles: number,
): { start: number[]; prev: (number | null)[] } {
  const key = (from: string, to: string, tensor: string) => `${from}\u0000${to}\u0000${tensor}`;
  const hops = new Map<string, number>();
  for (const r of routes) hops.set(key(r.from, r.to, r.tensor), r.hops);
  const index = new Map(kernels.map((k, i) => [k.name, i]));
  const preds: { from: number | null; lat: number }[][] = kernels.map(() => []);
  for (const e of edges) {
    const to = index.get(e.to);
    if (to === undefined) continue;
    const lat = (hops.get(key(e.from, e.to, e.tensor)) ?? 0) * hopLatencyCycles;
    preds[to].push({ from: e.external ? null : (index.get(e.from) ?? null), lat });
  }
  const start = new Array<number>(kernels.length).fill(0);
  const prev = new Array<number | null>(kernels.length).fill(null);
  const state = new Uint8Array(kernels.length); // 0 new, 1 on the stack, 2 done
  const finish = (i: number): number => {
    if (state[i] === 2) return start[i] + kernels[i].cyclesPerSample;
    if (state[i] === 1) throw new Error(`kernel graph has a cycle through '${kernels[i].name}'`);
    state[i] = 1;
    let t = 0;
    let p: number | null = null;
    for (const q of preds[i]) {
      const ready = (q.from === null ? 0 : finish(q.from)) + q.lat;
      if (ready > t || (p === null && q.from !== null && ready >= t)) {
        t = ready;
        p = q.from;
      }
    }
    state[i] = 2;
    start[i] = t;
    prev[i] = p;
    return t + kernels[i].cyclesPerSample;
  };
  kernels.forEach((_, i) => finish(i));
  return { start, prev };
}

/**
 * Cycle, counted from the start of a batch, at which the first sample reaches each kernel: the longest path
 * to it through the kernel DAG, Σ upstream kernels' cycles per sample + Σ route hops × hop latency
 * (external input routes included). The forward half of the fill ({@link criticalPath} is the same walk).
 * The wafer simulator places each kernel's span of a batch at this offset in its trace.
 * @param kernels kernels (any order; only `name` and `cyclesPerSample` are read).
 * @param edges data-flow edges; edges into unknown kernels are ignored, from unknown producers count as
 *   external inputs.
 * @param routes the routes of `edges` (matched by from/to/tensor; missing routes count 0 hops).
 * @param hopLatencyCycles cycles per fabric hop (`machine.hopLatencyCycles`).
 * @returns start cycles, index-aligned with `kernels`.
 * @throws Error naming a kernel when the graph has a cycle.
 */
export function kernelStartCycles(
  kernels: readonly { name: string; cyclesPerSample: number }[],
  edges: readonly KernelEdge[],
  routes: readonly Route[],
  hopLatencyCycles: number,
): number[] {
  return forwardWalk(kernels, edges, routes, hopLatencyCycles).start;
}

/**
 * Longest forward path through the kernel DAG: Σ kernel cycles per sample + Σ route hops × hop latency
 * (external input routes included); `fill` is the latest finish of any kernel, i.e. the max over kernels of
 * {@link kernelStartCycles} + its cycles per sample.
 * @returns the path's cycles and its kernels in order.
 * @throws Error naming a kernel when the graph has a cycle.
 */
export function criticalPath(
  kernels: readonly { name: string; cyclesPerSample: number }[],
  edges: readonly KernelEdge[],
  routes: readonly Route[],
  hopLatencyCycles: number,
): { fill: number; path: string[] } {
  const { start, prev } = forwardWalk(kernels, edges, routes, hopLatencyCycles);
  let fill = 0;
  let last: number | null = null;
  kernels.forEach((k, i) => {
    const t = start[i] + k.cyclesPerSample;
    if (t > fill) {
      fill = t;
      last = i;
    }
  });
  const path: string[] = [];
  for (let i: number | null = last; i !== null; i = prev[i]) path.unshift(kernels[i].name);
  return { fill, path };
}

/**
 * Simulated cycles for one batch of `batchSize` samples through a compiled plan: pipeline fill along the
 * critical path plus `(batchSize − 1)` bottleneck intervals. The simulated clock uses this at `sim_level: analytic`, so a run whose
 * batches have the plan's batch size simulates exactly the compile report's `samplesPerS`
 * (`B · clockHz / batchCycles`); as batches grow the rate tends to `steadyStateSamplesPerS`
 * (`clockHz / intervalCycles`). A plan of K data-parallel replicas (compiler/replicas.ts) runs ⌈B / K⌉ samples
 * per replica and then its gradient all-reduce: `fill + (⌈B / K⌉ − 1) · interval + allreduceCycles`.
 * @param estimate `plan.estimate`.
 * @param batchSize samples in the batch, ≥ 1.
 * @returns cycles (not rounded).
 * @throws RangeError for a batch size < 1.
 */
export function batchCycles(estimate: Pick<PlanEstimate, 'fillCycles' | 'intervalCycles' | 'replicas' | 'allreduceCycles'>, batchSize: number): number {
  if (!(batchSize >= 1)) throw new RangeError(`batch size must be ≥ 1, got ${batchSize}`);
  const K = estimate.replicas ?? 1;
  return estimate.fillCycles + (Math.ceil(batchSize / K) - 1) * estimate.intervalCycles + (estimate.allreduceCycles ?? 0);
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
 * The analytic clock for one batch, from a plan alone: total cycles ({@link batchCycles}), seconds at
 * the machine's clock, and every kernel's busy and idle cycles and utilization. Summed over a run of batches
 * of the plan's batch size, samples / seconds equals `plan.estimate.samplesPerS`.
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
