/**
 * The run's performance record: `performance.json` (host and simulated samples/s, the compile estimate,
 * input-wait fraction, workers) and the simulator's `sim/utilization.json` and `sim/trace.json`, written
 * when training ends, with a one-line summary in the log.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Mode } from '../../runtime/graph.ts';
import { ensureDir, writeFileAtomic, writeJsonAtomic } from '../../runtime/fs.ts';
import type { Wafer } from '../../wafer-sim/wafer.ts';
import type { ModelDirLayout } from '../model-dir.ts';
import { boundLabel, type SystemBound } from '../input/system-rate.ts';
import { formatRate, sessionSystemRate, type RunContext, type RunValues, type Session, type SessionRunHook } from './session.ts';

/**
 * Writes the simulated clock's reports of a wafer run in `mode` into `sim[/<mode>]/` (wafer-sim/sim-files.ts:
 * utilization.json, links.json, links.svg, trace.json; see {@link ModelDirLayout}); nothing before the
 * first batch.
 */
export function writeSimReports(wafer: Wafer, out: ModelDirLayout, mode: Mode): void {
  if (wafer.clock.batches === 0) return;
  const dir = out.sim(mode);
  ensureDir(dir);
  for (const [file, text] of Object.entries(wafer.clock.files())) writeFileAtomic(path.join(dir, file), text);
}

/** The fields of `performance.json`. */
export interface PerformanceRecord {
  steps: number;
  samples: number;
  /** Host time of the steps, s (checkpointing and evaluation excluded). */
  wall_seconds: number;
  host_samples_per_s: number;
  /** Samples per second of simulated wafer time (cycles / machine clock_hz). */
  simulated_samples_per_s: number;
  /** The compiler's estimate (plan.estimate.samplesPerS). */
  estimated_samples_per_s: number;
  /** The simulated wafer's rate (= simulated_samples_per_s): the wafer alone, fed without limit. */
  wafer_samples_per_s: number;
  /** Host-to-wafer I/O limit: machine io_bytes_per_s ÷ input bytes per sample (null: no I/O bandwidth). */
  io_samples_per_s: number | null;
  /** The input pipeline's capacity from the input workers' busy time per sample (null: not measured). */
  input_pipeline_samples_per_s: number | null;
  /** min(wafer, I/O, input pipeline): what the system would sustain, and the part that bounds it. */
  system_samples_per_s: number;
  system_bound: SystemBound;
  /** Fraction of host time the loop waited for input batches. */
  input_wait_fraction: number;
  input_workers: number;
  compute_workers: number;
  compute_shards: number;
}

/**
 * `model_dir/performance/performance.json` as a Cerebras run writes it, so that tools reading Cerebras runs
 * read csrun's: `total_samples`, `total_time` (s), `samples_per_sec`, `compile_time` (s), `programming_time`
 * (s), `est_samples_per_sec`. csrun's meanings: time is the simulated wafer's (the run's samples at the
 * simulated clock), samples_per_sec the simulated wafer rate, est_samples_per_sec the compile estimate,
 * compile_time this run's compile (0 on a compile-cache hit), programming_time 0 (nothing is loaded onto a
 * real wafer).
 */
export interface CerebrasPerformance {
  total_samples: number;
  total_time: number;
  samples_per_sec: number;
  compile_time: number;
  programming_time: number;
  est_samples_per_sec: number;
}

/** Writes `performance.json`, `performance/performance.json` (Cerebras keys) and the sim reports in `end`. */
export class PerformanceHook implements SessionRunHook {
  private samples = 0;
  private cycles = 0;

  afterRun(_ctx: RunContext, v: RunValues): void {
    this.samples += v.samples;
    this.cycles += v.simulatedCycles;
  }

  end(s: Session): void {
    const wall = s.runMs / 1000;
    const st = s.inputStats();
    const simulated = this.cycles > 0 ? this.samples / (this.cycles / s.machine.clockHz) : 0;
    const sys = sessionSystemRate(s, simulated);
    const finite = (x: number) => (Number.isFinite(x) ? x : null);
    const perf: PerformanceRecord = {
      steps: s.globalStep - s.startStep,
      samples: this.samples,
      wall_seconds: wall,
      host_samples_per_s: this.samples / wall,
      simulated_samples_per_s: simulated,
      wafer_samples_per_s: simulated,
      io_samples_per_s: finite(sys.ioSamplesPerS),
      input_pipeline_samples_per_s: finite(sys.inputSamplesPerS),
      system_samples_per_s: sys.samplesPerS,
      system_bound: sys.bound,
      estimated_samples_per_s: s.plan.estimate.samplesPerS,
      input_wait_fraction: st.inputWaitFraction,
      input_workers: st.numWorkers,
      compute_workers: s.wafer.computeWorkers,
      compute_shards: s.wafer.computeShards,
    };
    writeJsonAtomic(s.out.performance, perf);
    const cerebras: CerebrasPerformance = {
      total_samples: this.samples,
      total_time: this.cycles / s.machine.clockHz,
      samples_per_sec: simulated,
      compile_time: s.compileSeconds,
      programming_time: 0,
      est_samples_per_sec: s.plan.estimate.samplesPerS,
    };
    fs.mkdirSync(path.dirname(s.out.cerebrasPerformance), { recursive: true });
    writeJsonAtomic(s.out.cerebrasPerformance, cerebras);
    writeSimReports(s.wafer, s.out, 'train');
    s.log(
      `Host ${formatRate(perf.host_samples_per_s)} samples/s; wafer ${formatRate(simulated)} samples/s simulated (compile estimate ${formatRate(perf.estimated_samples_per_s)}); ` +
        `system ${formatRate(sys.samplesPerS)} samples/s, ${boundLabel(sys)} (input pipeline ${formatRate(sys.inputSamplesPerS)}, host I/O ${formatRate(sys.ioSamplesPerS)} samples/s); input wait ${(100 * perf.input_wait_fraction).toFixed(1)}%`,
    );
  }
}
