/**
 * The performance model's front door and the pipeline timing model: the ONE module both the compiler
 * (sizing, reports) and the wafer simulator (its clock) use, so a compile estimate and a simulated run cannot
 * disagree by construction of two formulas.
 *
 * ## Kernel models (cycles per sample, words per PE, rectangle in PEs)
 * Each kernel kind's formulas live in its module in `compiler/kernels/` (conv.ts: conv, dblock, cblock;
 * pool.ts, norm.ts, eltwise.ts, loss.ts, embedding.ts; docs/design.md §7, §9); {@link kernelCost},
 * {@link kernelOps} and {@link execKeys} look the kind up in the registry. `copies` is 3 (TRAIN, kernels with
 * weights: forward, backward, weight update), 2 (TRAIN, kernels without weights: forward, backward) or 1
 * (EVAL / PREDICT); `macsPerPePerCycle` is `machine.macsPerPePerCycle` (1 in the published model).
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
import type { Copies, ExecParams, KernelEdge, KernelSpec, LinkLoad, PlanEstimate, Route } from './ir.ts';
import type { Mode } from '../runtime/graph.ts';
import { kernelKind } from './kernels/registry.ts';
import type { KernelCost } from './kernels/kind.ts';
import { linkBytesPerCycle, type Machine } from './machine.ts';

export type { KernelCost } from './kernels/kind.ts';

/** Names of a kernel kind's execution parameters, in the order the `.paint` format lists them. */
export function execKeys(spec: KernelSpec): string[] {
  return kernelKind(spec.kind).execKeys(spec);
}

/**
 * Cost of a kernel at given execution parameters: rectangle (R0), cycles per sample, words per PE and the
 * useful work per sample (the kind module's formulas).
 * @param spec formal arguments.
 * @param exec execution parameters with the keys of {@link execKeys}.
 * @param copies 3, 2 or 1 (see {@link Copies}).
 * @param macsPerPePerCycle `machine.macsPerPePerCycle` (conv kinds only).
 * @throws RangeError when an execution parameter is missing, not an integer, < 1 or larger than the
 *   dimension it splits; Error for an unregistered kind.
 */
export function kernelCost(spec: KernelSpec, exec: ExecParams, copies: Copies | number, macsPerPePerCycle = 1): KernelCost {
  return kernelKind(spec.kind).cost(spec, exec, copies, macsPerPePerCycle);
}

/** Useful work per sample and copy of a kernel (independent of execution parameters). */
export function kernelOps(spec: KernelSpec): number {
  return kernelKind(spec.kind).ops(spec);
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
