/**
 * A compute worker: one thread with its own wasm backend (wasm runs single-threaded in Node, so one worker
 * per core; docs/design.md §12) running a contiguous range of the batch's data-parallel shards, one
 * executor per shard. Each shard runs the executor's training step kernel by kernel in schedule order on its
 * slice of every batch — forward kernel by kernel, backward in reverse, gradient all-reduce over all shards
 * (`./allreduce.ts`), optimizer update — and counts the elements each transfer carries (`./schedule.ts`).
 * Shards in one thread interleave at their all-reduce calls.
 *
 * Started and called by `./pool.ts` through `./worker-rpc.ts`; {@link ComputeMethods} are its requests.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { TensorData } from '../batch.ts';
import type { Graph } from '../graph.ts';
import { Executor, type EvalResult, type TrainResult } from '../exec/executor.ts';
import type { NamedArray } from '../exec/store.ts';
import { sharedMemoryAllReduce, type CollectiveBuffers } from './allreduce.ts';
import { addTraffic, emptyTraffic, ScheduledTraining, type KernelSchedule, type TransferTraffic } from './schedule.ts';
import type { ShardBatch } from './shards.ts';
import { serveRequests } from './worker-rpc.ts';

/** What the pool passes to each worker at start. */
export interface ComputeWorkerInit {
  graph: Graph;
  schedule: KernelSchedule;
  /** Shards of this worker: `firstShard … firstShard + localShards − 1` of `collective.numShards`. */
  firstShard: number;
  localShards: number;
  collective: CollectiveBuffers;
}

/** Result of a training step of this worker's shards (losses are global, identical in every shard). */
export interface ShardTrainResult extends TrainResult {
  /** Elements per transfer, summed over this worker's shards (empty arrays when not counted). */
  traffic: TransferTraffic;
}

/** Live tfjs tensors, their bytes and the wasm heap size of one worker (leak checks). */
export interface WorkerMemory {
  numTensors: number;
  numBytes: number;
  wasmHeapBytes: number;
}

async function setup(init: ComputeWorkerInit) {
  const numShards = init.collective.numShards;
  const reducers = sharedMemoryAllReduce(init.collective, init.firstShard, init.localShards);
  const execs: Executor[] = [];
  for (let j = 0; j < init.localShards; j++) {
    execs.push(await Executor.create(init.graph, { shard: { shardIndex: init.firstShard + j, numShards, allReduceSum: reducers[j] } }));
  }
  const training = new ScheduledTraining(init.schedule, execs[0].trainNodes);
  const numTransfers = init.schedule.transfers.length;

  return {
    /** One training step of every local shard (`shards` aligned with them); `countTraffic` false skips the counts. */
    async train(req: { shards: ShardBatch[]; step: number; countTraffic: boolean }): Promise<ShardTrainResult> {
      const n = req.countTraffic ? numTransfers : 0;
      const counts = execs.map(() => emptyTraffic(n));
      const rs = await Promise.all(
        execs.map((e, j) =>
          e.trainStep(req.shards[j].batch, req.step, { slice: req.shards[j].slice, groups: training.groups, hooks: req.countTraffic ? training.counting(counts[j]) : undefined }),
        ),
      );
      return { ...rs[0], traffic: counts.reduce(addTraffic, emptyTraffic(n)) };
    },
    /** Loss and metrics of one evaluation batch (global: identical in every shard). */
    async eval(req: { shards: ShardBatch[] }): Promise<EvalResult> {
      return (await Promise.all(execs.map((e, j) => e.evalStep(req.shards[j].batch, req.shards[j].slice))))[0];
    },
    /** Predictions of every local shard, in shard order. */
    predict(req: { shards: ShardBatch[] }): Promise<Record<string, TensorData>[]> {
      return Promise.all(execs.map((e, j) => e.predict(req.shards[j].batch)));
    },
    /** Parameters and slots (of the first local shard: all hold the same values). */
    getState(): { params: NamedArray[]; slots: NamedArray[] } {
      return { params: execs[0].getParams(), slots: execs[0].getSlots() };
    },
    /** Sets parameters and/or slots in every local shard. */
    setState(req: { params?: NamedArray[]; slots?: NamedArray[] }): null {
      for (const e of execs) {
        if (req.params) e.setParams(req.params);
        if (req.slots) e.setSlots(req.slots);
      }
      return null;
    },
    memory(): WorkerMemory {
      const heap = (tf.backend() as tf.KernelBackend & { wasm?: { HEAPU8: Uint8Array } }).wasm?.HEAPU8.length ?? 0;
      return { numTensors: tf.memory().numTensors, numBytes: tf.memory().numBytes, wasmHeapBytes: heap };
    },
  };
}

/** The requests a compute worker serves. */
export type ComputeMethods = Awaited<ReturnType<typeof setup>>;

serveRequests(setup);
