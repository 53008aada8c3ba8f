/**
 * The support server: input workers that run the user's `inputFn` and stream batches to the Estimator
 * loop (Cerebras' "support server" on the CPU side of a CS system; docs/design.md §1, §10).
 *
 * ```ts
 * const server = await SupportServer.start({ dataModule: '/abs/model/data.ts', params, mode: 'train', startStep });
 * for await (const batch of server) { ... }   // { features: { image: [64,28,28,1] }, labels: [64] }
 * server.stats();                              // batches, samples, consumer wait ms, input-wait fraction
 * await server.close();
 * ```
 *
 * Workers. Worker i of N calls `inputFn(params, mode, { numInputPipelines: N, inputPipelineId: i })` with
 * the global seed set (host/input/pipeline.ts) and produces its shard of the batches. N is `numWorkers`,
 * else `<section>.num_parallel_calls`, else {@link defaultNumWorkers}. Each worker is a long-lived thread
 * holding its pipeline's state for the whole run, spoken to through runtime/parallel/worker-rpc.ts (whose
 * header says why a task pool such as piscina does not fit a never-ending stream); in-process mode runs
 * the same pipeline on the calling thread. Both are lanes (host/input/lanes.ts) behind one
 * interface, merged here.
 *
 * Order. Batches are merged round-robin: worker 0's first batch, worker 1's first, …, worker 0's second,
 * …; a worker that has ended is passed over. The order is therefore a function of (data, seed, N) only,
 * never of thread timing. If the inputFn shards by its context (recommended: `ds.shard(ctx.numInputPipelines,
 * ctx.inputPipelineId)` early), each worker reads 1/N of the data; otherwise each worker keeps batches
 * i, i+N, … of the whole pipeline (tf.data AutoShardPolicy.DATA) and the merged order equals N = 1's.
 *
 * Resume. `startStep` S skips exactly the first S batches of that order: each worker skips its share
 * lazily (see Dataset skip) and, for finite streams where a worker runs out early, the shares are
 * recomputed from the workers' true lengths until they agree (see host/input/resume.ts).
 *
 * Backpressure. Each worker may run at most ⌈prefetch / N⌉ batches ahead of the consumer: its lane keeps
 * that many "next batch" requests outstanding or batches waiting, and asks for one more each time the
 * consumer takes one of that worker's batches. Time the consumer spends waiting for a batch is measured
 * ({@link SupportServerStats.inputWaitFraction}).
 *
 * Modes. 'train' (the inputFn shuffles and repeats), 'eval' (one pass, in order), 'infer' (labels
 * dropped). The params section is `train_input` for 'train', `eval_input` otherwise.
 *
 * Errors. Anything that goes wrong in a worker — the data module failing to load, inputFn throwing, a
 * reader error (missing data_dir, truncated IDX, bad CRC), a malformed or inconsistent batch, the worker
 * thread dying (process.exit) — becomes one {@link UserError} naming the worker and the data module,
 * thrown by `start()` or by the next `next()`; the workers are then shut down. Nothing waits forever on a
 * dead worker.
 */
import fs from 'node:fs';
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { batchBytes, batchRows } from '../../runtime/batch.ts';
import { UserError } from '../../runtime/errors.ts';
import type { Mode } from '../../runtime/graph.ts';
import type { Params } from '../../runtime/params.ts';
import type { Batch } from '../../runtime/batch.ts';
import type { PipelineSpec } from './pipeline.ts';
import { inputSection } from '../data/input.ts';
import { batchSpecOf, checkBatchAgainstSpec, dataModulePath, displayPath, type BatchSpec } from './common.ts';
import { LocalLane, WorkerLane, type InputLane } from './lanes.ts';
import { resumePlan } from './resume.ts';

export type { BatchSpec, TensorSpec } from './common.ts';

/** Options of {@link SupportServer.start}. */
export interface SupportServerOptions {
  /** The user's data module: absolute path (or file: URL) of data.ts. */
  dataModule: string;
  /** Effective params (the inputFn reads `<section>.batch_size`, `data_dir`, …). */
  params: Params;
  /** 'train' | 'eval' | 'infer'. */
  mode: Mode;
  /** Input workers N (≥ 1). Default: `<section>.num_parallel_calls` if > 0, else {@link defaultNumWorkers}. */
  numWorkers?: number;
  /** Seed of the input pipeline (global seed in each worker; written to `params.runconfig.seed`). Default `params.runconfig.seed`. */
  seed?: number;
  /** Global step to resume at: the first `startStep` batches are skipped. Default 0. */
  startStep?: number;
  /** Name of the input function export. Default 'inputFn' (ElasticDL `datasetFn` / `feed` modules are adapted). */
  inputFnExport?: string;
  /** Batches buffered ahead of the consumer, over all workers. Default `<section>.prefetch_buffer_size`, else max(8, 2N). */
  prefetch?: number;
  /** Run the pipeline on the calling thread instead of workers (N = 1, same order and checks; for tests and debugging). */
  inProcess?: boolean;
}

/** Counters of a running server (see {@link SupportServer.stats}). */
export interface SupportServerStats {
  /** Input workers (0 when in-process). */
  numWorkers: number;
  /** How each worker was sharded: 'context' (inputFn called shard), 'data' (server sharded batches), 'off', 'single'. */
  sharding: string;
  /** Batches handed to the consumer. */
  batches: number;
  /** Samples (rows) in those batches. */
  samples: number;
  /** Bytes of their tensors (features and labels). */
  bytes: number;
  /** Milliseconds the consumer spent inside next() waiting for a batch that was not ready. */
  waitMs: number;
  /** Milliseconds since the first next() call. */
  elapsedMs: number;
  /** waitMs / elapsedMs (0 before the first batch): the share of the consumer's time lost to input. */
  inputWaitFraction: number;
  /** Batches and samples per second over elapsedMs. */
  batchesPerSecond: number;
  samplesPerSecond: number;
  /** Milliseconds start() took (workers loading the module, calling inputFn, resume skipping). */
  startupMs: number;
  /** Per lane: milliseconds spent producing batches (see InputLane.busyMs). */
  busyMs: number[];
  /** Per lane: cost probes finished (see host/input/lanes.ts PROBE_BATCHES). */
  probes: number[];
  /**
   * The pipeline's capacity in samples/s: Σ over lanes of samples per batch ÷ the lane's steady CPU
   * seconds per batch (InputLane.costMsPerBatch: timed on back-to-back cost probes where the lane ran
   * some). It is what the workers could deliver to a consumer that never makes them wait, measured from
   * their own time per sample, so a slow consumer (csrun's wasm numerics) does not lower it. Assumes each
   * worker has a core of its own; 0 before any batch.
   */
  capacitySamplesPerSecond: number;
}

/**
 * Input workers the machine can spare: one core is left to the main thread (the wafer simulator), at
 * most 4 (MNIST-sized pipelines do not scale further), at least 1.
 */
export function defaultNumWorkers(): number {
  return Math.max(1, Math.min(4, os.availableParallelism() - 1));
}

const DONE: IteratorResult<Batch> = { done: true, value: undefined };

/** What the consumer has seen of one lane, to check its batch sizes. */
interface LaneCheck {
  /** Batches consumed from the lane. */
  consumed: number;
  /** Rows of its first batch. */
  firstRows?: number;
  /** Rows of a smaller batch (only the last may be smaller). */
  partialRows?: number;
}

/**
 * Streams the batches of a data module's inputFn from input workers (see the module doc).
 * Iterate it once with `for await` (breaking out closes it) or call `next()`; call `close()` when done
 * (the workers are also released by themselves once every stream has ended or a worker has failed).
 */
export class SupportServer implements AsyncIterableIterator<Batch> {
  /** Number of input workers (0 in-process). */
  readonly numWorkers: number;
  readonly mode: Mode;
  /** Absolute path of the data module. */
  readonly dataModule: string;

  private lanes: InputLane[] = [];
  private checks: LaneCheck[] = [];
  /** Lanes whose stream has ended (all their batches consumed). */
  private ended: boolean[] = [];
  private cursor = 0;
  private fatal: UserError | undefined;
  private closing = false;
  private spec: BatchSpec | undefined;
  private serial: Promise<unknown> = Promise.resolve();
  private counters = { batches: 0, samples: 0, bytes: 0, waitMs: 0, firstNextAt: undefined as number | undefined, startupMs: 0 };

  private constructor(options: SupportServerOptions, numWorkers: number) {
    this.mode = options.mode;
    this.dataModule = dataModulePath(options.dataModule);
    this.numWorkers = numWorkers;
  }

  /**
   * Starts the workers and waits until each has loaded the data module, called inputFn and skipped the
   * batches before `startStep`.
   * @throws UserError for bad options (unknown mode, missing data module, N < 1, startStep < 0, prefetch < 1)
   *   and for any worker failure during start-up (see the module doc); the workers are shut down before
   *   throwing.
   */
  static async start(options: SupportServerOptions): Promise<SupportServer> {
    const t0 = performance.now();
    if (!['train', 'eval', 'infer'].includes(options.mode)) throw new UserError(`support server: unknown mode '${options.mode}'; expected train, eval or infer`);
    const file = dataModulePath(options.dataModule);
    if (!fs.existsSync(file)) throw new UserError(`${displayPath(file)}: data module not found`);
    const input = options.params[inputSection(options.mode)] ?? {};
    const n = options.inProcess ? 1 : (options.numWorkers ?? (input.num_parallel_calls ? input.num_parallel_calls : defaultNumWorkers()));
    if (!Number.isInteger(n) || n < 1) throw new UserError(`support server: numWorkers must be an integer ≥ 1 (got ${n})`);
    const startStep = options.startStep ?? 0;
    if (!Number.isInteger(startStep) || startStep < 0) throw new UserError(`support server: startStep must be an integer ≥ 0 (got ${startStep})`);
    const prefetch = options.prefetch ?? input.prefetch_buffer_size ?? Math.max(8, 2 * n);
    if (!options.inProcess && !(Number.isInteger(prefetch) && prefetch >= 1)) throw new UserError(`support server: prefetch must be an integer ≥ 1 (got ${prefetch})`);
    const seed = options.seed ?? options.params.runconfig?.seed ?? 0;
    const spec = (pipelineId: number, label: string): PipelineSpec => ({
      dataModule: file,
      inputFnExport: options.inputFnExport ?? 'inputFn',
      params: { ...options.params, runconfig: { ...options.params.runconfig, seed } },
      mode: options.mode,
      numPipelines: n,
      pipelineId,
      seed,
      label,
    });
    const server = new SupportServer(options, options.inProcess ? 0 : n);
    try {
      if (options.inProcess) server.adopt([await LocalLane.open(spec(0, `input pipeline (in-process, ${displayPath(file)})`))]);
      else {
        const credit = Math.max(1, Math.ceil(prefetch / n));
        const opened = await Promise.allSettled(
          Array.from({ length: n }, (_, i) => WorkerLane.open(spec(i, `input worker ${i}/${n} (${displayPath(file)})`), credit, (e) => server.fail(e))),
        );
        server.adopt(opened.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : [])));
        const bad = opened.find((r): r is PromiseRejectedResult => r.status === 'rejected');
        if (bad) throw bad.reason;
      }
      await server.resume(startStep);
    } catch (e) {
      await server.shutdown();
      throw server.fatal ?? e; // the first failure, not another worker's "stopped" that followed it
    }
    server.counters.startupMs = performance.now() - t0;
    return server;
  }

  private adopt(lanes: InputLane[]): void {
    this.lanes = lanes;
    this.checks = lanes.map(() => ({ consumed: 0 }));
    this.ended = lanes.map(() => false);
  }

  /** Skips the first `startStep` merged batches (see host/input/resume.ts), then lets the lanes read ahead. */
  private async resume(startStep: number): Promise<void> {
    const initial = resumePlan(startStep, this.lanes.map(() => Infinity)).counts;
    const skipped = await Promise.all(this.lanes.map((l, i) => l.skip(initial[i])));
    const exhausted = skipped.map((k, i) => k < initial[i]);
    // Recompute each worker's share from the lengths of streams that ran out, until stable.
    for (;;) {
      const plan = resumePlan(
        startStep,
        skipped.map((k, i) => (exhausted[i] ? k : Infinity)),
      );
      const more = this.lanes.map((_, i) => i).filter((i) => !exhausted[i] && plan.counts[i] > skipped[i]);
      if (more.length === 0) {
        this.cursor = plan.cursor;
        break;
      }
      await Promise.all(
        more.map(async (i) => {
          const want = plan.counts[i] - skipped[i];
          const k = await this.lanes[i].skip(want);
          skipped[i] += k;
          if (k < want) exhausted[i] = true;
        }),
      );
    }
    for (const l of this.lanes) l.start();
  }

  /**
   * Records the first failure and shuts every lane down, which ends the waits on the other lanes
   * (they return undefined once closed, and the waiting call then throws the failure).
   */
  private fail(e: UserError): void {
    if (this.fatal || this.closing) return;
    this.fatal = e;
    void this.shutdown();
  }

  /** Awaits a lane call; a failure of any lane, during or before the wait, fails the whole server. */
  private async fromLane<T>(p: Promise<T>): Promise<T> {
    let v: T;
    try {
      v = await p;
    } catch (e) {
      if (e instanceof UserError) this.fail(e);
      throw this.fatal ?? e;
    }
    if (this.fatal) throw this.fatal;
    return v;
  }

  /**
   * The next batch in the deterministic merged order, or done when every worker's stream has ended.
   * Calls are serialised (one consumer).
   * @throws UserError on any worker failure or an inconsistent batch (see the module doc).
   */
  next(): Promise<IteratorResult<Batch>> {
    const p = this.serial.then(() => this.nextBatch());
    this.serial = p.catch(() => {});
    return p;
  }

  /** Moves the cursor to the next live lane; false when every lane has ended. */
  private advance(): boolean {
    for (let k = 0; k < this.lanes.length; k++) {
      if (!this.ended[this.cursor]) return true;
      this.cursor = (this.cursor + 1) % this.lanes.length;
    }
    return false;
  }

  private async nextBatch(): Promise<IteratorResult<Batch>> {
    this.counters.firstNextAt ??= performance.now();
    for (;;) {
      if (this.fatal) throw this.fatal;
      if (this.closing) return DONE;
      if (!this.advance()) {
        void this.shutdown(); // every stream is finished: release the threads now
        return DONE;
      }
      const i = this.cursor;
      let t0 = performance.now();
      // A due cost probe runs now, while the consumer (the wafer's compute workers) is idle; its wait is
      // measurement, not input wait.
      const probe = this.lanes[i].probeIfDue();
      if (probe) {
        await this.fromLane(probe);
        t0 = performance.now();
      }
      let b: Batch | undefined;
      try {
        b = await this.fromLane(this.lanes[i].next());
      } finally {
        this.counters.waitMs += performance.now() - t0;
      }
      if (this.closing) return DONE;
      if (!b) {
        this.ended[i] = true;
        continue;
      }
      this.accept(i, b);
      this.cursor = (i + 1) % this.lanes.length;
      return { done: false, value: b };
    }
  }

  /** Checks a batch about to be consumed against the stream's spec and its lane's earlier batch sizes. */
  private accept(i: number, b: Batch): void {
    const lane = this.checks[i];
    const where = `${this.lanes[i].label}, batch ${lane.consumed}`;
    try {
      if (lane.partialRows !== undefined)
        throw new UserError(
          `${where}: inconsistent batch shape: a batch follows a smaller batch of ${lane.partialRows} rows (batches have ${lane.firstRows}); ` +
            'only the last batch of a stream may be smaller (batch after repeat, or set dropRemainder / drop_last_batch)',
        );
      if (!this.spec) this.spec = batchSpecOf(b);
      else checkBatchAgainstSpec(b, this.spec, where, { allowLarger: true });
      const rows = batchRows(b);
      if (lane.firstRows === undefined) lane.firstRows = rows;
      else if (rows > lane.firstRows)
        throw new UserError(`${where}: inconsistent batch shape: ${rows} rows after batches of ${lane.firstRows}`);
      else if (rows < lane.firstRows) lane.partialRows = rows;
    } catch (e) {
      this.fail(e as UserError);
      throw e;
    }
    lane.consumed++;
    this.counters.batches++;
    this.counters.samples += batchRows(b);
    this.counters.bytes += batchBytes(b);
  }

  /**
   * tf.data `element_spec`: per-sample shapes and dtypes of features and labels and the batch size, from
   * the first batch (waits for it without consuming it).
   * @throws UserError if the stream fails before its first batch or is empty.
   */
  async elementSpec(): Promise<BatchSpec> {
    if (this.spec) return this.spec;
    for (;;) {
      if (this.fatal) throw this.fatal;
      const label = this.lanes[this.cursor].label;
      if (!this.advance()) throw new UserError(`${label}: the dataset is empty`);
      const b = await this.fromLane(this.lanes[this.cursor].peek());
      if (b) return batchSpecOf(b);
      this.ended[this.cursor] = true;
    }
  }

  /** Counters since start (see {@link SupportServerStats}). */
  stats(): SupportServerStats {
    const c = this.counters;
    const elapsedMs = c.firstNextAt === undefined ? 0 : performance.now() - c.firstNextAt;
    return {
      numWorkers: this.numWorkers,
      sharding: [...new Set(this.lanes.map((l) => l.sharding))].join(','),
      batches: c.batches,
      samples: c.samples,
      bytes: c.bytes,
      waitMs: c.waitMs,
      elapsedMs,
      inputWaitFraction: elapsedMs > 0 ? Math.min(1, c.waitMs / elapsedMs) : 0,
      batchesPerSecond: elapsedMs > 0 ? (c.batches * 1000) / elapsedMs : 0,
      samplesPerSecond: elapsedMs > 0 ? (c.samples * 1000) / elapsedMs : 0,
      startupMs: c.startupMs,
      busyMs: this.lanes.map((l) => l.busyMs()),
      probes: this.lanes.map((l) => l.probes),
      capacitySamplesPerSecond: this.capacity(),
    };
  }

  /** See {@link SupportServerStats.capacitySamplesPerSecond}. */
  private capacity(): number {
    const rows = (c: LaneCheck): number => c.firstRows ?? 0;
    let total = 0;
    this.lanes.forEach((l, i) => {
      const ms = l.costMsPerBatch();
      if (ms !== undefined) total += rows(this.checks[i]) / (ms / 1000);
    });
    return total;
  }

  /** Closes every lane (idempotent: lanes adopted after an earlier call are closed too). */
  private async shutdown(): Promise<void> {
    this.closing = true;
    await Promise.all(this.lanes.map((l) => l.close().catch(() => {})));
  }

  /** Stops the workers; pending and later next() calls return done. Idempotent. */
  async close(): Promise<void> {
    await this.shutdown();
  }

  /** `for await` support; leaving the loop early (break, throw) closes the server. */
  [Symbol.asyncIterator](): this {
    return this;
  }

  /** Called when a `for await` loop exits early: closes the server. */
  async return(): Promise<IteratorResult<Batch>> {
    await this.close();
    return DONE;
  }
}
