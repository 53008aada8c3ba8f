/**
 * The simulated clock of a wafer running a Plan: every batch advances it by the time the timing simulation
 * (docs/design.md §10) computes for a batch of that size at the run's `sim_level` — the flow engine (default),
 * the wavelet engine, or the compile estimate (`analytic`, wafer-sim/analytic.ts). Timing does not depend on
 * tensor values, so each batch size is simulated once per clock and reused; only its first batch size keeps
 * a trace. The clock also sums the route traffic the compute workers measured, to set beside the
 * simulation's (`sim/utilization.json` routes; wafer-sim/sim-files.ts writes the documents).
 */
import type { Plan } from '../compiler/ir.ts';
import { UserError } from '../runtime/errors.ts';
import type { TransferTraffic } from '../runtime/parallel/schedule.ts';
import { SIM_LEVELS, type SimLevel } from '../runtime/params.ts';
import { analyticResult } from './analytic.ts';
import { simFiles, type SIM_FILES } from './sim-files.ts';
import { simulate, type SimResult } from './sim/index.ts';

/** Options of {@link SimClock}. */
export interface ClockOptions {
  /** Timing level (default `flow`). */
  simLevel?: SimLevel;
}

/** One simulated batch size of a run: its result and how many batches had it. */
export interface BatchTiming {
  result: SimResult;
  batches: number;
}

/**
 * Times one batch of a plan at a level (the flow and wavelet results are cached by the engine).
 * @param trace build the Chrome trace (default true).
 * @throws UserError for an unknown level or what {@link simulate} refuses (a machine without
 *   `io_bytes_per_s`, the wavelet level on a fabric larger than 64 × 64, a corrupted plan).
 */
export function timeBatch(plan: Plan, batchSize: number, level: SimLevel, trace = true): SimResult {
  const K = plan.replicas?.count ?? 1;
  if (K > 1) return replicatedBatch(plan, batchSize, level, trace);
  if (level === 'analytic') return analyticResult(plan, batchSize);
  if (level === 'flow' || level === 'wavelet') return simulate(plan, { batchSize, level, trace });
  throw new UserError(`unknown sim_level '${String(level)}': use one of ${SIM_LEVELS.join(', ')}`);
}

/**
 * A batch of a K-replica plan (compiler/replicas.ts): the replicas occupy disjoint regions and run their
 * ⌈B / K⌉ samples each at the same time, sharing the host I/O (each gets 1/K of `io_bytes_per_s`); then the
 * weight gradients are reduced across them and broadcast back (the plan's `allreduceCycles`, paid once per
 * batch in TRAIN). One replica is simulated; the batch takes its time plus the all-reduce.
 */
function replicatedBatch(plan: Plan, batchSize: number, level: SimLevel, trace: boolean): SimResult {
  const r = plan.replicas!;
  const K = r.count;
  const b = Math.ceil(batchSize / K);
  const m = plan.machine;
  let one: SimResult;
  if (level === 'analytic') {
    const { replicas: _k, allreduceCycles: _a, ...perReplica } = plan.estimate; // fill and interval are one replica's
    one = analyticResult({ ...plan, estimate: perReplica }, b);
  } else if (level === 'flow' || level === 'wavelet') {
    one = simulate(plan, { batchSize: b, level, trace, ...(m.ioBytesPerS ? { ioBytesPerS: m.ioBytesPerS / K } : {}) });
  } else throw new UserError(`unknown sim_level '${String(level)}': use one of ${SIM_LEVELS.join(', ')}`);
  const batchCycles = one.batchCycles + r.allreduceCycles;
  return {
    ...one,
    batchSize,
    batchCycles,
    samplesPerS: (batchSize * m.clockHz) / batchCycles,
    steadySamplesPerS: K * one.steadySamplesPerS,
    replicas: K,
    allreduceCycles: r.allreduceCycles,
  };
}

/** The simulated clock of one Plan (one mode). */
export class SimClock {
  /** Simulated cycles so far. */
  cycles = 0;
  samples = 0;
  batches = 0;
  readonly level: SimLevel;
  /** Bytes the compute workers moved per route (index = route), forward and backward. */
  readonly measuredForward: Float64Array;
  readonly measuredBackward: Float64Array;
  /** Simulated batch sizes in order of first use. */
  readonly timings = new Map<number, BatchTiming>();

  /**
   * @throws UserError (from {@link timeBatch}) when the level cannot time this plan: checked at once on a
   *   batch of the plan's size, before any step runs.
   */
  constructor(
    readonly plan: Plan,
    opts: ClockOptions = {},
  ) {
    this.level = opts.simLevel ?? 'flow';
    this.measuredForward = new Float64Array(plan.routes.length);
    this.measuredBackward = new Float64Array(plan.routes.length);
    timeBatch(plan, plan.batchSize, this.level);
  }

  /**
   * Advances the clock by one batch and adds the route traffic it caused.
   * @param batchSize samples in the batch (≥ 1).
   * @param traffic elements moved per route (index = route, from the compute workers); converted to bytes
   *   with the machine's word size.
   * @returns the batch's simulated cycles.
   */
  advance(batchSize: number, traffic?: TransferTraffic): number {
    let t = this.timings.get(batchSize);
    if (!t) this.timings.set(batchSize, (t = { result: timeBatch(this.plan, batchSize, this.level, this.timings.size === 0), batches: 0 }));
    t.batches++;
    if (traffic) {
      const w = this.plan.machine.wordBytes;
      traffic.forward.forEach((v, i) => (this.measuredForward[i] += v * w));
      traffic.backward.forEach((v, i) => (this.measuredBackward[i] += v * w));
    }
    const c = t.result.batchCycles;
    this.cycles += c;
    this.samples += batchSize;
    this.batches++;
    return c;
  }

  /** Simulated seconds so far. */
  get seconds(): number {
    return this.cycles / this.plan.machine.clockHz;
  }

  /** Simulated samples per second so far (0 before the first batch). */
  get samplesPerSecond(): number {
    return this.cycles > 0 ? this.samples / this.seconds : 0;
  }

  /** The timing of the first batch size (the plan's batch size before any batch ran). */
  get first(): SimResult {
    const t = this.timings.values().next();
    return t.done ? timeBatch(this.plan, this.plan.batchSize, this.level) : t.value.result;
  }

  /**
   * The documents of `model_dir/sim/<mode>/` for the batches so far (wafer-sim/sim-files.ts).
   * @throws RangeError before the first batch.
   */
  files(): Record<(typeof SIM_FILES)[number], string> {
    const timings = [...this.timings.values()];
    const estimate = timeBatch(this.plan, this.first.batchSize, 'analytic');
    return simFiles({ plan: this.plan, level: this.level, timings, estimate, measured: { forward: this.measuredForward, backward: this.measuredBackward } });
  }
}
