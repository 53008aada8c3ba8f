/**
 * The support server: a piscina pool of input workers that run the user's `inputFn` and stream batches to
 * the Estimator loop (Cerebras' "support server" on the CPU side of a CS system; DESIGN.md §1).
 *
 * ```ts
 * const server = await SupportServer.start({ dataModule: '/abs/model/data.ts', params, mode: 'train', startStep });
 * for await (const batch of server) { ... }   // { features: { image: [64,28,28,1] }, labels: [64] }
 * server.stats();                              // batches, samples, consumer wait ms, input-wait fraction
 * await server.close();
 * ```
 *
 * Workers. Worker i of N calls `inputFn(params, mode, { numInputPipelines: N, inputPipelineId: i })` with
 * the global seed set (see support-server-worker.ts) and produces its shard of the batches. N is
 * `numWorkers`, else `<section>.num_parallel_calls`, else {@link defaultNumWorkers}.
 *
 * Order. Batches are merged round-robin: worker 0's first batch, worker 1's first, …, worker 0's second,
 * …; a worker that has ended is passed over. The order is therefore a function of (data, seed, N) only,
 * never of thread timing. If the inputFn shards by its context (recommended: `ds.shard(ctx.numInputPipelines,
 * ctx.inputPipelineId)` early), each worker reads 1/N of the data; otherwise each worker keeps batches
 * i, i+N, … of the whole pipeline (tf.data AutoShardPolicy.DATA) and the merged order equals N = 1's.
 *
 * Resume. `startStep` S skips exactly the first S batches of that order: each worker skips its share
 * lazily (see Dataset skip) and, for finite streams where a worker runs out early, the shares are
 * recomputed from the workers' true lengths until they agree (see {@link resumePlan}).
 *
 * Backpressure. Each worker may run at most ⌈prefetch / N⌉ batches ahead of the consumer; the consumer
 * grants one more each time it takes one of that worker's batches. Time the consumer spends waiting for
 * a batch is measured ({@link SupportServerStats.inputWaitFraction}).
 *
 * Modes. 'train' (the inputFn shuffles and repeats), 'eval' (one pass, in order), 'infer' (labels
 * dropped). The params section is `train_input` for 'train', `eval_input` otherwise.
 *
 * Errors. Anything that goes wrong in a worker — the data module failing to load, inputFn throwing, a
 * reader error (missing data_dir, truncated IDX, bad CRC), a malformed or inconsistent batch, the worker
 * thread dying (process.exit) — becomes one {@link UserError} naming the worker and the data module,
 * thrown by `start()` or by the next `next()`; the pool is then shut down. Nothing waits forever on a
 * dead worker.
 */
import fs from 'node:fs';
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { Piscina } from 'piscina';
import { UserError } from '../runtime/errors.ts';
import type { Mode } from '../runtime/graph.ts';
import type { Params } from '../runtime/params.ts';
import type { Batch } from '../runtime/batch.ts';
import type { Dataset } from './data/dataset.ts';
import { inputSection } from './data/input.ts';
import { setRandomSeed } from './data/seed.ts';
import { describeValue } from './data/tensor.ts';
import {
  batchRows,
  batchSpecOf,
  checkBatchAgainstSpec,
  dataModulePath,
  displayPath,
  errorSummary,
  isDataset,
  loadInputFn,
  toTransferableBatch,
  type BatchSpec,
  type ControlMessage,
  type WorkerMessage,
  type WorkerTask,
} from './support-server-common.ts';

export type { BatchSpec, TensorSpec } from './support-server-common.ts';

/** The worker bootstrap (plain ESM: registers tsx, then imports support-server-worker.ts). */
const WORKER_BOOTSTRAP = new URL('./support-server-worker.mjs', import.meta.url).href;

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
}

/**
 * Input workers the machine can spare: one core is left to the main thread (the wafer simulator), at
 * most 4 (MNIST-sized pipelines do not scale further), at least 1.
 */
export function defaultNumWorkers(): number {
  return Math.max(1, Math.min(4, os.availableParallelism() - 1));
}

/**
 * How many batches each of N round-robin streams contributes to the first `startStep` merged batches,
 * given the streams' lengths (`Infinity` where not known to be shorter), and which stream comes next.
 * Rounds visit streams in index order and pass over streams that have ended.
 * @returns `counts[i]` (batches of stream i among the first startStep) and `cursor` (next stream).
 */
export function resumePlan(startStep: number, lengths: readonly number[]): { counts: number[]; cursor: number } {
  const n = lengths.length;
  const counts = new Array<number>(n).fill(0);
  let remaining = startStep;
  let round = 0;
  while (remaining > 0) {
    const live: number[] = [];
    for (let i = 0; i < n; i++) if (lengths[i] > round) live.push(i);
    if (live.length === 0) return { counts, cursor: 0 };
    // Whole rounds at once while every live stream lasts (fast path for infinite streams).
    const minLen = Math.min(...live.map((i) => lengths[i]));
    const whole = Math.min(Math.floor(remaining / live.length), minLen - round);
    if (whole > 0) {
      for (const i of live) counts[i] += whole;
      remaining -= whole * live.length;
      round += whole;
      continue;
    }
    for (let k = 0; k < remaining; k++) counts[live[k]]++;
    return { counts, cursor: live[remaining] };
  }
  for (let i = 0; i < n; i++) if (lengths[i] > round) return { counts, cursor: i };
  return { counts, cursor: 0 };
}

const DONE: IteratorResult<Batch> = { done: true, value: undefined };

/** The in-process pipeline (option inProcess). */
interface LocalPipeline {
  it: ReturnType<Dataset<unknown>['iterator']>;
  label: string;
  /** Batches produced so far (including skipped ones), for messages. */
  produced: number;
  done: boolean;
  /** A batch taken by elementSpec() and not yet consumed. */
  peeked: Batch | undefined;
  check: Pick<Lane, 'consumed' | 'firstRows' | 'partialRows'>;
}

/** One worker as the main thread sees it. */
interface Lane {
  index: number;
  label: string;
  port: MessagePort;
  queue: Batch[];
  ended: boolean;
  skipped: number;
  exhausted: boolean;
  sharding: string;
  consumed: number;
  firstRows?: number;
  partialRows?: number;
  replies: ((m: WorkerMessage) => void)[];
}

/**
 * Streams the batches of a data module's inputFn from a pool of worker threads (see the module doc).
 * Iterate it once with `for await` (breaking out closes it) or call `next()`; call `close()` when done
 * (the pool is also released by itself once every stream has ended or a worker has failed).
 */
export class SupportServer implements AsyncIterableIterator<Batch> {
  /** Number of input workers (0 in-process). */
  readonly numWorkers: number;
  readonly mode: Mode;
  /** Absolute path of the data module. */
  readonly dataModule: string;

  private pool: Piscina | undefined;
  private lanes: Lane[] = [];
  private cursor = 0;
  private fatal: UserError | undefined;
  private rejectFatal!: (e: UserError) => void;
  private readonly fatalPromise: Promise<never>;
  private wake: (() => void) | undefined;
  private closing = false;
  private shutdownPromise: Promise<void> | undefined;
  private spec: BatchSpec | undefined;
  private serial: Promise<unknown> = Promise.resolve();
  private local: LocalPipeline | undefined;
  private counters = { batches: 0, samples: 0, waitMs: 0, firstNextAt: undefined as number | undefined, startupMs: 0 };

  private constructor(options: SupportServerOptions, numWorkers: number) {
    this.mode = options.mode;
    this.dataModule = dataModulePath(options.dataModule);
    this.numWorkers = numWorkers;
    this.fatalPromise = new Promise<never>((_, reject) => (this.rejectFatal = reject));
    this.fatalPromise.catch(() => {});
  }

  /**
   * Starts the workers and waits until each has loaded the data module, called inputFn and skipped the
   * batches before `startStep`.
   * @throws UserError for bad options (unknown mode, missing data module, N < 1, startStep < 0) and for
   *   any worker failure during start-up (see the module doc); the pool is shut down before throwing.
   */
  static async start(options: SupportServerOptions): Promise<SupportServer> {
    const t0 = performance.now();
    if (!['train', 'eval', 'infer'].includes(options.mode)) throw new UserError(`support server: unknown mode '${options.mode}'; expected train, eval or infer`);
    const file = dataModulePath(options.dataModule);
    if (!fs.existsSync(file)) throw new UserError(`${displayPath(file)}: data module not found`);
    const section = inputSection(options.mode);
    const input = options.params[section] ?? {};
    const n = options.inProcess ? 1 : (options.numWorkers ?? (input.num_parallel_calls ? input.num_parallel_calls : defaultNumWorkers()));
    if (!Number.isInteger(n) || n < 1) throw new UserError(`support server: numWorkers must be an integer ≥ 1 (got ${n})`);
    const startStep = options.startStep ?? 0;
    if (!Number.isInteger(startStep) || startStep < 0) throw new UserError(`support server: startStep must be an integer ≥ 0 (got ${startStep})`);
    const seed = options.seed ?? options.params.runconfig?.seed ?? 0;
    const params: Params = { ...options.params, runconfig: { ...options.params.runconfig, seed } };
    const exportName = options.inputFnExport ?? 'inputFn';
    const server = new SupportServer(options, options.inProcess ? 0 : n);
    try {
      if (options.inProcess) await server.startLocal(params, exportName, seed, startStep);
      else {
        const prefetch = options.prefetch ?? input.prefetch_buffer_size ?? Math.max(8, 2 * n);
        if (!Number.isInteger(prefetch) || prefetch < 1) throw new UserError(`support server: prefetch must be an integer ≥ 1 (got ${prefetch})`);
        await server.startWorkers(params, exportName, seed, startStep, n, Math.max(1, Math.ceil(prefetch / n)));
      }
    } catch (e) {
      await server.shutdown();
      throw e;
    }
    server.counters.startupMs = performance.now() - t0;
    return server;
  }

  private async startLocal(params: Params, exportName: string, seed: number, startStep: number): Promise<void> {
    const label = `input pipeline (in-process, ${displayPath(this.dataModule)})`;
    let phase = 'loading the data module';
    try {
      setRandomSeed(seed);
      const fn = await loadInputFn(this.dataModule, exportName);
      phase = `calling ${exportName}`;
      const ds = await fn(params, this.mode, { numInputPipelines: 1, inputPipelineId: 0 });
      if (!isDataset(ds)) throw new UserError(`${exportName} returned ${describeValue(ds)}; it must return a Dataset of batches`);
      const it = ds.iterator();
      phase = 'skipping already consumed batches';
      if (startStep > 0) await it.skip(startStep);
      this.local = { it, label, produced: startStep, done: false, peeked: undefined, check: { consumed: 0 } };
    } catch (e) {
      throw this.wrapLocal(e, label, phase);
    }
  }

  private wrapLocal(e: unknown, label: string, phase: string): UserError {
    if (e instanceof UserError || (e as Error)?.name === 'UserError') return new UserError(`${label}: ${(e as Error).message}`, { cause: e });
    return new UserError(`${label}: error while ${phase}: ${errorSummary(e, this.dataModule)}`, { cause: e });
  }

  private async startWorkers(params: Params, exportName: string, seed: number, startStep: number, n: number, credit: number): Promise<void> {
    this.pool = new Piscina({
      filename: WORKER_BOOTSTRAP,
      minThreads: n,
      maxThreads: n,
      concurrentTasksPerWorker: 1,
      idleTimeout: 60_000,
      name: 'default',
    });
    const initial = resumePlan(startStep, new Array(n).fill(Infinity)).counts;
    const readies: Promise<WorkerMessage>[] = [];
    for (let i = 0; i < n; i++) {
      const { port1, port2 } = new MessageChannel();
      const lane: Lane = {
        index: i,
        label: `input worker ${i}/${n} (${displayPath(this.dataModule)})`,
        port: port1,
        queue: [],
        ended: false,
        skipped: 0,
        exhausted: false,
        sharding: '?',
        consumed: 0,
        replies: [],
      };
      this.lanes.push(lane);
      readies.push(this.reply(lane));
      port1.on('message', (m: WorkerMessage) => this.onMessage(lane, m));
      const task: WorkerTask = {
        port: port2,
        dataModule: this.dataModule,
        inputFnExport: exportName,
        params,
        mode: this.mode,
        numWorkers: n,
        workerIndex: i,
        seed,
        skip: initial[i],
        credit,
      };
      this.pool.run(task, { transferList: [port2] }).then(
        () => {},
        (e: Error) => {
          if (this.closing) return;
          const exited = /exited with code/i.test(e?.message ?? '');
          this.fail(
            new UserError(
              `${lane.label}: the worker thread died (${e?.message ?? e})` + (exited ? '; did the data module call process.exit()?' : ''),
              { cause: e },
            ),
          );
        },
      );
    }
    const ready = await Promise.race([Promise.all(readies), this.fatalPromise]);
    ready.forEach((m, i) => {
      if (m.type !== 'ready') throw new Error(`support server: unexpected ${m.type} message from worker ${i}`);
      const lane = this.lanes[i];
      lane.sharding = m.sharding;
      lane.skipped = m.skipped;
      lane.exhausted = m.skipped < initial[i];
    });
    // Resume: recompute each worker's share from the lengths of streams that ran out, until stable.
    let plan = resumePlan(startStep, initial);
    for (;;) {
      plan = resumePlan(
        startStep,
        this.lanes.map((l) => (l.exhausted ? l.skipped : Infinity)),
      );
      const more = this.lanes.filter((l) => !l.exhausted && plan.counts[l.index] > l.skipped);
      if (more.length === 0) break;
      const replies = more.map((l) => {
        const want = plan.counts[l.index] - l.skipped;
        const p = this.reply(l).then((m) => {
          if (m.type !== 'skipped') throw new Error(`support server: unexpected ${m.type} message from worker ${l.index}`);
          l.skipped += m.skipped;
          if (m.skipped < want) l.exhausted = true;
        });
        this.send(l, { type: 'skip', n: want });
        return p;
      });
      await Promise.race([Promise.all(replies), this.fatalPromise]);
    }
    this.cursor = plan.cursor;
    for (const l of this.lanes) this.send(l, { type: 'go' });
  }

  private reply(lane: Lane): Promise<WorkerMessage> {
    return new Promise((resolve) => lane.replies.push(resolve));
  }

  private send(lane: Lane, m: ControlMessage): void {
    try {
      lane.port.postMessage(m);
    } catch {
      // The port is closed: the worker has finished or died, which its own message or task reports.
    }
  }

  private onMessage(lane: Lane, m: WorkerMessage): void {
    switch (m.type) {
      case 'ready':
      case 'skipped':
        lane.replies.shift()?.(m);
        break;
      case 'batch':
        lane.queue.push(m.batch);
        break;
      case 'end':
        lane.ended = true;
        break;
      case 'error':
        this.fail(new UserError(m.message));
        break;
    }
    this.notify();
  }

  private notify(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }

  private fail(e: UserError): void {
    if (this.fatal || this.closing) return;
    this.fatal = e;
    this.rejectFatal(e);
    this.notify();
    void this.shutdown();
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

  private async nextBatch(): Promise<IteratorResult<Batch>> {
    const t0 = performance.now();
    this.counters.firstNextAt ??= t0;
    if (this.local) return this.nextLocal(t0);
    let waited = false;
    try {
      for (;;) {
        if (this.fatal) throw this.fatal;
        if (this.closing) return DONE;
        const lane = this.lanes[this.cursor];
        const b = lane.queue.shift();
        if (b) {
          this.accept(lane.label, lane, b);
          this.send(lane, { type: 'credit', n: 1 });
          this.cursor = (lane.index + 1) % this.lanes.length;
          return { done: false, value: b };
        }
        if (lane.ended) {
          if (this.lanes.every((l) => l.ended && l.queue.length === 0)) {
            void this.shutdown(); // every stream is finished: release the threads now
            return DONE;
          }
          this.cursor = (lane.index + 1) % this.lanes.length;
          continue;
        }
        waited = true;
        await new Promise<void>((r) => (this.wake = r));
      }
    } finally {
      if (waited) this.counters.waitMs += performance.now() - t0;
    }
  }

  /** Produces the next batch of the in-process pipeline (not yet checked against the spec). */
  private async pullLocal(): Promise<Batch | undefined> {
    const local = this.local!;
    if (local.peeked) {
      const b = local.peeked;
      local.peeked = undefined;
      return b;
    }
    if (local.done) return undefined;
    let r: IteratorResult<unknown>;
    try {
      r = await local.it.next();
      if (r.done) {
        local.done = true;
        return undefined;
      }
      return toTransferableBatch(r.value, this.mode, `${local.label}, batch ${local.produced}`).batch;
    } catch (e) {
      this.fatal = this.wrapLocal(e, local.label, `producing batch ${local.produced}`);
      throw this.fatal;
    } finally {
      local.produced++;
    }
  }

  private async nextLocal(t0: number): Promise<IteratorResult<Batch>> {
    const local = this.local!;
    if (this.fatal) throw this.fatal;
    if (this.closing) return DONE;
    let b: Batch | undefined;
    try {
      b = await this.pullLocal();
    } finally {
      this.counters.waitMs += performance.now() - t0;
    }
    if (!b) return DONE;
    this.accept(local.label, local.check, b);
    return { done: false, value: b };
  }

  /** Checks a batch about to be consumed against the stream's spec and its lane's earlier batch sizes. */
  private accept(label: string, lane: Pick<Lane, 'consumed' | 'firstRows' | 'partialRows'>, b: Batch): void {
    const where = `${label}, batch ${lane.consumed}`;
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
  }

  /**
   * tf.data `element_spec`: per-sample shapes and dtypes of features and labels and the batch size, from
   * the first batch (waits for it without consuming it).
   * @throws UserError if the stream fails before its first batch or is empty.
   */
  async elementSpec(): Promise<BatchSpec> {
    if (this.spec) return this.spec;
    if (this.local) {
      if (this.fatal) throw this.fatal;
      const local = this.local;
      if (!local.peeked) {
        const b = await this.pullLocal();
        if (!b) throw new UserError(`${local.label}: the dataset is empty`);
        local.peeked = b;
      }
      return batchSpecOf(local.peeked);
    }
    for (;;) {
      if (this.fatal) throw this.fatal;
      const lane = this.lanes[this.cursor];
      if (lane.queue.length) return batchSpecOf(lane.queue[0]);
      if (this.lanes.every((l) => l.ended && l.queue.length === 0)) throw new UserError(`${lane.label}: the dataset is empty`);
      if (lane.ended) this.cursor = (lane.index + 1) % this.lanes.length;
      else await new Promise<void>((r) => (this.wake = r));
    }
  }

  /** Counters since start (see {@link SupportServerStats}). */
  stats(): SupportServerStats {
    const c = this.counters;
    const elapsedMs = c.firstNextAt === undefined ? 0 : performance.now() - c.firstNextAt;
    const sharding = this.local ? 'single' : [...new Set(this.lanes.map((l) => l.sharding))].join(',');
    return {
      numWorkers: this.numWorkers,
      sharding,
      batches: c.batches,
      samples: c.samples,
      waitMs: c.waitMs,
      elapsedMs,
      inputWaitFraction: elapsedMs > 0 ? Math.min(1, c.waitMs / elapsedMs) : 0,
      batchesPerSecond: elapsedMs > 0 ? (c.batches * 1000) / elapsedMs : 0,
      samplesPerSecond: elapsedMs > 0 ? (c.samples * 1000) / elapsedMs : 0,
      startupMs: c.startupMs,
    };
  }

  private shutdown(): Promise<void> {
    if (this.shutdownPromise) return this.shutdownPromise;
    this.closing = true;
    this.notify();
    for (const l of this.lanes) this.send(l, { type: 'stop' });
    const pool = this.pool;
    const local = this.local;
    this.shutdownPromise = (async () => {
      if (pool) await pool.destroy().catch(() => {});
      for (const l of this.lanes) l.port.close();
      if (local) await local.it.return().catch(() => {});
    })();
    return this.shutdownPromise;
  }

  /** Stops the workers and releases the pool; pending and later next() calls return done. Idempotent. */
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
