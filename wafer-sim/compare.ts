/**
 * The simulation beside the compile estimate (docs/design.md §10), overall and per kernel, with the cause of
 * every difference above {@link THRESHOLD}: `utilization.json`'s `estimate` section and `csrun report`.
 *
 * Cause rules (a batch of B samples; the estimate is `fill + (B − 1) · interval`):
 * - overall: the batch-time difference splits into a fill part (first-sample latency, simulated − estimated)
 *   and a steady part ((B − 1) × interval difference). If the steady part is the larger, the cause is the
 *   simulation's bottleneck when it is not a kernel (`link (x,y,dir)`, `credits <edge>`, `stash <kernel>`,
 *   `ingress host`, `egress host`), else `fill`; if the fill part is the larger the cause is `fill`, named by
 *   the step of the first sample's critical path that the estimate does not have (a transfer's
 *   serialization over its lanes, credits, host ingress) or, when the simulation is faster, the estimate's
 *   TRAIN fill (2 × the forward critical path) being longer than the simulated forward + backward chain.
 * - per kernel (forward pass): a plan error of the kernel → `stash`; blocked > 2% of the batch → `credits`;
 *   first-sample start moved by > 2% of the batch → `fill`; otherwise its utilization moved with the batch
 *   time, and the cause is the overall one.
 */
import type { CriticalStep, SimResult } from './sim/index.ts';

/** Relative difference above which a cause is named. */
export const THRESHOLD = 0.02;

const trainFill = "fill (the estimate's TRAIN fill, 2 × the forward critical path, is longer than the simulated first sample)";

/** One figure, estimated and simulated, with `(simulated − estimated) / estimated`. */
export interface Figure {
  estimate: number;
  simulation: number;
  difference: number;
}

const figure = (estimate: number, simulation: number): Figure => ({ estimate, simulation, difference: estimate !== 0 ? (simulation - estimate) / estimate : simulation === 0 ? 0 : Infinity });

/** The comparison of one batch (same plan and batch size). */
export interface Comparison {
  batch_size: number;
  sim_level: string;
  batch_cycles: Figure;
  samples_per_s: Figure;
  first_sample_latency_cycles: Figure;
  steady_interval_cycles: Figure;
  /** Cause of the batch-time (and samples/s) difference (null when within the threshold). */
  cause: string | null;
  /** Causes of the first-sample latency and steady-interval differences (null when within the threshold). */
  latency_cause: string | null;
  interval_cause: string | null;
  kernels: { name: string; start_cycle: Figure; utilization: Figure; cause: string | null }[];
}

/** What the analytic fill has no term for on the first sample's critical path: its transfers' serialization
 * (or credit waits) and host I/O, in total and the largest step by name. */
function fillCause(sim: SimResult): string {
  const first = sim.criticalPath.filter((s) => s.samples[0] === 0 && s.kind !== 'pass' && s.kind !== 'latency');
  const total = first.reduce((t, s) => t + s.cycles, 0);
  const top = first.reduce<CriticalStep | null>((a, s) => (!a || s.cycles > a.cycles ? s : a), null);
  if (!top || total <= 0) return 'fill';
  const what = top.kind === 'transfer' ? `${top.via === 'credit' ? 'credits for' : 'serialization of'} ${top.name}` : `${top.kind} host`;
  return `fill (transfers and host I/O take ${total.toFixed(0)} cycles of the first sample's path; most: ${what}, ${top.cycles.toFixed(0)})`;
}

/**
 * Compares a simulated batch with the analytic one (wafer-sim/analytic.ts) of the same plan and batch size.
 * @throws RangeError when the two are of different plans or batch sizes.
 */
export function compareToEstimate(sim: SimResult, est: SimResult): Comparison {
  if (sim.planHash !== est.planHash || sim.batchSize !== est.batchSize) throw new RangeError('compareToEstimate: results of different plans or batch sizes');
  const B = sim.batchSize;
  const batch = figure(est.batchCycles, sim.batchCycles);
  let cause: string | null = null;
  if (Math.abs(batch.difference) > THRESHOLD) {
    const fillPart = sim.firstSampleLatencyCycles - est.firstSampleLatencyCycles;
    const steadyPart = (B - 1) * (sim.steadyIntervalCycles - est.steadyIntervalCycles);
    if (Math.abs(steadyPart) >= Math.abs(fillPart)) cause = sim.bottleneck.kind === 'kernel' ? 'fill' : `${sim.bottleneck.kind} ${sim.bottleneck.name}`;
    else if (fillPart > 0) cause = fillCause(sim);
    else cause = sim.mode === 'train' ? trainFill : 'fill';
  }
  const latency = figure(est.firstSampleLatencyCycles, sim.firstSampleLatencyCycles);
  const interval = figure(est.steadyIntervalCycles, sim.steadyIntervalCycles);
  const latencyCause = Math.abs(latency.difference) <= THRESHOLD ? null : latency.difference > 0 ? fillCause(sim) : sim.mode === 'train' ? trainFill : 'fill';
  const bn = sim.bottleneck;
  const intervalCause = Math.abs(interval.difference) <= THRESHOLD ? null : `${bn.kind} ${bn.name}${bn.pass ? ` (${bn.pass})` : ''}`;
  const kernels = sim.kernels.map((k, i) => {
    const e = est.kernels[i];
    const [sp, ep] = [k.passes[0], e.passes[0]];
    const start = figure(ep.fillCycles, sp.fillCycles);
    const util = figure(ep.utilization, sp.utilization);
    let kc: string | null = null;
    const moved = Math.abs(sp.fillCycles - ep.fillCycles) > THRESHOLD * est.batchCycles;
    if (moved || Math.abs(util.difference) > THRESHOLD) {
      if (sim.errors.some((x) => x.kernel === k.name && x.kind === 'stash')) kc = 'stash';
      else if (sp.blockedCycles > THRESHOLD * sim.batchCycles) kc = `credits (blocked ${sp.blockedCycles.toFixed(0)} cycles waiting for receive slots downstream)`;
      else if (moved) kc = `fill (first sample starts at cycle ${sp.fillCycles.toFixed(0)}, estimate ${ep.fillCycles.toFixed(0)})`;
      else kc = cause ?? 'fill';
    }
    return { name: k.name, start_cycle: start, utilization: util, cause: kc };
  });
  return {
    batch_size: B, sim_level: sim.simLevel, batch_cycles: batch, samples_per_s: figure(est.samplesPerS, sim.samplesPerS),
    first_sample_latency_cycles: latency, steady_interval_cycles: interval,
    cause, latency_cause: latencyCause, interval_cause: intervalCause, kernels,
  };
}
