/**
 * The Estimator loop (tf.estimator semantics on the simulated wafer): train, evaluate, train_and_evaluate,
 * evaluate every checkpoint, predict. It drives the path of DESIGN §1:
 * support server (input workers) → trace modelFn on the first batch's shapes → compile (cached) →
 * load the Plan on a Wafer → stream batches → checkpoints, summaries, reports in model_dir.
 *
 * tf.estimator behaviours kept:
 * - `max_steps` is absolute, `--steps` incremental; training resumes from the latest checkpoint in
 *   model_dir (or `--checkpoint-path`), and does nothing when max_steps is already reached.
 * - checkpoints every `save_checkpoints_steps` and at the end; `keep_checkpoint_max` newest kept (0: all).
 * - scalars every `save_summary_steps`, a log line every `log_step_count_steps`.
 * - evaluation needs a checkpoint (TF raises "Could not find trained model in model_dir"); it writes
 *   `eval/results.json` and eval summaries at the checkpoint's global step.
 * Extra: Ctrl-C saves a checkpoint and exits cleanly; a NaN or infinite loss stops training with an error
 * naming the step, leaving the last good checkpoint as the latest.
 */
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import cliProgress from 'cli-progress';
import { compileToDir } from '../compiler/pipeline.ts';
import type { Plan } from '../compiler/ir.ts';
import type { Machine } from '../compiler/machine.ts';
import { latestCheckpoint, readCheckpoint, readIndex, saveCheckpoint, type Checkpoint, type StoredTensor } from '../runtime/checkpoint.ts';
import { UserError } from '../runtime/errors.ts';
import { batchRows, type Batch } from '../runtime/batch.ts';
import type { NamedArray } from '../runtime/exec/store.ts';
import { metricResult } from '../runtime/exec/metrics.ts';
import type { Graph, Mode } from '../runtime/graph.ts';
import { Wafer } from '../wafer-sim/wafer.ts';
import type { ModelDir } from './model-dir.ts';
import { signatureOf, traceModel, writeRunFiles } from './model-dir.ts';
import { writeFileAtomic } from '../runtime/checkpoint.ts';
import { SummaryWriter } from './summaries.ts';
import { SupportServer } from './support-server.ts';

/** Options shared by every Estimator run. */
export interface EstimatorOptions {
  machine: Machine;
  /** Compute workers (data-parallel replicas); default `runconfig.compute_workers`, 0 = one per core. */
  computeWorkers?: number;
  /** Input workers of the support server; default from the input section / the machine. */
  inputWorkers?: number;
  /** Where log lines go (default: stdout). */
  log?: (line: string) => void;
  /** Show a progress bar (default: stdout is a TTY). */
  progress?: boolean;
}

/** Result of {@link Estimator.train}. */
export interface TrainSummary {
  globalStep: number;
  /** Loss of the last step run (undefined if no step ran). */
  loss?: number;
  stepsRun: number;
  interrupted: boolean;
  checkpoint?: string;
}

/** Result of one evaluation (also written to `eval/results.json`). */
export interface EvalResults {
  global_step: number;
  loss: number;
  [metric: string]: number;
}

/** A compiled mode: its graph and plan. */
interface Compiled {
  graph: Graph;
  plan: Plan;
}


/** Human rate: `1.23e+06` style beyond 10⁵. */
function rate(x: number): string {
  return x >= 1e5 ? x.toExponential(2) : x >= 100 ? x.toFixed(0) : x.toFixed(2);
}

/**
 * The checkpoint of a wafer's state: every parameter by name and every optimizer slot as `<param>/<slot>`
 * (F32), at global step `step`.
 */
export function checkpointOf(state: { params: NamedArray[]; slots: NamedArray[] }, graph: Graph, step: number): Checkpoint {
  const tensors: Record<string, StoredTensor> = {};
  for (const a of [...state.params, ...state.slots]) tensors[a.name] = { dtype: 'F32', shape: a.shape, data: a.data };
  return { globalStep: step, tensors, metadata: { optimizer: graph.optimizer?.name ?? '', seed: String(graph.seed) } };
}

/** Runs tf.estimator modes for one model directory. */
export class Estimator {
  private readonly log: (line: string) => void;
  private readonly compiled = new Map<Mode, Compiled>();
  private interrupted = false;

  constructor(
    readonly md: ModelDir,
    readonly opts: EstimatorOptions,
  ) {
    this.log = opts.log ?? ((l) => process.stdout.write(l + '\n'));
  }

  /** Absolute model_dir. */
  get modelDir(): string {
    return this.md.params.runconfig.model_dir;
  }

  private get computeWorkers(): number {
    return this.opts.computeWorkers ?? this.md.params.runconfig.compute_workers;
  }

  /** Starts the support server for a mode and takes the first batch (its shapes fix the traced graph). */
  private async startInput(mode: Mode, startStep: number, numWorkers = this.opts.inputWorkers): Promise<{ server: SupportServer; first: Batch | undefined }> {
    const server = await SupportServer.start({
      dataModule: this.md.dataFile,
      params: this.md.params,
      mode,
      startStep,
      ...(numWorkers ? { numWorkers } : {}),
    });
    try {
      const r = await server.next();
      return { server, first: r.done ? undefined : r.value };
    } catch (e) {
      await server.close();
      throw e;
    }
  }

  /** Traces and compiles a mode for the first batch's row count (cached per process, and on disk by the
   * compile cache). */
  private compile(mode: Mode, first: Batch): Compiled {
    const got = this.compiled.get(mode);
    if (got) return got;
    const graph = traceModel(this.md, mode, signatureOf(first, this.md.dataFile));
    const dir = path.join(this.modelDir, 'compile', mode);
    const t0 = performance.now();
    const r = compileToDir(graph, this.opts.machine, dir, { batchSize: batchRows(first) });
    const e = r.plan.estimate;
    this.log(
      r.cached
        ? `Compile cache hit (${mode}): reusing ${path.join(dir, 'plan.json')}`
        : `Compiled ${mode} graph for ${this.opts.machine.name} in ${((performance.now() - t0) / 1000).toFixed(2)} s: ${r.plan.kernels.length} kernels, estimated ${rate(e.samplesPerS)} samples/s (bottleneck ${e.bottleneck}) → ${dir}`,
    );
    const c = { graph, plan: r.plan };
    this.compiled.set(mode, c);
    return c;
  }

  /** The checkpoint to start from: `--checkpoint-path`, else the latest in model_dir, else none. */
  private findCheckpoint(checkpointPath?: string): string | undefined {
    if (checkpointPath) {
      const f = path.resolve(checkpointPath);
      if (!fs.existsSync(f)) throw new UserError(`--checkpoint-path ${checkpointPath}: no such checkpoint file`);
      return f;
    }
    const latest = latestCheckpoint(this.modelDir);
    if (latest && !fs.existsSync(latest)) throw new UserError(`${path.join(this.modelDir, 'checkpoint')}: the latest checkpoint ${latest} is missing`);
    return latest;
  }

  /**
   * Loads a checkpoint into a wafer: every parameter of the graph (and, when `withSlots`, every optimizer
   * slot) must be present with the right shape.
   * @throws UserError naming the checkpoint and the tensor.
   */
  private async restore(wafer: Wafer, file: string, ckpt: Checkpoint, withSlots: boolean): Promise<void> {
    const state = await wafer.getState();
    const take = (want: NamedArray[], what: string): NamedArray[] =>
      want.map((w) => {
        const t = ckpt.tensors[w.name];
        if (!t) throw new UserError(`${file}: has no ${what} '${w.name}' (was it written by another model or optimizer?)`);
        if (JSON.stringify(t.shape) !== JSON.stringify(w.shape)) throw new UserError(`${file}: ${what} '${w.name}' has shape [${t.shape}], the model needs [${w.shape}]`);
        return { name: w.name, shape: w.shape, data: t.data as Float32Array };
      });
    await wafer.setState({ params: take(state.params, 'parameter'), ...(withSlots ? { slots: take(state.slots, 'optimizer slot') } : {}) });
  }

  private async save(wafer: Wafer, step: number, inputWorkers: number): Promise<string> {
    const ckpt = checkpointOf(await wafer.getState(), wafer.graph, step);
    ckpt.metadata!.input_workers = String(inputWorkers);
    return saveCheckpoint(this.modelDir, ckpt, this.md.params.runconfig.keep_checkpoint_max);
  }

  private writeSim(wafer: Wafer, sub = ''): void {
    const dir = path.join(this.modelDir, 'sim', sub);
    fs.mkdirSync(dir, { recursive: true });
    writeFileAtomic(path.join(dir, 'utilization.json'), JSON.stringify(wafer.clock.utilization(), null, 2) + '\n');
    writeFileAtomic(path.join(dir, 'trace.json'), JSON.stringify(wafer.clock.trace()) + '\n');
  }

  /** Makes Ctrl-C stop training after the current step (a second one exits at once). */
  private onInterrupt(): () => void {
    const handler = () => {
      if (this.interrupted) process.exit(130);
      this.interrupted = true;
      this.log('Interrupted: finishing the current step and saving a checkpoint (Ctrl-C again to abort)');
    };
    process.on('SIGINT', handler);
    return () => process.off('SIGINT', handler);
  }

  /**
   * Trains until `max_steps` (absolute) or for `steps` more steps.
   * @param opts.onCheckpoint called after each checkpoint is written (train_and_evaluate evaluates there).
   * @throws UserError for bad input, an unusable checkpoint, or a NaN/Inf loss (naming the step).
   */
  async train(opts: { steps?: number; maxSteps?: number; checkpointPath?: string; onCheckpoint?: (file: string, step: number) => Promise<void> } = {}): Promise<TrainSummary> {
    const rc = this.md.params.runconfig;
    const ckptFile = this.findCheckpoint(opts.checkpointPath);
    const ckpt = ckptFile ? readCheckpoint(ckptFile) : undefined;
    const start = ckpt?.globalStep ?? 0;
    const target = opts.steps !== undefined ? start + opts.steps : opts.maxSteps ?? rc.max_steps;
    if (target === undefined) throw new UserError(`${this.md.paramsFile}: runconfig.max_steps is not set; set it or pass --max-steps / --steps`);
    if (start >= target) {
      this.log(`Skipping training: global step ${start} already reached max_steps ${target} (${ckptFile}).`);
      return { globalStep: start, stepsRun: 0, interrupted: false, checkpoint: ckptFile };
    }
    // The order of the input stream depends on the number of input workers: resume with the same number.
    const savedWorkers = Number(ckpt?.metadata?.input_workers) || undefined;
    const { server, first } = await this.startInput('train', start, this.opts.inputWorkers ?? savedWorkers);
    const inputWorkers = Math.max(1, server.stats().numWorkers);
    let wafer: Wafer | undefined;
    let summary: SummaryWriter | undefined;
    const offInterrupt = this.onInterrupt();
    let bars: cliProgress.MultiBar | undefined;
    let bar: cliProgress.SingleBar | undefined;
    try {
      if (!first) throw new UserError(`${this.md.dataFile}: the training input pipeline yielded no batches`);
      const { graph, plan } = this.compile('train', first);
      writeRunFiles(this.md);
      const events = (summary = new SummaryWriter(this.modelDir));
      wafer = await Wafer.load(plan, graph, this.opts.machine, { computeWorkers: this.computeWorkers, computeShards: this.md.params.runconfig.compute_shards });
      if (ckpt && ckptFile) {
        await this.restore(wafer, ckptFile, ckpt, true);
        this.log(`Restored ${ckptFile} (global step ${start})`);
      }
      this.log(`Training from step ${start} to ${target} on ${wafer.computeWorkers} compute worker(s); model_dir ${this.modelDir}`);
      if (this.opts.progress ?? process.stdout.isTTY) {
        bars = new cliProgress.MultiBar({ format: 'train [{bar}] {value}/{total} steps | loss {loss} | {rate} samples/s | ETA {eta_formatted}', hideCursor: true }, cliProgress.Presets.shades_classic);
        bar = bars.create(target, start, { loss: '-', rate: '-' });
      }
      const log = bars ? (l: string) => bars!.log(l + '\n') : this.log;

      let step = start;
      let batch: Batch | undefined = first;
      let lastLoss: number | undefined;
      let lastCkpt = ckptFile;
      const t0 = performance.now();
      // Rates over the steps since the last log line / the last summary.
      const logWin = { t: t0, samples: 0, sim: 0 };
      const sumWin = { t: t0, samples: 0, sim: 0 };
      let samples = 0;
      let simCycles = 0;
      const hz = this.opts.machine.clockHz;
      let pausedMs = 0;
      while (step < target && !this.interrupted) {
        if (!batch) {
          const r = await server.next();
          if (r.done) {
            log(`Input pipeline ended at step ${step}.`);
            break;
          }
          batch = r.value;
        }
        const r = await wafer.trainStep(batch, step);
        const n = batchRows(batch);
        batch = undefined;
        if (!Number.isFinite(r.loss)) {
          throw new UserError(`loss is ${r.loss} at step ${step + 1}: training stopped; the latest checkpoint${lastCkpt ? ` ${path.basename(lastCkpt)}` : ''} is from before the divergence (lower the learning rate?)`);
        }
        step++;
        lastLoss = r.loss;
        samples += n;
        simCycles += r.simulatedCycles;
        for (const w of [logWin, sumWin]) {
          w.samples += n;
          w.sim += r.simulatedCycles;
        }
        bar?.update(step, { loss: r.loss.toFixed(4), rate: rate((samples * 1000) / (performance.now() - t0)) });
        if (step % rc.save_summary_steps === 0 || step === target) {
          const secs = (performance.now() - sumWin.t) / 1000;
          events.scalars({ loss: r.loss, learning_rate: r.learningRate, 'global_step/sec': sumWin.samples / n / Math.max(secs, 1e-9), 'simulated_samples/sec': sumWin.samples / (sumWin.sim / hz) }, step);
          Object.assign(sumWin, { t: performance.now(), samples: 0, sim: 0 });
        }
        if (step % rc.log_step_count_steps === 0 || step === target) {
          const secs = (performance.now() - logWin.t) / 1000;
          log(`step ${step}: loss = ${r.loss.toFixed(5)} (${(logWin.samples / n / secs).toFixed(2)} steps/s, ${rate(logWin.samples / secs)} samples/s host, ${rate(logWin.samples / (logWin.sim / hz))} samples/s simulated)`);
          events.flush();
          Object.assign(logWin, { t: performance.now(), samples: 0, sim: 0 });
        }
        if (rc.save_checkpoints_steps > 0 && step % rc.save_checkpoints_steps === 0 && step < target) {
          const p0 = performance.now();
          lastCkpt = await this.save(wafer, step, inputWorkers);
          log(`Saved checkpoint ${lastCkpt}`);
          await opts.onCheckpoint?.(lastCkpt, step);
          // Checkpointing and evaluation are not training time: keep them out of the rates.
          const paused = performance.now() - p0;
          pausedMs += paused;
          logWin.t += paused;
          sumWin.t += paused;
        }
      }
      bars?.stop();
      bars = undefined;
      if (step > start) {
        lastCkpt = await this.save(wafer, step, inputWorkers);
        this.log(`${this.interrupted ? 'Interrupted at' : 'Finished training at'} step ${step}: saved checkpoint ${lastCkpt}`);
      }
      const wall = (performance.now() - t0 - pausedMs) / 1000;
      const st = server.stats();
      const perf = {
        steps: step - start,
        samples,
        wall_seconds: wall,
        host_samples_per_s: samples / wall,
        simulated_samples_per_s: simCycles > 0 ? samples / (simCycles / this.opts.machine.clockHz) : 0,
        estimated_samples_per_s: plan.estimate.samplesPerS,
        input_wait_fraction: st.inputWaitFraction,
        input_workers: st.numWorkers,
        compute_workers: wafer.computeWorkers,
        compute_shards: wafer.computeShards,
      };
      writeFileAtomic(path.join(this.modelDir, 'performance.json'), JSON.stringify(perf, null, 2) + '\n');
      this.writeSim(wafer);
      this.log(`Host ${rate(perf.host_samples_per_s)} samples/s, simulated ${rate(perf.simulated_samples_per_s)} samples/s (compile estimate ${rate(perf.estimated_samples_per_s)}), input wait ${(100 * perf.input_wait_fraction).toFixed(1)}%`);
      if (step > start && !this.interrupted) await opts.onCheckpoint?.(lastCkpt!, step);
      return { globalStep: step, loss: lastLoss, stepsRun: step - start, interrupted: this.interrupted, checkpoint: lastCkpt };
    } finally {
      bars?.stop();
      offInterrupt();
      summary?.close();
      await server.close();
      await wafer?.close();
    }
  }

  /** An evaluation wafer kept across evaluations of one run (train_and_evaluate, eval_all). */
  private evalWafer?: Wafer;
  /** The eval summary writer of this Estimator (one event file in model_dir/eval, as tf.estimator). */
  private evalSummary?: SummaryWriter;

  /**
   * Evaluates a checkpoint on the eval input (one pass, or `steps` batches).
   * @throws UserError when there is no checkpoint (tf.estimator: "Could not find trained model").
   */
  async evaluate(opts: { checkpointPath?: string; steps?: number; keepWafer?: boolean } = {}): Promise<EvalResults> {
    const file = this.findCheckpoint(opts.checkpointPath);
    if (!file) throw new UserError(`no checkpoint in model_dir ${this.modelDir}: train first (csrun train) or pass --checkpoint-path`);
    const ckpt = readCheckpoint(file);
    const steps = opts.steps ?? this.md.params.runconfig.eval_steps;
    const { server, first } = await this.startInput('eval', 0);
    try {
      if (!first) throw new UserError(`${this.md.dataFile}: the evaluation input pipeline yielded no batches`);
      const { graph, plan } = this.compile('eval', first);
      this.evalWafer ??= await Wafer.load(plan, graph, this.opts.machine, { computeWorkers: this.computeWorkers, computeShards: this.md.params.runconfig.compute_shards });
      const wafer = this.evalWafer;
      await this.restore(wafer, file, ckpt, false);
      let lossSum = 0;
      let n = 0;
      const totals: Record<string, number[]> = {};
      let batch: Batch | undefined = first;
      let k = 0;
      const t0 = performance.now();
      while (steps === undefined || k < steps) {
        if (!batch) {
          const r = await server.next();
          if (r.done) break;
          batch = r.value;
        }
        const b = batchRows(batch);
        const r = await wafer.evalStep(batch, ckpt.globalStep);
        batch = undefined;
        lossSum += r.loss * b;
        n += b;
        for (const [m, v] of Object.entries(r.metrics)) {
          const t = (totals[m] ??= v.sums.map(() => 0));
          v.sums.forEach((x, i) => (t[i] += x));
        }
        k++;
      }
      const results: EvalResults = { global_step: ckpt.globalStep, loss: lossSum / n };
      for (const [m, t] of Object.entries(totals)) results[m] = metricResult(graph.metrics[m], { sums: t });
      const evalDir = path.join(this.modelDir, 'eval');
      fs.mkdirSync(evalDir, { recursive: true });
      writeFileAtomic(path.join(evalDir, 'results.json'), JSON.stringify(results, null, 2) + '\n');
      this.evalSummary ??= new SummaryWriter(evalDir);
      const { global_step: _g, ...scalars } = results;
      this.evalSummary.scalars(scalars, ckpt.globalStep);
      this.evalSummary.flush();
      this.writeSim(wafer, 'eval');
      this.log(`Evaluation at step ${ckpt.globalStep} (${n} samples, ${k} batches, ${((performance.now() - t0) / 1000).toFixed(1)} s): ${Object.entries(results).filter(([key]) => key !== 'global_step').map(([key, v]) => `${key} = ${v.toFixed(4)}`).join(', ')}`);
      return results;
    } finally {
      await server.close();
      if (!opts.keepWafer) await this.closeEval();
    }
  }

  private async closeEval(): Promise<void> {
    await this.evalWafer?.close();
    this.evalWafer = undefined;
  }

  /** Trains, evaluating after every checkpoint and at the end (tf.estimator.train_and_evaluate). */
  async trainAndEvaluate(opts: { steps?: number; maxSteps?: number; checkpointPath?: string; evalSteps?: number } = {}): Promise<{ train: TrainSummary; eval?: EvalResults }> {
    let last: EvalResults | undefined;
    try {
      const train = await this.train({
        ...opts,
        onCheckpoint: async (file) => {
          last = await this.evaluate({ checkpointPath: file, steps: opts.evalSteps, keepWafer: true });
        },
      });
      if (!last && train.checkpoint) last = await this.evaluate({ checkpointPath: train.checkpoint, steps: opts.evalSteps, keepWafer: true });
      return { train, eval: last };
    } finally {
      await this.closeEval();
    }
  }

  /** Evaluates every kept checkpoint, oldest first (Cerebras eval_all). */
  async evalAll(opts: { steps?: number } = {}): Promise<EvalResults[]> {
    const idx = readIndex(this.modelDir);
    if (!idx) throw new UserError(`no checkpoint in model_dir ${this.modelDir}: train first (csrun train)`);
    const out: EvalResults[] = [];
    try {
      for (const p of idx.all_model_checkpoint_paths) out.push(await this.evaluate({ checkpointPath: path.resolve(this.modelDir, p), steps: opts.steps, keepWafer: true }));
    } finally {
      await this.closeEval();
    }
    return out;
  }

  /**
   * Writes predictions of the eval input (features only) to `model_dir/predict/predictions.jsonl`: one JSON
   * object per sample, `{ <prediction name>: value or nested list }`.
   * @returns the file and the number of samples.
   */
  async predict(opts: { checkpointPath?: string; steps?: number } = {}): Promise<{ file: string; count: number }> {
    const file = this.findCheckpoint(opts.checkpointPath);
    if (!file) throw new UserError(`no checkpoint in model_dir ${this.modelDir}: train first (csrun train) or pass --checkpoint-path`);
    const ckpt = readCheckpoint(file);
    const { server, first } = await this.startInput('infer', 0);
    let wafer: Wafer | undefined;
    const outDir = path.join(this.modelDir, 'predict');
    fs.mkdirSync(outDir, { recursive: true });
    const outFile = path.join(outDir, 'predictions.jsonl');
    const tmp = `${outFile}.tmp-${process.pid}`;
    const fd = fs.openSync(tmp, 'w');
    let count = 0;
    try {
      if (!first) throw new UserError(`${this.md.dataFile}: the prediction input pipeline yielded no batches`);
      const { graph, plan } = this.compile('infer', first);
      wafer = await Wafer.load(plan, graph, this.opts.machine, { computeWorkers: this.computeWorkers, computeShards: this.md.params.runconfig.compute_shards });
      await this.restore(wafer, file, ckpt, false);
      let batch: Batch | undefined = first;
      for (let k = 0; opts.steps === undefined || k < opts.steps; k++) {
        if (!batch) {
          const r = await server.next();
          if (r.done) break;
          batch = r.value;
        }
        const preds = await wafer.predict(batch, ckpt.globalStep);
        const n = batchRows(batch);
        batch = undefined;
        const lines: string[] = [];
        for (let i = 0; i < n; i++) {
          const rec: Record<string, unknown> = {};
          for (const [name, t] of Object.entries(preds)) {
            const per = t.shape.slice(1).reduce((a, b) => a * b, 1);
            rec[name] = nest(Array.from(t.data.slice(i * per, (i + 1) * per) as ArrayLike<number>), t.shape.slice(1));
          }
          lines.push(JSON.stringify(rec));
        }
        fs.writeSync(fd, lines.join('\n') + '\n');
        count += n;
      }
      fs.fsyncSync(fd);
      fs.closeSync(fd);
      fs.renameSync(tmp, outFile);
      this.writeSim(wafer, 'infer');
      this.log(`Wrote ${count} predictions of checkpoint ${path.basename(file)} to ${outFile}`);
      return { file: outFile, count };
    } catch (e) {
      try {
        fs.closeSync(fd);
      } catch {
        /* already closed */
      }
      fs.rmSync(tmp, { force: true });
      throw e;
    } finally {
      await server.close();
      await wafer?.close();
    }
  }
}

/** Nests a flat row-major list into `shape` (scalars for shape []). */
function nest(flat: number[], shape: number[]): unknown {
  if (shape.length === 0) return flat[0];
  if (shape.length === 1) return flat;
  const per = shape.slice(1).reduce((a, b) => a * b, 1);
  return Array.from({ length: shape[0] }, (_, i) => nest(flat.slice(i * per, (i + 1) * per), shape.slice(1)));
}
