/**
 * The one way csrun talks to its worker threads: a long-lived `node:worker_threads` Worker that runs a
 * setup once and then serves requests `method(arg)` one at a time, in the order they were sent. Used by
 * the compute workers (runtime/parallel/pool.ts) and by the support server's input workers
 * (host/input/lanes.ts).
 *
 * Why a long-lived worker with a message port, and not a task pool (piscina, which the support server
 * used before as a mere thread spawner): every csrun worker holds state for the whole run that lives in
 * that one thread — an input worker its shard of the user's input pipeline (iterator, shuffle buffer,
 * open files, read-ahead), a compute worker its shards' weights in its own wasm heap and its place in the
 * shared-memory all-reduce. A task pool hands a task to whichever thread is free and offers no affinity, so
 * a task "the next k batches of shard i" could land on a thread that does not hold shard i; by default it
 * also blocks idle threads in `Atomics.wait`, which would stall an input pipeline's read-ahead between
 * tasks, and it respawns a crashed thread without its state. Fitting piscina would mean one single-thread
 * pool per shard, i.e. using it as a thread wrapper. A never-ending stream is instead served as a sequence
 * of requests to its own thread (the support server keeps `credit` "next batch" requests outstanding per
 * input worker, which is its backpressure), and the RPC below is all that both kinds of worker need.
 *
 * Protocol. The worker's first message is `{ ready: true }` once its setup has run, or
 * `{ ready: false, error }`. Then main → worker `{ id, method, arg }` and worker → main
 * `{ id, ok: true, value }` or `{ id, ok: false, error }`, where `error` is `{ message, userError, stack }`.
 * Requests are handled strictly in arrival order, one at a time, so a worker's replies come back in
 * request order. Buffers are transferred, not copied, where the caller or the method says so
 * ({@link withTransfer}).
 *
 * Failure. A request that throws rejects that call with a {@link WorkerError} (`died` false, `userError`
 * true if it was a UserError). A thread that crashes or exits without {@link WorkerClient.terminate}
 * rejects every pending and later call with a WorkerError (`died` true) and calls `onDeath` once, so that
 * nothing waits forever on a dead worker.
 *
 * Worker threads do not inherit the main thread's module hooks: every worker starts from
 * `worker-bootstrap.mjs`, which registers the TypeScript loader (bin/register.mjs) and then imports the
 * worker's entry module.
 */
import { parentPort, Worker, workerData } from 'node:worker_threads';

/** A worker's request handlers, each taking at most one structured-cloneable argument (`any`, so that
 * handlers with specific argument types fit; {@link CallArgs} recovers them at the call site). */
export type Methods = Record<string, (arg: any) => unknown>;

/** A method result whose buffers are transferred to the main thread instead of copied. */
export class Transfer<T> {
  constructor(
    readonly value: T,
    readonly list: ArrayBuffer[],
  ) {}
}

/** Wraps a method result so that `list` (buffers inside `value`) is transferred, not copied. */
export function withTransfer<T>(value: T, list: ArrayBuffer[]): Transfer<T> {
  return new Transfer(value, list);
}

/** `R`, or the value a {@link Transfer} wraps. */
type Unwrap<R> = R extends Transfer<infer T> ? T : R;

/** What a call of method `F` resolves with (the unwrapped value of a {@link Transfer}). */
export type ResultOf<F> = F extends (...args: never[]) => infer R ? Unwrap<Awaited<R>> : never;

/** The arguments of a call of method `F`: none, or its one argument and optionally buffers to transfer. */
export type CallArgs<F> = F extends () => unknown ? [] : F extends (arg: infer A) => unknown ? [arg: A, transfer?: ArrayBuffer[]] : never;

/** A request that failed in the worker, or a worker thread that died. */
export class WorkerError extends Error {
  /**
   * @param message  the worker's error message, or `crashed: …` / `exited with code N` when it died.
   * @param died  true when the thread crashed or exited (every later call fails too).
   * @param userError  true when the worker threw a UserError (a mistake in user input, not a csrun bug).
   * @param remoteStack  the stack in the worker, if any.
   */
  constructor(
    message: string,
    readonly died: boolean,
    readonly userError: boolean,
    readonly remoteStack?: string,
  ) {
    super(message);
    this.name = 'WorkerError';
  }
}

interface SerializedError {
  message: string;
  userError: boolean;
  stack?: string;
}

function serializeError(e: unknown): SerializedError {
  const err = e as Error | undefined;
  return { message: err?.message ?? String(e), userError: err?.name === 'UserError', stack: err?.stack };
}

function revive(e: SerializedError): WorkerError {
  return new WorkerError(e.message, false, e.userError, e.stack);
}

/** Where a worker starts: registers the TypeScript loader, then imports `workerData.entry`. */
const BOOTSTRAP = new URL('./worker-bootstrap.mjs', import.meta.url);

/** What the bootstrap passes on to {@link serveRequests}. */
interface BootData {
  entry: string;
  init: unknown;
}

/** Options of {@link WorkerClient.start}. */
export interface WorkerStartOptions {
  /** Called once if the thread crashes or exits before {@link WorkerClient.terminate}. */
  onDeath?: (e: WorkerError) => void;
}

/** The main thread's handle on one worker thread serving methods `M` (see the module comment). */
export class WorkerClient<M extends Methods> {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private dead: WorkerError | undefined;
  private stopping = false;

  private constructor(
    private readonly worker: Worker,
    onDeath: ((e: WorkerError) => void) | undefined,
  ) {
    worker.on('message', (m: { id?: number; ok?: boolean; value?: unknown; error?: SerializedError }) => {
      if (m.id === undefined) return;
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (m.ok) p.resolve(m.value);
      else p.reject(revive(m.error!));
    });
    const die = (e: WorkerError) => {
      if (this.dead) return;
      this.dead = e;
      for (const p of this.pending.values()) p.reject(e);
      this.pending.clear();
      if (!this.stopping) onDeath?.(e);
    };
    worker.on('error', (e) => die(new WorkerError(`crashed: ${e?.message ?? e}`, true, false, e?.stack)));
    worker.on('exit', (code) => die(new WorkerError(this.stopping ? 'has been stopped' : `exited with code ${code}`, true, false)));
  }

  /**
   * Starts a worker thread running `entry` (a module that calls {@link serveRequests}) with `init` as its
   * setup argument, and waits until the setup has run.
   * @param entry  URL of the worker's TypeScript entry module.
   * @param init  structured-cloneable setup argument (SharedArrayBuffers are shared, not copied).
   * @throws (rejects) WorkerError if the setup throws or the thread dies while starting; the thread is
   *   stopped before.
   */
  static async start<M extends Methods>(entry: URL, init: unknown, opts: WorkerStartOptions = {}): Promise<WorkerClient<M>> {
    const boot: BootData = { entry: entry.href, init };
    const worker = new Worker(BOOTSTRAP, { workerData: boot });
    let started = false;
    const client = new WorkerClient<M>(worker, (e) => (started ? opts.onDeath?.(e) : undefined));
    await new Promise<void>((resolve, reject) => {
      const onMessage = (m: { ready?: boolean; error?: SerializedError }) => {
        if (m.ready === undefined) return;
        worker.off('message', onMessage);
        worker.off('exit', onExit);
        if (m.ready) resolve();
        else reject(revive(m.error!));
      };
      const onExit = (code: number) => reject(client.dead ?? new WorkerError(`exited with code ${code}`, true, false));
      worker.on('message', onMessage);
      worker.on('exit', onExit);
    }).catch(async (e) => {
      await client.terminate();
      throw e;
    });
    started = true;
    return client;
  }

  /**
   * Calls `method` in the worker; requests run one at a time in the order they were sent.
   * @param rest  the method's argument (if it takes one), and buffers inside it to transfer.
   * @throws (rejects) WorkerError if the method throws or the thread has died.
   */
  call<K extends keyof M & string>(method: K, ...rest: CallArgs<M[K]>): Promise<ResultOf<M[K]>> {
    if (this.dead) return Promise.reject(this.dead);
    const [arg, transfer] = rest as [unknown, ArrayBuffer[] | undefined];
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.worker.postMessage({ id, method, arg }, transfer ?? []);
    });
  }

  /** Stops the thread; pending calls reject. Idempotent. */
  async terminate(): Promise<void> {
    this.stopping = true;
    await this.worker.terminate();
  }
}

/**
 * The worker side: runs `setup(init)` (the `init` given to {@link WorkerClient.start}), reports ready,
 * then serves the returned methods one request at a time in arrival order. A method may return
 * {@link withTransfer} to transfer buffers of its result. Call once, at the top level of the entry module.
 * @throws Error when called outside a worker thread started by {@link WorkerClient.start}.
 */
export function serveRequests<I, M extends Methods>(setup: (init: I) => M | Promise<M>): void {
  const port = parentPort;
  if (!port) throw new Error('serveRequests: not in a worker thread');
  const { init } = workerData as BootData;
  let queue: Promise<void> = Promise.resolve();
  const serve = (methods: M) => {
    port.on('message', (req: { id: number; method: string; arg: unknown }) => {
      queue = queue.then(async () => {
        try {
          const fn = methods[req.method];
          if (typeof fn !== 'function') throw new Error(`unknown method '${req.method}'`);
          const value = await fn(req.arg);
          if (value instanceof Transfer) port.postMessage({ id: req.id, ok: true, value: value.value }, value.list);
          else port.postMessage({ id: req.id, ok: true, value });
        } catch (e) {
          port.postMessage({ id: req.id, ok: false, error: serializeError(e) });
        }
      });
    });
    port.postMessage({ ready: true });
  };
  Promise.resolve()
    // `init` is what the parent passed as the worker's init (structured clone of an I).
    .then(() => setup(init as I))
    .then(serve, (e) => port.postMessage({ ready: false, error: serializeError(e) }));
}
