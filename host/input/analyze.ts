/**
 * The input analyzer (`csrun analyze-input`, after Cerebras' `cs_input_analyzer`): can the model's input
 * pipeline keep the wafer fed? It runs the real `inputFn` through the support server with each worker count
 * for a bounded time, with a consumer that does no work, and measures what the workers deliver. It then
 * compares that with the wafer's rate for the compiled plan and says how many input workers would be
 * needed, and how to ask Slurm for them (docs/design.md §10, "the wafer is one part of a system").
 *
 * Figures (per measurement, over the timed window after a warm-up):
 * - `samples_per_s`, `bytes_per_s`: what the consumer received (batch rows and tensor bytes ÷ seconds);
 * - `cpu_s_per_s`: CPU-seconds the input worker threads used per second (Σ of their thread CPU time,
 *   runtime/parallel/thread-cpu.ts, ÷ elapsed time);
 * - `per_worker_samples_per_s`: samples per CPU-second of one worker (samples ÷ Σ CPU seconds): what one
 *   worker with a core to itself delivers, independent of how many cores this host has.
 *
 * Scaling fit: `efficiency` = samples_per_s(n) ÷ (n × per-worker rate) for each n; below 1 when the host
 * runs out of cores, is loaded by other processes, or the pipeline contends (memory bandwidth, GC).
 *
 * Recommendation: `workers_needed` = ⌈wafer samples/s ÷ per-worker samples/s⌉, the per-worker rate being
 * samples per CPU-second at the smallest worker count measured ({@link perWorkerRate}). Slurm: one support-server task per
 * node, one input worker per CPU of that task, and one CPU for the task's main thread (the stream's merge
 * and transfer): cpus_per_task = min(workers_needed, C − 1) + 1 where C is `--cores-per-node`, nodes =
 * ⌈workers_needed ÷ (cpus_per_task − 1)⌉, ntasks_per_node = 1. ASSUMPTION: input workers scale linearly
 * across nodes (each node reads its own shard; csrun shards by `inputPipelineId`).
 */
import { performance } from 'node:perf_hooks';
import { UserError } from '../../runtime/errors.ts';
import type { Mode } from '../../runtime/graph.ts';
import type { Params } from '../../runtime/params.ts';
import { batchBytes, batchRows } from '../../runtime/batch.ts';
import { SupportServer } from './support-server.ts';

/** One worker count's measurement (keys as written to input_analysis.json). */
export interface InputMeasurement {
  workers: number;
  /** Samples per second the consumer received. */
  samples_per_s: number;
  /** Tensor bytes (features and labels) per second the consumer received. */
  bytes_per_s: number;
  /** CPU-seconds per second used by all input workers together. */
  cpu_s_per_s: number;
  /** Samples per CPU-second of one worker. */
  per_worker_samples_per_s: number;
  /** samples_per_s ÷ (workers × the per-worker rate); 1 = linear scaling. */
  efficiency: number;
  /** Batches timed. */
  batches: number;
  /** Seconds timed. */
  seconds: number;
}

/** Slurm settings for the input workers (`#SBATCH --nodes --ntasks-per-node --cpus-per-task`). */
export interface SlurmSettings {
  nodes: number;
  ntasks_per_node: number;
  cpus_per_task: number;
}

/** The analyzer's result, written as `model_dir/input_analysis.json`. */
export interface InputAnalysis {
  mode: Mode;
  /** Rows of the first batch. */
  batch_size: number;
  /** Bytes of one sample (features and labels). */
  bytes_per_sample: number;
  measurements: InputMeasurement[];
  /** The per-worker rate the recommendation uses (samples/s). */
  per_worker_samples_per_s: number;
  /** The wafer's rate for the compiled plan (samples/s) and where it came from. */
  wafer_samples_per_s: number;
  wafer_rate_source: string;
  /** Best measured rate below the wafer's. */
  input_bound: boolean;
  /** wafer samples/s ÷ best measured samples/s (> 1: input-bound by this factor). */
  input_bound_factor: number;
  workers_needed: number;
  cores_per_node: number;
  slurm: SlurmSettings;
}

/** Options of {@link measureInput}. */
export interface MeasureOptions {
  dataModule: string;
  params: Params;
  mode: Mode;
  /** Worker counts to measure, each ≥ 1. */
  workers: number[];
  /** Seconds timed per worker count (> 0). */
  seconds: number;
  /** Batches consumed before timing starts (default 8 + 2 × workers: more than the support server's
   * default read-ahead, so that batches produced ahead during start-up do not inflate the timed rate). */
  warmupBatches?: number;
  /** Called after each measurement (progress). */
  onMeasurement?: (m: InputMeasurement) => void;
}

/**
 * Runs the input pipeline with each worker count for `seconds` (after a warm-up) and measures it.
 * @returns one measurement per worker count, and the batch size and bytes per sample of the stream.
 * @throws UserError naming the input function when it yields nothing (before or during the warm-up) or
 *   throws (the support server's message, which names the worker, the data module and the error); when a
 *   worker count is not an integer ≥ 1 or seconds is not > 0.
 */
export async function measureInput(opts: MeasureOptions): Promise<{ batchSize: number; bytesPerSample: number; measurements: InputMeasurement[] }> {
  if (!(opts.seconds > 0)) throw new UserError(`analyze-input: --seconds must be > 0 (got ${opts.seconds})`);
  for (const n of opts.workers) if (!Number.isInteger(n) || n < 1) throw new UserError(`analyze-input: --workers must list integers ≥ 1 (got ${opts.workers.join(',')})`);
  const measurements: InputMeasurement[] = [];
  let batchSize = 0;
  let bytesPerSample = 0;
  for (const workers of opts.workers) {
    const warmup = opts.warmupBatches ?? 8 + 2 * workers;
    const server = await SupportServer.start({ dataModule: opts.dataModule, params: opts.params, mode: opts.mode, numWorkers: workers });
    try {
      const empty = () => new UserError(`${server.dataModule}: inputFn (mode ${opts.mode}) yielded no batches (or ended within ${warmup} batches); analyze-input needs a longer stream: repeat() it`);
      for (let i = 0; i < warmup; i++) {
        const r = await server.next();
        if (r.done) throw empty();
        batchSize ||= batchRows(r.value);
        bytesPerSample ||= batchBytes(r.value) / batchRows(r.value);
      }
      const busy0 = server.stats().busyMs.reduce((a, b) => a + b, 0);
      const t0 = performance.now();
      let batches = 0;
      let samples = 0;
      let bytes = 0;
      while (performance.now() - t0 < opts.seconds * 1000) {
        const r = await server.next();
        if (r.done) break;
        batches++;
        samples += batchRows(r.value);
        bytes += batchBytes(r.value);
        batchSize ||= batchRows(r.value);
        bytesPerSample ||= batchBytes(r.value) / batchRows(r.value);
      }
      const seconds = (performance.now() - t0) / 1000;
      const busyS = (server.stats().busyMs.reduce((a, b) => a + b, 0) - busy0) / 1000;
      if (batches === 0) throw empty();
      const m: InputMeasurement = {
        workers,
        samples_per_s: samples / seconds,
        bytes_per_s: bytes / seconds,
        cpu_s_per_s: busyS / seconds,
        per_worker_samples_per_s: busyS > 0 ? samples / busyS : samples / seconds / workers,
        efficiency: 1,
        batches,
        seconds,
      };
      measurements.push(m);
      opts.onMeasurement?.(m);
    } finally {
      await server.close();
    }
  }
  const base = perWorkerRate(measurements);
  for (const m of measurements) m.efficiency = base > 0 ? m.samples_per_s / (m.workers * base) : 0;
  return { batchSize, bytesPerSample, measurements };
}

/**
 * The per-worker rate: samples per CPU-second of one worker, at the smallest worker count measured
 * (samples/s). It is what a worker delivers with a core to itself, so it does not depend on how loaded this
 * host is (a wall-clock rate would).
 */
export function perWorkerRate(ms: readonly InputMeasurement[]): number {
  if (ms.length === 0) return 0;
  return ms.reduce((a, b) => (b.workers < a.workers ? b : a)).per_worker_samples_per_s;
}

/**
 * Slurm settings for `workersNeeded` input workers on nodes of `coresPerNode` cores (see the module
 * comment for the rule).
 * @throws UserError when coresPerNode < 2 (one core is the task's main thread) or workersNeeded < 1.
 */
export function slurmSettings(workersNeeded: number, coresPerNode: number): SlurmSettings {
  if (!Number.isInteger(coresPerNode) || coresPerNode < 2) throw new UserError(`analyze-input: --cores-per-node must be an integer ≥ 2 (one core runs the support server's main thread), got ${coresPerNode}`);
  const w = Math.max(1, workersNeeded);
  const perTask = Math.min(w, coresPerNode - 1);
  return { nodes: Math.ceil(w / perTask), ntasks_per_node: 1, cpus_per_task: perTask + 1 };
}

/**
 * Compares measurements with the wafer's rate and derives the recommendation.
 * @param wafer the wafer's samples/s (> 0) and where the figure came from.
 * @throws UserError for no measurements or a bad core count.
 */
export function analyzeMeasurements(
  measured: { batchSize: number; bytesPerSample: number; measurements: InputMeasurement[] },
  mode: Mode,
  wafer: { samplesPerS: number; source: string },
  coresPerNode: number,
): InputAnalysis {
  const ms = measured.measurements;
  if (ms.length === 0) throw new UserError('analyze-input: nothing was measured');
  const perWorker = perWorkerRate(ms);
  const best = Math.max(...ms.map((m) => m.samples_per_s));
  const workersNeeded = perWorker > 0 ? Math.max(1, Math.ceil(wafer.samplesPerS / perWorker)) : Infinity;
  return {
    mode,
    batch_size: measured.batchSize,
    bytes_per_sample: measured.bytesPerSample,
    measurements: ms,
    per_worker_samples_per_s: perWorker,
    wafer_samples_per_s: wafer.samplesPerS,
    wafer_rate_source: wafer.source,
    input_bound: best < wafer.samplesPerS,
    input_bound_factor: wafer.samplesPerS / best,
    workers_needed: workersNeeded,
    cores_per_node: coresPerNode,
    slurm: slurmSettings(workersNeeded, coresPerNode),
  };
}

/** Formats a rate with SI prefix, e.g. 1.23e6 → "1.23 M". */
function si(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  const a = Math.abs(x);
  if (a >= 1e9) return `${(x / 1e9).toFixed(2)} G`;
  if (a >= 1e6) return `${(x / 1e6).toFixed(2)} M`;
  if (a >= 1e3) return `${(x / 1e3).toFixed(1)} k`;
  return x.toFixed(1) + ' ';
}

/** The human report (`input_analysis.txt`): measurements, the verdict, the Slurm block. */
export function formatInputAnalysis(a: InputAnalysis, title: string): string {
  const lines = [
    `Input analysis: ${title}, mode ${a.mode}, batch ${a.batch_size}, ${a.bytes_per_sample.toFixed(0)} bytes/sample`,
    '',
    'workers  samples/s   bytes/s     cpu s/s  per-worker samples/s  efficiency',
    ...a.measurements.map(
      (m) =>
        `${String(m.workers).padStart(7)}  ${si(m.samples_per_s).padStart(9)}  ${(si(m.bytes_per_s) + 'B').padStart(9)}  ${m.cpu_s_per_s.toFixed(2).padStart(8)}  ${si(m.per_worker_samples_per_s).padStart(20)}  ${m.efficiency.toFixed(2).padStart(10)}`,
    ),
    '',
    `Wafer rate: ${si(a.wafer_samples_per_s)}samples/s (${a.wafer_rate_source})`,
    a.input_bound
      ? `Input-bound: the best measured input rate is ${a.input_bound_factor.toFixed(1)}× below the wafer's rate.`
      : `Not input-bound: the input pipeline delivers ${(1 / a.input_bound_factor).toFixed(1)}× the wafer's rate.`,
    `Input workers needed to keep the wafer fed: ${a.workers_needed} (at ${si(a.per_worker_samples_per_s)}samples/s per worker)`,
    '',
    `Slurm settings for nodes of ${a.cores_per_node} cores (one support-server task per node, one input worker per CPU, one CPU for its main thread):`,
    `#SBATCH --nodes=${a.slurm.nodes}`,
    `#SBATCH --ntasks-per-node=${a.slurm.ntasks_per_node}`,
    `#SBATCH --cpus-per-task=${a.slurm.cpus_per_task}`,
  ];
  return lines.join('\n') + '\n';
}
