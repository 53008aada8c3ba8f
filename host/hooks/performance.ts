/**
 * The run's performance record: `performance.json` (host and simulated samples/s, the compile estimate,
 * input-wait fraction, workers) and the simulator's `sim/utilization.json` and `sim/trace.json`, written
 * when training ends, with a one-line summary in the log.
 */
import fs from 'node:fs';
import path from 'node:path';
import { writeFileAtomic } from '../../runtime/checkpoint.ts';
import type { Wafer } from '../../wafer-sim/wafer.ts';
import { formatRate, type RunContext, type RunValues, type Session, type SessionRunHook } from './session.ts';

/**
 * Writes the simulated clock's reports of a wafer: `<modelDir>/sim/<sub>/utilization.json` (per-kernel
 * busy/idle cycles, route traffic) and `trace.json` (Chrome trace-event format).
 */
export function writeSimReports(wafer: Wafer, modelDir: string, sub = ''): void {
  const dir = path.join(modelDir, 'sim', sub);
  fs.mkdirSync(dir, { recursive: true });
  writeFileAtomic(path.join(dir, 'utilization.json'), JSON.stringify(wafer.clock.utilization(), null, 2) + '\n');
  writeFileAtomic(path.join(dir, 'trace.json'), JSON.stringify(wafer.clock.trace()) + '\n');
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
  /** Fraction of host time the loop waited for input batches. */
  input_wait_fraction: number;
  input_workers: number;
  compute_workers: number;
  compute_shards: number;
}

/** Writes `performance.json` and the sim reports in `end`. */
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
    const perf: PerformanceRecord = {
      steps: s.globalStep - s.startStep,
      samples: this.samples,
      wall_seconds: wall,
      host_samples_per_s: this.samples / wall,
      simulated_samples_per_s: this.cycles > 0 ? this.samples / (this.cycles / s.machine.clockHz) : 0,
      estimated_samples_per_s: s.plan.estimate.samplesPerS,
      input_wait_fraction: st.inputWaitFraction,
      input_workers: st.numWorkers,
      compute_workers: s.wafer.computeWorkers,
      compute_shards: s.wafer.computeShards,
    };
    writeFileAtomic(path.join(s.modelDir, 'performance.json'), JSON.stringify(perf, null, 2) + '\n');
    writeSimReports(s.wafer, s.modelDir);
    s.log(`Host ${formatRate(perf.host_samples_per_s)} samples/s, simulated ${formatRate(perf.simulated_samples_per_s)} samples/s (compile estimate ${formatRate(perf.estimated_samples_per_s)}), input wait ${(100 * perf.input_wait_fraction).toFixed(1)}%`);
  }
}
