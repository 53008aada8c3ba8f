/**
 * The Estimator loop (tf.estimator semantics on the simulated wafer): train, evaluate, train_and_evaluate,
 * evaluate every checkpoint, predict. It drives the path of docs/design.md §1:
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
 * Extra: SIGINT (Ctrl-C) and SIGTERM finish the step and save a checkpoint (host/stop-signals.ts); a NaN
 * or infinite loss stops training with an error naming the step, leaving the last good checkpoint as the latest.
 */
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { compileToDir, replicaRequest } from '../compiler/pipeline.ts';
import type { Plan } from '../compiler/ir.ts';
import type { Machine } from '../compiler/machine.ts';
import { readCheckpoint, readIndex } from '../runtime/checkpoint.ts';
import { ensureDir, tempPathFor, writeFileAtomic, writeJsonAtomic } from '../runtime/fs.ts';
import { formatTable } from '../compiler/report.ts';
import { UserError } from '../runtime/errors.ts';
import { batchRows, type Batch, type TensorData } from '../runtime/batch.ts';
import { metricResult } from '../runtime/exec/metrics.ts';
import type { Graph, Mode } from '../runtime/graph.ts';
import { Wafer } from '../wafer-sim/wafer.ts';
import { CheckpointSaverHook, findCheckpoint, requireCheckpoint, restoreCheckpoint, type CheckpointListener } from './hooks/checkpoint.ts';
import { LoggingHook, NanTensorHook, StopAtStepHook, SummarySaverHook } from './hooks/basic.ts';
import { PerformanceHook, writeSimReports } from './hooks/performance.ts';
import { EarlyStoppingHook } from './hooks/early-stopping.ts';
import { protectedCheckpoints, recordEvaluation } from './best-checkpoint.ts';
import { ProgressBarHook } from './hooks/progress.ts';
import { formatRate, runSession, type Session, type SessionRunHook } from './hooks/session.ts';
import { signatureOf, traceModelSpec, writeRunFiles, type ModelDir } from './model-dir.ts';
import { ModelDirLock } from './model-dir-lock.ts';
import { settleOrphanCheckpoints } from './checkpoint-orphans.ts';
import { StopSignals, type StopSignal } from './stop-signals.ts';
import { sampleSequences, samplingOptions } from './generate.ts';
import { warmStartHooks, type WarmStartSettings } from './warm-start.ts';
import { importUserModule } from './user-module.ts';
import { SummaryWriter } from './summaries.ts';
import { sampleRecords } from './data/tensor.ts';
import { SupportServer } from './input/support-server.ts';

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
  /**
   * Your own SessionRunHooks (host/hooks/session.ts), run after the built-in ones: `train` in every
   * {@link Estimator.train}, `eval` in every {@link Estimator.evaluate} (tf.estimator's
   * EstimatorSpec.training_hooks / evaluation_hooks). `train({ hooks })` and `evaluate({ hooks })` add more
   * for one call.
   */
  hooks?: { train?: SessionRunHook[]; eval?: SessionRunHook[] };
  /** List details of start-of-run repairs (e.g. each checkpoint file removed outside the index). */
  verbose?: boolean;
  /** tf.estimator `warm_start_from` (host/warm-start.ts): overrides `runconfig.warm_start_from`. */
  warmStartFrom?: string | WarmStartSettings;
}

/** Options of {@link Estimator.train}: `maxSteps` absolute, `steps` incremental, the checkpoint to resume
 * from, a listener after each checkpoint before the last step, extra hooks for this call. */
export type TrainOptions = { steps?: number; maxSteps?: number; checkpointPath?: string; onCheckpoint?: CheckpointListener; hooks?: SessionRunHook[] };

/** Result of {@link Estimator.train}. */
export interface TrainSummary {
  globalStep: number;
  /** Loss of the last step run (undefined if no step ran). */
  loss?: number;
  stepsRun: number;
  interrupted: boolean;
  /** The signal that stopped training early (host/stop-signals.ts). */
  stopSignal?: StopSignal;
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
  /** Seconds the compile took in this process (0 for a compile-cache hit). */
  compileSeconds: number;
  /** The EstimatorSpec's trainingHooks (train) or evaluationHooks (eval). */
  hooks: SessionRunHook[];
}

/** Runs tf.estimator modes for one model directory. */
export class Estimator {
  private readonly log: (line: string) => void;
  private readonly compiled = new Map<Mode, Compiled>();
  /** SIGINT/SIGTERM of the training run in progress (host/stop-signals.ts). */
  private stop?: StopSignals;

  constructor(readonly md: ModelDir, readonly opts: EstimatorOptions) {
    this.log = opts.log ?? ((l) => process.stdout.write(l + '\n'));
  }

  /** Absolute model_dir. */
  get modelDir(): string {
    return this.md.params.runconfig.model_dir;
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
    const { graph, hooks } = traceModelSpec(this.md, mode, signatureOf(first, this.md.dataFile));
    const dir = this.md.out.compileDir(mode);
    const t0 = performance.now();
    const r = compileToDir(graph, this.opts.machine, dir, { batchSize: batchRows(first), replicas: replicaRequest(this.md.params.runconfig) });
    const e = r.plan.estimate;
    this.log(
      r.cached
        ? `Compile cache hit (${mode}): reusing ${this.md.out.plan(mode)}`
        : `Compiled ${mode} graph for ${this.opts.machine.name} in ${((performance.now() - t0) / 1000).toFixed(2)} s: ${r.plan.kernels.length} kernels, estimated ${formatRate(e.samplesPerS)} samples/s (bottleneck ${e.bottleneck}) → ${dir}`,
    );
    const c = { graph, plan: r.plan, compileSeconds: r.cached ? 0 : (performance.now() - t0) / 1000, hooks };
    this.compiled.set(mode, c);
    return c;
  }

  /** Loads a compiled mode on a wafer with the run's compute workers and shards. */
  private loadWafer(c: Compiled): Promise<Wafer> {
    return Wafer.load(c.plan, c.graph, this.opts.machine, { computeWorkers: this.opts.computeWorkers ?? this.md.params.runconfig.compute_workers, computeShards: this.md.params.runconfig.compute_shards, simLevel: this.md.params.runconfig.sim_level });
  }

  /**
   * The built-in training hooks, in the order they run: warm start (when set), NaN guard (so nothing records
   * a diverged step), stop at the last step, progress bar, summaries, log lines, checkpoints (train_and_evaluate
   * evaluates there), early stopping (when set), performance.json.
   */
  private trainingHooks(lastStep: number, inputWorkers: number, listeners: CheckpointListener[]): SessionRunHook[] {
    const rc = this.md.params.runconfig;
    return [
      ...warmStartHooks(this.md, this.opts.warmStartFrom),
      new NanTensorHook(),
      new StopAtStepHook({ lastStep }),
      ...((this.opts.progress ?? process.stdout.isTTY) ? [new ProgressBarHook()] : []),
      new SummarySaverHook({ saveSteps: rc.save_summary_steps }),
      new LoggingHook({ everyNSteps: rc.log_step_count_steps }),
      new CheckpointSaverHook({ saveSteps: rc.save_checkpoints_steps, keepMax: rc.keep_checkpoint_max, metadata: { input_workers: String(inputWorkers) }, listeners, keep: () => protectedCheckpoints(this.md.out, rc) }),
      ...(rc.early_stopping ? [new EarlyStoppingHook({ ...rc.early_stopping, where: 'runconfig.early_stopping' })] : []),
      new PerformanceHook(),
    ];
  }

  /**
   * Trains until `max_steps` (absolute) or for `steps` more steps: the session loop of host/hooks with the
   * built-in training hooks, then the EstimatorSpec's `trainingHooks`, `EstimatorOptions.hooks.train`, `opts.hooks`.
   * @param opts.onCheckpoint called after each checkpoint written before the last step (train_and_evaluate
   *   evaluates there).
   * Holds the model_dir lock throughout (host/model-dir-lock.ts); first adopts or removes checkpoint files
   * outside the index (host/checkpoint-orphans.ts).
   * @throws UserError for bad input, an unusable checkpoint, a NaN/Inf loss (naming the step), or a
   *   model_dir in use by another run.
   */
  async train(opts: TrainOptions = {}): Promise<TrainSummary> {
    const lock = ModelDirLock.acquire(this.md.out);
    try {
      const keep = [...protectedCheckpoints(this.md.out, this.md.params.runconfig), ...(opts.checkpointPath ? [path.basename(opts.checkpointPath)] : [])];
      settleOrphanCheckpoints(this.md.out, { keep, log: this.log, verbose: this.opts.verbose });
      return await this.trainLocked(opts);
    } finally {
      lock.release();
    }
  }

  private async trainLocked(opts: TrainOptions): Promise<TrainSummary> {
    const ckptFile = findCheckpoint(this.md.out, opts.checkpointPath);
    const ckpt = ckptFile ? readCheckpoint(ckptFile) : undefined;
    const start = ckpt?.globalStep ?? 0;
    const target = opts.steps !== undefined ? start + opts.steps : opts.maxSteps ?? this.md.params.runconfig.max_steps;
    if (target === undefined) throw new UserError(`${this.md.paramsFile}: runconfig.max_steps is not set; set it or pass --max-steps / --steps`);
    if (start >= target) {
      this.log(`Skipping training: global step ${start} already reached max_steps ${target} (${ckptFile}).`);
      return { globalStep: start, stepsRun: 0, interrupted: false, checkpoint: ckptFile };
    }
    // The order of the input stream depends on the number of input workers: resume with the same number.
    const savedWorkers = Number(ckpt?.metadata?.input_workers) || undefined;
    const { server, first } = await this.startInput('train', start, this.opts.inputWorkers ?? savedWorkers);
    const inputWorkers = Math.max(1, server.stats().numWorkers);
    let session: Session | undefined;
    let lastLoss: number | undefined;
    const stop = (this.stop = StopSignals.install(this.log));
    let batch: Batch | undefined = first;
    try {
      if (!first) throw new UserError(`${this.md.dataFile}: the training input pipeline yielded no batches`);
      const compiled = this.compile('train', first);
      const hooks = [...this.trainingHooks(target, inputWorkers, opts.onCheckpoint ? [opts.onCheckpoint] : []), ...compiled.hooks, ...(this.opts.hooks?.train ?? []), ...(opts.hooks ?? [])];
      writeRunFiles(this.md);
      const create = async (): Promise<Session> => {
        const wafer = await this.loadWafer(compiled);
        session = this.session('train', wafer, compiled.plan, start, server, target);
        if (ckpt && ckptFile) {
          await restoreCheckpoint(wafer, ckptFile, ckpt, true);
          session.lastCheckpoint = ckptFile;
          this.log(`Restored ${ckptFile} (global step ${start})`);
        }
        this.log(`Training from step ${start} to ${target} on ${wafer.computeWorkers} compute worker(s); model_dir ${this.modelDir}`);
        return session;
      };
      const s = await runSession(hooks, create, async (s) => {
        if (!batch) {
          const r = await server.next();
          if (r.done) {
            s.log(`Input pipeline ended at step ${s.globalStep}.`);
            return undefined;
          }
          batch = r.value;
        }
        const samples = batchRows(batch);
        const r = await s.wafer.trainStep(batch, s.globalStep);
        batch = undefined;
        lastLoss = r.loss;
        return { step: s.globalStep + 1, loss: r.loss, learningRate: r.learningRate, samples, simulatedCycles: r.simulatedCycles };
      });
      return { globalStep: s.globalStep, loss: lastLoss, stepsRun: s.globalStep - start, interrupted: s.interrupted, stopSignal: stop.received, checkpoint: s.lastCheckpoint };
    } finally {
      stop.uninstall();
      await server.close();
      await session?.wafer.close();
    }
  }

  /** A session over a loaded wafer (see host/hooks/session.ts); Ctrl-C interrupts a training session. */
  private session(mode: Mode, wafer: Wafer, plan: Plan, startStep: number, server: SupportServer, lastStep?: number): Session {
    const est = this;
    return {
      mode,
      wafer,
      plan,
      compileSeconds: this.compiled.get(mode)?.compileSeconds ?? 0,
      machine: this.opts.machine,
      out: this.md.out,
      startStep,
      lastStep,
      globalStep: startStep,
      runMs: 0,
      log: this.log,
      get interrupted() {
        return mode === 'train' && est.stop?.received !== undefined;
      },
      inputStats: () => server.stats(),
    };
  }

  /** An evaluation wafer kept across evaluations of one run (train_and_evaluate, eval_all). */
  private evalWafer?: Wafer;
  /** The eval summary writer of this Estimator (one event file in model_dir/eval, as tf.estimator). */
  private evalSummary?: SummaryWriter;

  /**
   * Evaluates a checkpoint on the eval input (one pass, or `steps` batches).
   * @throws UserError when there is no checkpoint (tf.estimator: "Could not find trained model").
   */
  async evaluate(opts: { checkpointPath?: string; steps?: number; keepWafer?: boolean; hooks?: SessionRunHook[] } = {}): Promise<EvalResults> {
    const { file, ckpt } = requireCheckpoint(this.md.out, opts.checkpointPath);
    const steps = opts.steps ?? this.md.params.runconfig.eval_steps;
    const { server, first } = await this.startInput('eval', 0);
    try {
      if (!first) throw new UserError(`${this.md.dataFile}: the evaluation input pipeline yielded no batches`);
      const compiled = this.compile('eval', first);
      let [lossSum, n, k] = [0, 0, 0];
      const totals: Record<string, number[]> = {};
      let batch: Batch | undefined = first;
      const create = async (): Promise<Session> => {
        this.evalWafer ??= await this.loadWafer(compiled);
        await restoreCheckpoint(this.evalWafer, file, ckpt, false);
        return this.session('eval', this.evalWafer, compiled.plan, ckpt.globalStep, server);
      };
      const s = await runSession([...compiled.hooks, ...(this.opts.hooks?.eval ?? []), ...(opts.hooks ?? [])], create, async (s) => {
        if (steps !== undefined && k >= steps) return undefined;
        if (!batch) {
          const r = await server.next();
          if (r.done) return undefined;
          batch = r.value;
        }
        const samples = batchRows(batch);
        const r = await s.wafer.evalStep(batch, ckpt.globalStep);
        batch = undefined;
        [lossSum, n, k] = [lossSum + r.loss * samples, n + samples, k + 1];
        for (const [m, v] of Object.entries(r.metrics)) {
          const t = (totals[m] ??= v.sums.map(() => 0));
          v.sums.forEach((x, i) => (t[i] += x));
        }
        return { step: ckpt.globalStep, loss: r.loss, samples, simulatedCycles: 0, metrics: r.metrics };
      });
      const results: EvalResults = { global_step: ckpt.globalStep, loss: lossSum / n };
      for (const [m, t] of Object.entries(totals)) results[m] = metricResult(compiled.graph.metrics[m], { sums: t });
      writeJsonAtomic(this.md.out.evalResults, results);
      writeJsonAtomic(this.md.out.evalResultsAt(ckpt.globalStep), results);
      this.evalSummary ??= new SummaryWriter(this.md.out.eval);
      const { global_step: _g, ...scalars } = results;
      this.evalSummary.scalars(scalars, ckpt.globalStep);
      this.evalSummary.flush();
      writeSimReports(s.wafer, this.md.out, 'eval');
      this.log(`Evaluation at step ${ckpt.globalStep} (${n} samples, ${k} batches, ${(s.runMs / 1000).toFixed(1)} s): ${Object.entries(results).filter(([key]) => key !== 'global_step').map(([key, v]) => `${key} = ${v.toFixed(4)}`).join(', ')}`);
      recordEvaluation(this.md.out, this.md.params.runconfig, results, file, this.log); // keep_best_checkpoint
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
      // The final checkpoint (unless evaluated already: an early stop), or the given one when no step ran.
      if (train.checkpoint && last?.global_step !== train.globalStep && (!last || (train.stepsRun > 0 && !train.interrupted))) last = await this.evaluate({ checkpointPath: train.checkpoint, steps: opts.evalSteps, keepWafer: true });
      return { train, eval: last };
    } finally {
      await this.closeEval();
    }
  }

  /** Evaluates every kept checkpoint, oldest first (Cerebras eval_all): each result in `eval/results-<step>.json`
   * and at its step in the eval event file, and a table of all in `eval/eval_all.txt`. */
  async evalAll(opts: { steps?: number } = {}): Promise<EvalResults[]> {
    const idx = readIndex(this.modelDir);
    if (!idx) throw new UserError(`no checkpoint in model_dir ${this.modelDir}: train first (csrun train)`);
    const out: EvalResults[] = [];
    try {
      for (const p of idx.all_model_checkpoint_paths) out.push(await this.evaluate({ checkpointPath: path.resolve(this.modelDir, p), steps: opts.steps, keepWafer: true }));
    } finally {
      await this.closeEval();
    }
    const keys = [...new Set(out.flatMap((r) => Object.keys(r)))];
    const table = formatTable(keys, out.map((r) => keys.map((k) => (r[k] === undefined ? '' : k === 'global_step' ? String(r[k]) : r[k].toFixed(6)))), keys.map(() => true));
    writeFileAtomic(this.md.out.evalAllSummary, table + '\n');
    this.log(`eval_all: ${out.length} checkpoints (${this.md.out.evalAllSummary}; each in eval/results-<step>.json)\n${table}`);
    return out;
  }

  /**
   * Writes predictions of the eval input (features only) to `model_dir/predict/predictions.jsonl`: one JSON
   * object per sample, `{ <prediction name>: value or nested list }`. With `predict_input.temperature` set, samples
   * token sequences instead (`./generate.ts`) into `predict/samples.jsonl` (`{ tokens, text }`) and, when data.ts
   * exports a `vocabulary` (token id → string), `predict/samples.txt` (one sequence per line). A data.ts export
   * `onPredictions` ({@link PredictionsHook}) is called after each batch (e.g. examples/unet writes PNG masks).
   * @returns the file and the number of samples.
   */
  async predict(opts: { checkpointPath?: string; steps?: number } = {}): Promise<{ file: string; count: number }> {
    const { file, ckpt } = requireCheckpoint(this.md.out, opts.checkpointPath);
    const { server, first } = await this.startInput('infer', 0);
    let wafer: Wafer | undefined;
    const outFile = this.md.out.predictions;
    ensureDir(path.dirname(outFile));
    const tmp = tempPathFor(outFile);
    const fd = fs.openSync(tmp, 'w');
    let count = 0;
    try {
      if (!first) throw new UserError(`${this.md.dataFile}: the prediction input pipeline yielded no batches`);
      wafer = await this.loadWafer(this.compile('infer', first));
      await restoreCheckpoint(wafer, file, ckpt, false);
      const sampling = samplingOptions(this.md.params.predict_input, this.md.params.runconfig.seed);
      if (sampling) {
        fs.closeSync(fd);
        fs.rmSync(tmp, { force: true });
        const w = wafer;
        const seqs = await sampleSequences((b) => w.predict(b, ckpt.globalStep), first, sampling);
        const vocabulary = (await importUserModule(this.md.dataFile, 'data module')).vocabulary;
        const text = (ids: number[]) => (Array.isArray(vocabulary) ? ids.map((i) => String(vocabulary[i] ?? `<${i}>`)).join('') : undefined);
        const samplesFile = this.md.out.predictSamples('jsonl');
        writeFileAtomic(samplesFile, seqs.map((ids) => JSON.stringify({ tokens: ids, ...(Array.isArray(vocabulary) ? { text: text(ids) } : {}) })).join('\n') + '\n');
        if (Array.isArray(vocabulary)) writeFileAtomic(this.md.out.predictSamples('txt'), seqs.map(text).join('\n') + '\n');
        writeSimReports(wafer, this.md.out, 'infer');
        this.log(`Sampled ${seqs.length} sequences (temperature ${sampling.temperature}, seed ${sampling.seed}) from checkpoint ${path.basename(file)} into ${samplesFile}`);
        return { file: samplesFile, count: seqs.length };
      }
      const onPredictions = (await importUserModule(this.md.dataFile, 'data module')).onPredictions as PredictionsHook | undefined;
      let batch: Batch | undefined = first;
      for (let k = 0; opts.steps === undefined || k < opts.steps; k++) {
        if (!batch) {
          const r = await server.next();
          if (r.done) break;
          batch = r.value;
        }
        const preds = await wafer.predict(batch, ckpt.globalStep);
        const n = batchRows(batch);
        const batch0 = batch;
        batch = undefined;
        fs.writeSync(fd, sampleRecords(preds, n).map((r) => JSON.stringify(r)).join('\n') + '\n');
        if (onPredictions) await onPredictions(batch0, preds, { dir: path.dirname(outFile), offset: count });
        count += n;
      }
      fs.fsyncSync(fd);
      fs.closeSync(fd);
      fs.renameSync(tmp, outFile);
      writeSimReports(wafer, this.md.out, 'infer');
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

/**
 * Optional export `onPredictions` of data.ts, called by `csrun predict` after each batch's predictions are
 * written (e.g. to save predicted masks as images beside predictions.jsonl).
 * @param batch       the input batch (features, and labels when the pipeline yields them).
 * @param predictions this batch's predictions by name.
 * @param info.dir    the `predict/` directory; `info.offset` the index of the batch's first sample.
 */
export type PredictionsHook = (batch: Batch, predictions: Record<string, TensorData>, info: { dir: string; offset: number }) => void | Promise<void>;
