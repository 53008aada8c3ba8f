/**
 * The pool of compute workers that run the wafer's kernels: N data-parallel replicas, each a worker thread
 * with its own wasm backend (wafer-sim/replica-worker.ts). A batch is split into N contiguous slices; the
 * replicas exchange batch-norm statistics and gradients through a shared-memory all-reduce that adds
 * contributions in replica order, so each N gives a deterministic result, equal across N up to float32
 * summation order.
 */
import os from 'node:os';
import { Worker } from 'node:worker_threads';
import type { Batch, EvalResult, HostTensor, NamedArray, SliceInfo } from '../runtime/executor.ts';
import { UserError } from '../runtime/errors.ts';
import type { Graph } from '../runtime/graph.ts';
import { abortCollective, createCollective } from './collective.ts';
import type { ReplicaInit } from './replica-worker.ts';
import { addTraffic, emptyTraffic, type RouteTraffic, type Schedule } from './schedule.ts';

const BOOTSTRAP = new URL('./replica-worker.mjs', import.meta.url);

/** Result of one training step over all replicas. */
export interface StepResult {
  /** Data loss + regularisation over the global batch (before the update). */
  loss: number;
  dataLoss: number;
  regularizationLoss: number;
  learningRate: number;
  /** Elements carried per route (forward activations, backward gradients), all replicas. */
  traffic: RouteTraffic;
}

/** Compute workers the machine can give: one per core, keeping none back on a 2-core machine. */
export function defaultComputeWorkers(): number {
  return Math.max(1, Math.min(8, os.availableParallelism?.() ?? os.cpus().length));
}

/** Splits `n` samples into `parts` contiguous slices, sizes differing by at most one. */
export function splitBatch(n: number, parts: number): { offset: number; size: number }[] {
  const base = Math.floor(n / parts);
  const extra = n % parts;
  const out: { offset: number; size: number }[] = [];
  let offset = 0;
  for (let i = 0; i < parts; i++) {
    const size = base + (i < extra ? 1 : 0);
    out.push({ offset, size });
    offset += size;
  }
  return out;
}

function sliceTensor(t: HostTensor, offset: number, size: number): HostTensor {
  const per = t.shape.slice(1).reduce((a, b) => a * b, 1);
  const data = (t.data as Float32Array).slice(offset * per, (offset + size) * per);
  return { data, shape: [size, ...t.shape.slice(1)], ...(t.dtype ? { dtype: t.dtype } : {}) };
}

/** Rows `[offset, offset + size)` of every tensor of a batch (copies, ready to transfer). */
export function sliceBatch(batch: Batch, offset: number, size: number): Batch {
  const features: Record<string, HostTensor> = {};
  for (const [k, t] of Object.entries(batch.features)) features[k] = sliceTensor(t, offset, size);
  return { features, ...(batch.labels ? { labels: sliceTensor(batch.labels, offset, size) } : {}) };
}

function transferList(batch: Batch): ArrayBuffer[] {
  const ts = [...Object.values(batch.features), ...(batch.labels ? [batch.labels] : [])];
  return ts.map((t) => (t.data as Float32Array).buffer as ArrayBuffer);
}

function batchSize(batch: Batch): number {
  const first = Object.values(batch.features)[0] ?? batch.labels;
  if (!first) throw new UserError('a batch has no features');
  return first.shape[0];
}

interface Pending {
  resolve: (v: any) => void;
  reject: (e: Error) => void;
}

class Replica {
  private nextId = 1;
  private pending = new Map<number, Pending>();
  private dead?: Error;

  constructor(readonly worker: Worker, readonly rank: number, onFailure: () => void) {
    worker.on('message', (m: any) => {
      if (m.id === undefined) return;
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (m.ok) p.resolve(m.result);
      else {
        const e = m.error.userError ? new UserError(m.error.message) : new Error(`compute worker ${rank}: ${m.error.message}`);
        if (!m.error.userError) e.stack = m.error.stack;
        onFailure();
        p.reject(e);
      }
    });
    const die = (e: Error) => {
      this.dead = e;
      onFailure();
      for (const p of this.pending.values()) p.reject(e);
      this.pending.clear();
    };
    worker.on('error', (e) => die(new Error(`compute worker ${rank} crashed: ${e.message}`)));
    worker.on('exit', (code) => {
      if (!this.dead && code !== 0) die(new Error(`compute worker ${rank} exited with code ${code}`));
      else if (!this.dead) this.dead = new Error(`compute worker ${rank} has stopped`);
    });
  }

  call<T>(req: Record<string, unknown>, transfer: ArrayBuffer[] = []): Promise<T> {
    if (this.dead) return Promise.reject(this.dead);
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ ...req, id }, transfer);
    });
  }
}

/** N compute workers holding identical replicas of every kernel's weights and optimizer slots. */
export class ReplicaPool {
  private constructor(
    private readonly replicas: Replica[],
    readonly numRoutes: number,
  ) {}

  /** Number of replicas (worker threads). */
  get size(): number {
    return this.replicas.length;
  }

  /**
   * Starts `numReplicas` compute workers and initialises their parameters from the graph's initializers
   * (identical in every replica: initializers are seeded).
   * @throws UserError/Error if a worker fails to start (e.g. the graph has an op without a kernel).
   */
  static async start(opts: { graph: Graph; schedule: Schedule; numReplicas: number; numRoutes: number }): Promise<ReplicaPool> {
    const n = opts.numReplicas;
    const totalParams = opts.graph.params.reduce((s, p) => s + p.shape.reduce((a, b) => a * b, 1), 0);
    const collective = createCollective(n, Math.max(1 << 16, Math.min(1 << 22, totalParams + 1024)));
    const workers: Worker[] = [];
    const replicas: Replica[] = [];
    const onFailure = () => abortCollective(collective);
    const ready: Promise<void>[] = [];
    for (let rank = 0; rank < n; rank++) {
      const init: ReplicaInit = { graph: opts.graph, schedule: opts.schedule, rank, numReplicas: n, collective, numRoutes: opts.numRoutes };
      const w = new Worker(BOOTSTRAP, { workerData: init });
      workers.push(w);
      replicas.push(new Replica(w, rank, onFailure));
      ready.push(
        new Promise<void>((resolve, reject) => {
          const onMsg = (m: any) => {
            if (m.ready === undefined) return;
            w.off('message', onMsg);
            if (m.ready) resolve();
            else reject(m.error.userError ? new UserError(m.error.message) : new Error(`compute worker ${rank} failed to start: ${m.error.message}`));
          };
          w.on('message', onMsg);
          w.once('exit', (code) => reject(new Error(`compute worker ${rank} exited with code ${code} while starting`)));
        }),
      );
    }
    try {
      await Promise.all(ready);
    } catch (e) {
      await Promise.all(workers.map((w) => w.terminate()));
      throw e;
    }
    return new ReplicaPool(replicas, opts.numRoutes);
  }

  private async all<T>(make: (r: Replica, i: number) => Promise<T>): Promise<T[]> {
    const results = await Promise.allSettled(this.replicas.map(make));
    const bad = results.find((r) => r.status === 'rejected') as PromiseRejectedResult | undefined;
    if (bad) {
      // Prefer the root cause over the other replicas' "collective aborted".
      const errs = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => r.reason as Error);
      throw errs.find((e) => !/collective aborted/.test(e.message)) ?? bad.reason;
    }
    return results.map((r) => (r as PromiseFulfilledResult<T>).value);
  }

  private slices(batch: Batch): { batch: Batch; slice: SliceInfo }[] {
    const n = batchSize(batch);
    if (n < this.size) throw new UserError(`a batch of ${n} samples cannot be split over ${this.size} compute workers`);
    return splitBatch(n, this.size).map(({ offset, size }) => ({ batch: sliceBatch(batch, offset, size), slice: { sampleOffset: offset, globalBatch: n } }));
  }

  /**
   * One training step on a batch `[batch, ...]` at global step `step` (0-based count of updates so far);
   * `countTraffic` false skips the per-route element counts (simulation bookkeeping off).
   * @throws UserError when the batch does not match the graph; Error when a worker fails.
   */
  async trainStep(batch: Batch, step: number, countTraffic = true): Promise<StepResult> {
    const parts = this.slices(batch);
    const rs = await this.all((r, i) => r.call<StepResult>({ type: 'train', batch: parts[i].batch, step, slice: parts[i].slice, countTraffic }, transferList(parts[i].batch)));
    const traffic = rs.reduce((acc, r) => addTraffic(acc, r.traffic), emptyTraffic(countTraffic ? this.numRoutes : 0));
    return { ...rs[0], traffic };
  }

  /** Loss and metric (total, count) pairs of one evaluation batch (identical in every replica). */
  async evalStep(batch: Batch): Promise<EvalResult> {
    const parts = this.slices(batch);
    const rs = await this.all((r, i) => r.call<EvalResult>({ type: 'eval', batch: parts[i].batch, slice: parts[i].slice }, transferList(parts[i].batch)));
    return rs[0];
  }

  /** Predictions for a batch, rows in batch order. */
  async predict(batch: Batch): Promise<Record<string, HostTensor>> {
    const n = batchSize(batch);
    const parts = splitBatch(n, Math.min(this.size, n)).map(({ offset, size }) => sliceBatch(batch, offset, size));
    const rs = await Promise.all(parts.map((b, i) => this.replicas[i].call<Record<string, HostTensor>>({ type: 'predict', batch: b }, transferList(b))));
    const out: Record<string, HostTensor> = {};
    for (const name of Object.keys(rs[0])) {
      const pieces = rs.map((r) => r[name]);
      const len = pieces.reduce((s, p) => s + p.data.length, 0);
      const data = pieces[0].data instanceof Int32Array ? new Int32Array(len) : new Float32Array(len);
      let o = 0;
      for (const p of pieces) {
        data.set(p.data as ArrayLike<number>, o);
        o += p.data.length;
      }
      out[name] = { data, shape: [n, ...pieces[0].shape.slice(1)], dtype: pieces[0].dtype };
    }
    return out;
  }

  /** Parameters and optimizer slots (from replica 0; all replicas hold the same values). */
  async getState(): Promise<{ params: NamedArray[]; slots: NamedArray[] }> {
    return this.replicas[0].call({ type: 'getState' });
  }

  /** Sets parameters and/or slots in every replica. */
  async setState(state: { params?: NamedArray[]; slots?: NamedArray[] }): Promise<void> {
    await this.all((r) => r.call({ type: 'setState', ...state }));
  }

  /** Live tfjs tensors and bytes of each replica (leak checks). */
  async memory(): Promise<{ numTensors: number; numBytes: number }[]> {
    return this.all((r) => r.call({ type: 'memory' }));
  }

  /** Stops every worker. */
  async close(): Promise<void> {
    await Promise.all(this.replicas.map((r) => r.worker.terminate()));
  }
}
