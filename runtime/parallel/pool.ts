/**
 * The pool of compute workers that run a graph's numerics in data parallel on CPU threads (host plumbing
 * for the numerics, not part of any simulation; docs/design.md §10). A batch is cut into S contiguous
 * shards (`runconfig.compute_shards`, `./shards.ts`); W worker threads (`compute_workers`, W divides S),
 * each with its own wasm backend (`./compute-worker.ts`), run S / W shards each. The shards exchange
 * batch-norm statistics and gradients through an all-reduce that adds contributions in shard order
 * (`./allreduce.ts`), so for a given S the results are bit-identical whatever W is, and every run is
 * deterministic. Workers are long-lived threads spoken to through `./worker-rpc.ts`.
 */
import type { Batch, TensorData } from '../batch.ts';
import { batchRows } from '../batch.ts';
import { UserError } from '../errors.ts';
import type { EvalResult, TrainResult } from '../exec/executor.ts';
import type { NamedArray } from '../exec/store.ts';
import type { Graph } from '../graph.ts';
import { abortCollective, createCollective, type CollectiveBuffers } from './allreduce.ts';
import type { ComputeMethods, ComputeWorkerInit, WorkerMemory } from './compute-worker.ts';
import { addTraffic, emptyTraffic, type KernelSchedule, type TransferTraffic } from './schedule.ts';
import { joinPredictions, padBatch, shardBatch, shardBuffers, shardLayout, type ShardBatch } from './shards.ts';
import { WorkerClient, WorkerError } from './worker-rpc.ts';

const ENTRY = new URL('./compute-worker.ts', import.meta.url);

/** Result of one training step over all shards. */
export interface StepResult extends TrainResult {
  /** Elements carried per transfer of the schedule (forward activations, backward gradients), all shards;
   * empty arrays when not counted. */
  traffic: TransferTraffic;
}

/** Options of {@link ComputeWorkerPool.start}. */
export interface PoolOptions {
  graph: Graph;
  /** Kernels in run order and the transfers to count (`./schedule.ts`). */
  schedule: KernelSchedule;
  /** Worker threads; 0: one per core (`./shards.ts` defaultComputeWorkers). */
  numWorkers: number;
  /** Shards per batch, a multiple of the workers; 0: max(2, workers). */
  numShards: number;
  /** The shards must also be a multiple of this (the plan's data-parallel replicas; default 1). */
  shardMultiple?: number;
}

/** The error a caller sees for a failed request or a dead compute worker. */
function workerFailure(e: unknown, worker: number): Error {
  if (!(e instanceof WorkerError)) return e as Error;
  if (e.userError) return new UserError(e.message);
  if (e.died) return new Error(`compute worker ${worker} ${e.message}`);
  const err = new Error(`compute worker ${worker}: ${e.message}`);
  if (e.remoteStack) err.stack = e.remoteStack;
  return err;
}

/** W compute worker threads running S data-parallel shards, each shard holding the same weights and slots. */
export class ComputeWorkerPool {
  private constructor(
    private readonly workers: WorkerClient<ComputeMethods>[],
    private readonly collective: CollectiveBuffers,
    readonly numShards: number,
    private readonly numTransfers: number,
  ) {}

  /** Number of worker threads. */
  get size(): number {
    return this.workers.length;
  }

  /**
   * Starts the compute workers and initialises their parameters from the graph's initializers (identical
   * in every shard: initializers are seeded).
   * @throws UserError if the workers do not divide the shards; UserError/Error if a worker fails to start
   *   (e.g. the graph has an op without a kernel).
   */
  static async start(opts: PoolOptions): Promise<ComputeWorkerPool> {
    const { workers: W, shards: S } = shardLayout(opts.numWorkers, opts.numShards, opts.shardMultiple);
    const totalParams = opts.graph.params.reduce((s, p) => s + p.shape.reduce((a, b) => a * b, 1), 0);
    const collective = createCollective(S, W, Math.max(1 << 16, Math.min(1 << 22, totalParams + 1024)));
    const onDeath = () => abortCollective(collective);
    const started = await Promise.allSettled(
      Array.from({ length: W }, (_, w) => {
        const init: ComputeWorkerInit = { graph: opts.graph, schedule: opts.schedule, firstShard: (w * S) / W, localShards: S / W, collective };
        return WorkerClient.start<ComputeMethods>(ENTRY, init, { onDeath });
      }),
    );
    const workers = started.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    const failed = started.findIndex((r) => r.status === 'rejected');
    if (failed >= 0) {
      await Promise.all(workers.map((w) => w.terminate()));
      const e = (started[failed] as PromiseRejectedResult).reason;
      if (!(e instanceof WorkerError)) throw e;
      if (e.userError) throw new UserError(e.message);
      throw new Error(e.died ? `compute worker ${failed} ${e.message} while starting` : `compute worker ${failed} failed to start: ${e.message}`);
    }
    return new ComputeWorkerPool(workers, collective, S, opts.schedule.transfers.length);
  }

  /**
   * Runs `make` on every worker; on any failure aborts the collective (so that no worker waits in a
   * barrier forever) and throws the root cause rather than the other workers' "collective aborted".
   */
  private async all<T>(make: (w: WorkerClient<ComputeMethods>, i: number) => Promise<T>): Promise<T[]> {
    const results = await Promise.allSettled(
      this.workers.map((w, i) =>
        make(w, i).catch((e) => {
          abortCollective(this.collective);
          throw workerFailure(e, i);
        }),
      ),
    );
    const errs = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => r.reason as Error);
    if (errs.length) throw errs.find((e) => !/collective aborted/.test(e.message)) ?? errs[0];
    return results.map((r) => (r as PromiseFulfilledResult<T>).value);
  }

  /** The batch cut into shards, grouped by worker. */
  private shards(batch: Batch): ShardBatch[][] {
    return shardBatch(batch, this.numShards, this.size);
  }

  /**
   * One training step on a batch `[batch, ...]` at global step `step` (0-based count of updates so far);
   * `countTraffic` false skips the per-transfer element counts (simulation bookkeeping off).
   * @throws UserError when the batch does not match the graph; Error when a worker fails.
   */
  async trainStep(batch: Batch, step: number, countTraffic = true): Promise<StepResult> {
    const parts = this.shards(batch);
    const rs = await this.all((w, i) => w.call('train', { shards: parts[i], step, countTraffic }, shardBuffers(parts[i])));
    const traffic = rs.reduce((acc, r) => addTraffic(acc, r.traffic), emptyTraffic(countTraffic ? this.numTransfers : 0));
    return { ...rs[0], traffic };
  }

  /** Loss and metric (total, count) pairs of one evaluation batch (identical in every shard). */
  async evalStep(batch: Batch): Promise<EvalResult> {
    const parts = this.shards(batch);
    return (await this.all((w, i) => w.call('eval', { shards: parts[i] }, shardBuffers(parts[i]))))[0];
  }

  /** Predictions for a batch, rows in batch order. A batch smaller than the shard count is padded by repeating rows. */
  async predict(batch: Batch): Promise<Record<string, TensorData>> {
    const n = batchRows(batch);
    const parts = this.shards(n >= this.numShards ? batch : padBatch(batch, this.numShards));
    const pieces = (await this.all((w, i) => w.call('predict', { shards: parts[i] }, shardBuffers(parts[i])))).flat();
    return joinPredictions(pieces, n);
  }

  /** Parameters and optimizer slots (from shard 0; all shards hold the same values). */
  async getState(): Promise<{ params: NamedArray[]; slots: NamedArray[] }> {
    return this.workers[0].call('getState').catch((e) => {
      throw workerFailure(e, 0);
    });
  }

  /** Sets parameters and/or slots in every shard. */
  async setState(state: { params?: NamedArray[]; slots?: NamedArray[] }): Promise<void> {
    await this.all((w) => w.call('setState', state));
  }

  /** Live tfjs tensors, their bytes and the wasm heap size of each worker (leak checks). */
  memory(): Promise<WorkerMemory[]> {
    return this.all((w) => w.call('memory'));
  }

  /** Stops every worker. */
  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}
