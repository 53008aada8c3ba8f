/**
 * The support server's lanes: one lane per input pipeline, as the merging consumer (host/input/support-server.ts)
 * sees it. One interface, two implementations:
 * - {@link WorkerLane}: the pipeline runs in its own input worker thread (host/input/worker.ts),
 *   spoken to through runtime/parallel/worker-rpc.ts. The lane keeps up to `credit` `next()` requests
 *   outstanding plus batches received and not yet consumed, and asks for one more each time the consumer
 *   takes one: the worker runs at most `credit` batches ahead (backpressure), except during a cost probe
 *   (see {@link PROBE_BATCHES}).
 * - {@link LocalLane}: the pipeline runs on the calling thread (in-process mode, for tests and debugging);
 *   a batch is produced when the consumer asks for it.
 * Both produce the same batches in the same order for the same pipeline, and fail with one UserError
 * naming the pipeline.
 */
import { UserError } from '../../runtime/errors.ts';
import { threadCpuMs } from '../../runtime/parallel/thread-cpu.ts';
import { WorkerClient, WorkerError } from '../../runtime/parallel/worker-rpc.ts';
import { batchBytes, type Batch } from '../../runtime/batch.ts';
import { INPUT_ADAPTERS } from './conventions.ts';
import { InputPipeline, type PipelineSpec, type Sharding } from './pipeline.ts';
import type { InputWorkerMethods } from './worker.ts';

const ENTRY = new URL('./worker.ts', import.meta.url);

/**
 * Batches of a lane's start left out of its cost measurement ({@link InputLane.busyMs}). Measured on
 * examples/mnist: a fresh worker's 2nd–8th batches cost 2–4× the steady cost until V8 has optimised the
 * pipeline's code.
 */
export const WARMUP_BATCHES = 8;

/**
 * A worker lane's cost probe: batches asked for at once, beyond the credit, so that the worker produces
 * them back to back while the consumer waits (the support server runs a probe inside `next()`, when csrun's
 * compute workers are idle between steps), and only when the worker idles ahead of the consumer with a
 * full queue. A worker fed one request at a time by a slow consumer (csrun's
 * host numerics take ~125 ms per MNIST step) wakes from idle for every batch, with cold caches, and
 * competes for the cores with the compute workers; it then spends 1.6–2.5× the CPU time per batch it needs
 * on a core of its own running flat out (measured on examples/mnist, 2 cores: 50–90 k vs 130–145 k
 * samples per CPU-second). What the wafer would see is the flat-out cost, so the lane measures that: it
 * times the probe from its first batch to its last (the first carries the wake-up). Capped by
 * {@link PROBE_BYTES}; at least 2 batches.
 */
export const PROBE_BATCHES = 32;
/** Most bytes a probe may hold beyond the credit (32 MiB). */
export const PROBE_BYTES = 32 * 2 ** 20;
/** Most CPU milliseconds of work a probe may ask for (at the lane's average cost per batch so far), so that
 * the consumer's wait stays short: 50 ms per {@link PROBE_INTERVAL} batches. */
export const PROBE_MS = 50;
/** Batches produced between two probes; the first probe is due once the warm-up and 32 more are done. */
export const PROBE_INTERVAL = 256;

/** CPU ms per batch over `produced` batches that took `busyMs` (undefined before any was measured). */
function averageCost(busyMs: number, produced: number): number | undefined {
  return produced > 0 && busyMs > 0 ? busyMs / produced : undefined;
}

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
   * CPU milliseconds the pipeline has spent producing batches after its first {@link WARMUP_BATCHES}
   * (worker lanes: the input worker thread's CPU time; the local lane: the calling thread's CPU time inside
   * the pipeline's `next`; runtime/parallel/thread-cpu.ts). The first batches are left out: they carry
   * one-off work (readers loading files, shuffle buffers filling, the JIT compiling the pipeline). With
   * {@link produced}, this gives the pipeline's steady capacity independently of how fast the consumer
   * takes the batches.
   */
  busyMs(): number;
  /** Batches produced after the first {@link WARMUP_BATCHES}, consumed or waiting. */
  readonly produced: number;
  /**
   * The pipeline's steady cost in CPU milliseconds per batch when it produces flat out: the lesser of
   * {@link busyMs} ÷ {@link produced} and the fastest cost probe (worker lanes, {@link PROBE_BATCHES});
   * undefined before any batch was measured.
   */
  costMsPerBatch(): number | undefined;
  /**
   * Runs a cost probe if one is due (worker lanes, {@link PROBE_BATCHES}): resolves once its batches are
   * all received; undefined when none is due (the local lane never probes).
   */
  probeIfDue(): Promise<void> | undefined;
  /** Cost probes finished (timed where the thread's CPU clock moved). */
  readonly probes: number;
}

/** A pipeline running on the calling thread. */
export class LocalLane implements InputLane {
  private peeked: Batch | undefined;
  private ended = false;
  private closed = false;
  private busy = 0;
  /** Batches produced, warm-up included. */
  private seen = 0;
  produced = 0;

  private constructor(
    private readonly pipeline: InputPipeline,
    readonly label: string,
  ) {}

  /**
   * Opens the pipeline on this thread.
   * @throws UserError naming the pipeline (host/input/pipeline.ts).
   */
  static async open(spec: PipelineSpec): Promise<LocalLane> {
    return new LocalLane(await InputPipeline.open(spec, INPUT_ADAPTERS), spec.label);
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
      const t0 = threadCpuMs();
      const r = await this.pipeline.next();
      const counted = this.seen >= WARMUP_BATCHES;
      if (counted) this.busy += threadCpuMs() - t0;
      if (r) {
        this.peeked = r.batch;
        if (counted) this.produced++;
        this.seen++;
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

  costMsPerBatch(): number | undefined {
    return averageCost(this.busy, this.produced);
  }

  probeIfDue(): undefined {
    return undefined;
  }

  readonly probes = 0;

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
  /** The worker thread's CPU ms when it produced its last warm-up batch (undefined before), and at its
   * latest batch; batches received, warm-up included. */
  private cpuAtFirst: number | undefined;
  private cpuLatest = 0;
  private seen = 0;
  produced = 0;
  /** Responses received so far; they arrive in request order, so request number k is the k-th response
   * and the next request sent is number `received + inFlight`. */
  private received = 0;
  /** The running probe: its requests are numbers [from, to); the CPU ms at its first batch; settles it. */
  private probe: { from: number; to: number; cpuAtFirst?: number; done: () => void } | undefined;
  /** `produced` at which the next probe is due. */
  private nextProbeAt = WARMUP_BATCHES + PROBE_BATCHES;
  /** The least CPU ms per batch over the finished probes (each probe's first batch excluded): a probe can
   * only be slowed (by the JIT still warming up, GC, other threads' cache traffic), never sped up, so the
   * fastest is the best estimate of the flat-out cost. */
  private probeCost: number | undefined;
  probes = 0;

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
    this.fill();
  }

  busyMs(): number {
    return this.cpuAtFirst === undefined ? 0 : this.cpuLatest - this.cpuAtFirst;
  }

  costMsPerBatch(): number | undefined {
    const average = averageCost(this.busyMs(), this.produced);
    // Both can only overstate the flat-out cost (the average by the idle wake-ups of a slow consumer).
    return this.probeCost === undefined ? average : Math.min(this.probeCost, average ?? Infinity);
  }

  /** Asks for batches until `credit` are received or in flight. */
  private fill(): void {
    while (this.live() && this.queue.length + this.inFlight < this.credit) this.request();
  }

  private live(): boolean {
    return this.started && !this.ended && !this.closed && !this.failure;
  }

  probeIfDue(): Promise<void> | undefined {
    // Only while the worker idles with a full queue: a worker that cannot keep up runs flat out already,
    // and its busy time per batch is the flat-out cost.
    if (!this.live() || this.probe || this.produced < this.nextProbeAt || this.queue.length < this.credit) return undefined;
    const byBytes = Math.floor(PROBE_BYTES / Math.max(1, batchBytes(this.queue[0])));
    const byTime = Math.floor(PROBE_MS / Math.max(1e-3, averageCost(this.busyMs(), this.produced) ?? 0));
    const n = Math.max(2, Math.min(PROBE_BATCHES, byBytes, byTime));
    return new Promise<void>((done) => {
      const from = this.received + this.inFlight;
      this.probe = { from, to: from + n, done };
      for (let i = 0; i < n; i++) this.request();
    });
  }

  /** Sends one `next()` request and files its batch (warm-up, cost and probe accounting). */
  private request(): void {
    this.inFlight++;
    this.client.call('next').then(
      (r) => {
        this.inFlight--;
        const k = this.received++;
        if (!r.batch) this.ended = true;
        else if (!this.ended) {
          this.queue.push(r.batch);
          if (++this.seen === WARMUP_BATCHES) this.cpuAtFirst = r.cpuMs;
          else if (this.seen > WARMUP_BATCHES) {
            this.produced++;
            this.cpuLatest = r.cpuMs;
          }
        }
        this.onProbeBatch(k, r.batch && !this.ended ? r.cpuMs : undefined);
        this.notify();
      },
      (e) => {
        this.fail(e);
        this.endProbe();
      },
    );
  }

  /** Times the running probe: from its first batch (request number `from`) to its last. */
  private onProbeBatch(k: number, cpuMs: number | undefined): void {
    const p = this.probe;
    if (!p || k < p.from) return;
    if (k === p.from) p.cpuAtFirst = cpuMs;
    if (k === p.to - 1 && cpuMs !== undefined) this.probes++;
    // The thread's CPU clock advances at scheduler ticks: a probe too short to move it gives no cost.
    if (k === p.to - 1 && p.cpuAtFirst !== undefined && cpuMs !== undefined && cpuMs > p.cpuAtFirst) {
      this.probeCost = Math.min(this.probeCost ?? Infinity, (cpuMs - p.cpuAtFirst) / (p.to - 1 - p.from));
    }
    if (k >= p.to - 1 || cpuMs === undefined) this.endProbe();
  }

  private endProbe(): void {
    const p = this.probe;
    this.probe = undefined;
    this.nextProbeAt = this.produced + PROBE_INTERVAL;
    p?.done();
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
    this.closed = true;
    this.notify();
    this.endProbe();
    await this.client.terminate();
  }
}
