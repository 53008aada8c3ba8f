/**
 * The pool of compute workers that run the wafer's kernels. A batch is cut into S contiguous data-parallel
 * shards (`runconfig.compute_shards`); W worker threads (`compute_workers`, W divides S), each with its own
 * wasm backend (wafer-sim/replica-worker.ts), run S / W shards each. The shards exchange batch-norm
 * statistics and gradients through an all-reduce that adds contributions in shard order
 * (wafer-sim/collective.ts), so for a given S the results are bit-identical whatever W is, and every run is
 * deterministic.
 */
import os from 'node:os';
import { Worker } from 'node:worker_threads';
import { batchRows, type Batch, type HostTensor } from '../runtime/batch.ts';
import type { EvalResult, NamedArray, SliceInfo } from '../runtime/executor.ts';
import { UserError } from '../runtime/errors.ts';
import type { Graph } from '../runtime/graph.ts';
import { abortCollective, createCollective } from './collective.ts';
import type { ReplicaInit, ShardBatch, ShardTrainResult } from './replica-worker.ts';
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

/** Compute workers the machine can give: one per core (at most 8), keeping none back on a 2-core machine. */
export function defaultComputeWorkers(): number {
  return Math.max(1, Math.min(8, os.availableParallelism?.() ?? os.cpus().length));
}

/**
 * Shards and workers of a run. `shards` 0 means max(2, workers): two shards by default, so that a run on one
 * worker and a run on two give the same bits.
 * @throws UserError if `workers` does not divide `shards`.
 */
export function shardLayout(workers: number, shards: number): { workers: number; shards: number } {
  const w = workers || defaultComputeWorkers();
  const s = shards || Math.max(2, w);
  if (s % w !== 0) throw new UserError(`runconfig.compute_shards (${s}) must be a multiple of the compute workers (${w})`);
  return { workers: w, shards: s };
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
  return { data, shape: [size, ...t.shape.slice(1)], dtype: t.dtype };
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

/** W compute workers running S data-parallel shards, each shard holding the same weights and slots. */
export class ReplicaPool {
  private constructor(
    private readonly replicas: Replica[],
    readonly numShards: number,
    readonly numRoutes: number,
  ) {}

  /** Number of worker threads. */
  get size(): number {
    return this.replicas.length;
  }

  /**
   * Starts `numWorkers` compute workers running `numShards` shards and initialises their parameters from the
   * graph's initializers (identical in every shard: initializers are seeded).
   * @throws UserError if the workers do not divide the shards; UserError/Error if a worker fails to start
   *   (e.g. the graph has an op without a kernel).
   */
  static async start(opts: { graph: Graph; schedule: Schedule; numWorkers: number; numShards: number; numRoutes: number }): Promise<ReplicaPool> {
    const { workers: W, shards: S } = shardLayout(opts.numWorkers, opts.numShards);
    const totalParams = opts.graph.params.reduce((s, p) => s + p.shape.reduce((a, b) => a * b, 1), 0);
    const collective = createCollective(S, W, Math.max(1 << 16, Math.min(1 << 22, totalParams + 1024)));
    const workers: Worker[] = [];
    const replicas: Replica[] = [];
    const onFailure = () => abortCollective(collective);
    const ready: Promise<void>[] = [];
    for (let rank = 0; rank < W; rank++) {
      const init: ReplicaInit = { graph: opts.graph, schedule: opts.schedule, firstShard: (rank * S) / W, localShards: S / W, collective, numRoutes: opts.numRoutes };
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
    return new ReplicaPool(replicas, S, opts.numRoutes);
  }

  private async all<T>(make: (r: Replica, i: number) => Promise<T>): Promise<T[]> {
    const results = await Promise.allSettled(this.replicas.map(make));
    const bad = results.find((r) => r.status === 'rejected') as PromiseRejectedResult | undefined;
    if (bad) {
      // Prefer the root cause over the other workers' "collective aborted".
      const errs = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => r.reason as Error);
      throw errs.find((e) => !/collective aborted/.test(e.message)) ?? bad.reason;
    }
    return results.map((r) => (r as PromiseFulfilledResult<T>).value);
  }

  /** The batch cut into shards, grouped by worker. */
  private shards(batch: Batch): ShardBatch[][] {
    const n = batchRows(batch);
    if (n < this.numShards) throw new UserError(`a batch of ${n} samples cannot be split into ${this.numShards} compute shards`);
    const all = splitBatch(n, this.numShards).map(({ offset, size }) => ({ batch: sliceBatch(batch, offset, size), slice: { sampleOffset: offset, globalBatch: n } }));
    const per = this.numShards / this.size;
    return this.replicas.map((_, w) => all.slice(w * per, (w + 1) * per));
  }

  private static transfer(shards: ShardBatch[]): ArrayBuffer[] {
    return shards.flatMap((s) => transferList(s.batch));
  }

  /**
   * One training step on a batch `[batch, ...]` at global step `step` (0-based count of updates so far);
   * `countTraffic` false skips the per-route element counts (simulation bookkeeping off).
   * @throws UserError when the batch does not match the graph; Error when a worker fails.
   */
  async trainStep(batch: Batch, step: number, countTraffic = true): Promise<StepResult> {
    const parts = this.shards(batch);
    const rs = await this.all((r, i) => r.call<ShardTrainResult>({ type: 'train', shards: parts[i], step, countTraffic }, ReplicaPool.transfer(parts[i])));
    const traffic = rs.reduce((acc, r) => addTraffic(acc, r.traffic), emptyTraffic(countTraffic ? this.numRoutes : 0));
    return { ...rs[0], traffic };
  }

  /** Loss and metric (total, count) pairs of one evaluation batch (identical in every shard). */
  async evalStep(batch: Batch): Promise<EvalResult> {
    const parts = this.shards(batch);
    const rs = await this.all((r, i) => r.call<EvalResult>({ type: 'eval', shards: parts[i] }, ReplicaPool.transfer(parts[i])));
    return rs[0];
  }

  /** Predictions for a batch, rows in batch order. A batch smaller than the shard count is padded by repeating rows. */
  async predict(batch: Batch): Promise<Record<string, HostTensor>> {
    const n = batchRows(batch);
    const parts = this.shards(n >= this.numShards ? batch : padBatch(batch, this.numShards));
    const rs = (await this.all((r, i) => r.call<Record<string, HostTensor>[]>({ type: 'predict', shards: parts[i] }, ReplicaPool.transfer(parts[i])))).flat();
    const out: Record<string, HostTensor> = {};
    for (const name of Object.keys(rs[0])) {
      const pieces = rs.map((r) => r[name]);
      const per = pieces[0].shape.slice(1).reduce((a, b) => a * b, 1);
      const data = pieces[0].data instanceof Int32Array ? new Int32Array(n * per) : new Float32Array(n * per);
      let o = 0;
      for (const p of pieces) {
        const take = Math.min(p.data.length, n * per - o);
        data.set((p.data as Float32Array).subarray(0, take), o);
        o += take;
      }
      out[name] = { data, shape: [n, ...pieces[0].shape.slice(1)], dtype: pieces[0].dtype };
    }
    return out;
  }

  /** Parameters and optimizer slots (from shard 0; all shards hold the same values). */
  async getState(): Promise<{ params: NamedArray[]; slots: NamedArray[] }> {
    return this.replicas[0].call({ type: 'getState' });
  }

  /** Sets parameters and/or slots in every shard. */
  async setState(state: { params?: NamedArray[]; slots?: NamedArray[] }): Promise<void> {
    await this.all((r) => r.call({ type: 'setState', ...state }));
  }

  /** Live tfjs tensors, their bytes and the wasm heap size of each worker (leak checks). */
  async memory(): Promise<{ numTensors: number; numBytes: number; wasmHeapBytes: number }[]> {
    return this.all((r) => r.call({ type: 'memory' }));
  }

  /** Stops every worker. */
  async close(): Promise<void> {
    await Promise.all(this.replicas.map((r) => r.worker.terminate()));
  }
}

/** Repeats the rows of a batch cyclically up to `n` rows (prediction batches smaller than the shard count). */
function padBatch(batch: Batch, n: number): Batch {
  const pad = (t: HostTensor): HostTensor => {
    const per = t.shape.slice(1).reduce((a, b) => a * b, 1);
    const rows = t.shape[0];
    const data = t.data instanceof Int32Array ? new Int32Array(n * per) : new Float32Array(n * per);
    for (let i = 0; i < n; i++) data.set((t.data as Float32Array).subarray((i % rows) * per, (i % rows + 1) * per), i * per);
    return { data, shape: [n, ...t.shape.slice(1)], dtype: data instanceof Int32Array ? 'int32' : 'float32' };
  };
  const features: Record<string, HostTensor> = {};
  for (const [k, t] of Object.entries(batch.features)) features[k] = pad(t);
  return { features, ...(batch.labels ? { labels: pad(batch.labels) } : {}) };
}
