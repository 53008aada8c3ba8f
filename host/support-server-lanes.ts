/**
 * The support server's lanes: one lane per input pipeline, as the merging consumer (host/support-server.ts)
 * sees it. One interface, two implementations:
 * - {@link WorkerLane}: the pipeline runs in its own input worker thread (host/support-server-worker.ts),
 *   spoken to through runtime/parallel/worker-rpc.ts. The lane keeps up to `credit` `next()` requests
 *   outstanding plus batches received and not yet consumed, and asks for one more each time the consumer
 *   takes one: the worker never runs more than `credit` batches ahead (backpressure).
 * - {@link LocalLane}: the pipeline runs on the calling thread (in-process mode, for tests and debugging);
 *   a batch is produced when the consumer asks for it.
 * Both produce the same batches in the same order for the same pipeline, and fail with one UserError
 * naming the pipeline.
 */
import { performance } from 'node:perf_hooks';
import { UserError } from '../runtime/errors.ts';
import { WorkerClient, WorkerError } from '../runtime/parallel/worker-rpc.ts';
import type { Batch } from '../runtime/batch.ts';
import { InputPipeline, type PipelineSpec, type Sharding } from './input-pipeline.ts';
import type { InputWorkerMethods } from './support-server-worker.ts';

const ENTRY = new URL('./support-server-worker.ts', import.meta.url);

/** One input pipeline's stream of batches (see the module comment). */
export interface InputLane {
  /** Names the pipeline in messages, e.g. `input worker 0/2 (examples/mnist/data.ts)`. */
  readonly label: string;
  readonly sharding: Sharding;
  /**
   * Skips up to `n` batches (resume; before {@link start}).
   * @returns the number skipped, fewer than `n` if the stream ended.
   */
  skip(n: number): Promise<number>;
  /** Starts producing ahead of the consumer (worker lanes). */
  start(): void;
  /** The next batch without consuming it; undefined at the end of the stream or once closed. */
  peek(): Promise<Batch | undefined>;
  /** The next batch (consumed); undefined at the end of the stream or once closed. */
  next(): Promise<Batch | undefined>;
  /** Stops the pipeline; pending and later calls return undefined. Idempotent. */
  close(): Promise<void>;
  /**
   * Milliseconds the pipeline has spent producing batches since {@link start} (worker lanes: the input
   * worker's event-loop busy time; the local lane: time inside the pipeline's `next`). With the batches it
   * produced, this gives the pipeline's capacity independently of how fast the consumer takes them.
   */
  busyMs(): number;
  /** Batches produced since {@link start}, consumed or waiting. */
  readonly produced: number;
}

/** A pipeline running on the calling thread. */
export class LocalLane implements InputLane {
  private peeked: Batch | undefined;
  private ended = false;
  private closed = false;
  private busy = 0;
  produced = 0;

  private constructor(
    private readonly pipeline: InputPipeline,
    readonly label: string,
  ) {}

  /**
   * Opens the pipeline on this thread.
   * @throws UserError naming the pipeline (host/input-pipeline.ts).
   */
  static async open(spec: PipelineSpec): Promise<LocalLane> {
    return new LocalLane(await InputPipeline.open(spec), spec.label);
  }

  get sharding(): Sharding {
    return this.pipeline.sharding;
  }

  skip(n: number): Promise<number> {
    return this.pipeline.skip(n);
  }

  start(): void {}

  async peek(): Promise<Batch | undefined> {
    if (this.closed) return undefined;
    if (!this.peeked && !this.ended) {
      const t0 = performance.now();
      const r = await this.pipeline.next();
      this.busy += performance.now() - t0;
      if (r) {
        this.peeked = r.batch;
        this.produced++;
      } else this.ended = true;
    }
    return this.peeked;
  }

  async next(): Promise<Batch | undefined> {
    const b = await this.peek();
    this.peeked = undefined;
    return b;
  }

  busyMs(): number {
    return this.busy;
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.pipeline.close();
  }
}

/** The UserError of a failed request or a dead input worker. */
function laneFailure(e: unknown, label: string): UserError {
  if (e instanceof UserError) return e;
  if (e instanceof WorkerError && !e.died) return new UserError(e.message, { cause: e });
  const msg = (e as Error)?.message ?? String(e);
  const exited = /exited with code/i.test(msg);
  return new UserError(`${label}: the worker thread died (${msg})` + (exited ? '; did the data module call process.exit()?' : ''), { cause: e });
}

/** A pipeline running in its own input worker thread. */
export class WorkerLane implements InputLane {
  private readonly queue: Batch[] = [];
  private inFlight = 0;
  private started = false;
  private ended = false;
  private closed = false;
  private failure: UserError | undefined;
  /** Consumers waiting for a batch, the end, or a failure. */
  private waiters: (() => void)[] = [];
  /** Worker busy ms at start() (module loading and resume skipping are not production). */
  private busyAtStart = 0;
  /** Busy ms when the thread was stopped (it reads 0 afterwards). */
  private busyAtClose: number | undefined;
  produced = 0;

  private constructor(
    private readonly client: WorkerClient<InputWorkerMethods>,
    readonly label: string,
    readonly sharding: Sharding,
    private readonly credit: number,
    private readonly onFailure: (e: UserError) => void,
  ) {}

  /**
   * Starts an input worker and opens the pipeline in it.
   * @param credit  batches the worker may run ahead of the consumer (≥ 1).
   * @param onFailure  called once when the worker fails or dies later, whether or not a call is pending.
   * @throws UserError naming the worker if the pipeline fails to open or the thread dies while starting.
   */
  static async open(spec: PipelineSpec, credit: number, onFailure: (e: UserError) => void): Promise<WorkerLane> {
    let lane: WorkerLane | undefined;
    let client: WorkerClient<InputWorkerMethods> | undefined;
    try {
      client = await WorkerClient.start<InputWorkerMethods>(ENTRY, spec, { onDeath: (e) => lane?.fail(e) });
      lane = new WorkerLane(client, spec.label, await client.call('sharding'), credit, onFailure);
      return lane;
    } catch (e) {
      await client?.terminate();
      throw laneFailure(e, spec.label);
    }
  }

  private fail(e: unknown): void {
    if (this.failure || this.closed) return;
    this.failure = laneFailure(e, this.label);
    this.notify();
    this.onFailure(this.failure);
  }

  private notify(): void {
    const ws = this.waiters;
    this.waiters = [];
    for (const w of ws) w();
  }

  async skip(n: number): Promise<number> {
    try {
      return await this.client.call('skip', n);
    } catch (e) {
      this.fail(e);
      throw this.failure ?? laneFailure(e, this.label);
    }
  }

  start(): void {
    this.started = true;
    this.busyAtStart = this.client.busyMs();
    this.fill();
  }

  busyMs(): number {
    return (this.busyAtClose ?? this.client.busyMs()) - this.busyAtStart;
  }

  /** Asks for batches until `credit` are received or in flight. */
  private fill(): void {
    while (this.started && !this.ended && !this.closed && !this.failure && this.queue.length + this.inFlight < this.credit) {
      this.inFlight++;
      this.client.call('next').then(
        (r) => {
          this.inFlight--;
          if (!r.batch) this.ended = true;
          else if (!this.ended) {
            this.queue.push(r.batch);
            this.produced++;
          }
          this.notify();
        },
        (e) => this.fail(e),
      );
    }
  }

  async peek(): Promise<Batch | undefined> {
    for (;;) {
      if (this.failure) throw this.failure;
      if (this.closed) return undefined;
      if (this.queue.length) return this.queue[0];
      if (this.ended) return undefined;
      await new Promise<void>((r) => this.waiters.push(r));
    }
  }

  async next(): Promise<Batch | undefined> {
    const b = await this.peek();
    if (b) {
      this.queue.shift();
      this.fill();
    }
    return b;
  }

  async close(): Promise<void> {
    if (!this.closed && this.started) this.busyAtClose = this.client.busyMs();
    this.closed = true;
    this.notify();
    await this.client.terminate();
  }
}
