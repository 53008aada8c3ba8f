/**
 * A compute worker: one thread with its own wasm backend (wasm runs single-threaded in Node, so one worker
 * per core) running a contiguous range of the batch's data-parallel shards, one executor per shard. Each
 * shard runs the placed kernels in schedule order on its slice of every batch — forward kernel by kernel,
 * backward in reverse, gradient all-reduce over all shards (wafer-sim/collective.ts), optimizer update —
 * and counts the elements each route carries. Shards in one thread interleave at their all-reduce calls.
 *
 * Protocol: the pool posts `{ id, type, ... }` requests one at a time; the worker answers
 * `{ id, ok: true, result }` or `{ id, ok: false, error: { message, userError, stack } }`.
 */
import { parentPort, workerData } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs-core';
import type { Batch, HostTensor } from '../runtime/batch.ts';
import { Executor, type EvalResult, type NamedArray, type SliceInfo } from '../runtime/executor.ts';
import { UserError } from '../runtime/errors.ts';
import type { Graph } from '../runtime/graph.ts';
import { shardAllReduce, type CollectiveBuffers } from './collective.ts';
import { addTraffic, emptyTraffic, type RouteTraffic, type Schedule } from './schedule.ts';

/** What the pool passes to each worker at start. */
export interface ReplicaInit {
  graph: Graph;
  schedule: Schedule;
  /** Shards of this worker: `firstShard … firstShard + localShards − 1` of `collective.numShards`. */
  firstShard: number;
  localShards: number;
  collective: CollectiveBuffers;
  /** Number of routes in the plan (length of the traffic arrays). */
  numRoutes: number;
}

/** One shard's slice of a batch. */
export interface ShardBatch {
  batch: Batch;
  slice: SliceInfo;
}

/** Requests a worker understands (`shards` aligned with the worker's local shards). */
export type ReplicaRequest =
  | { id: number; type: 'train'; shards: ShardBatch[]; step: number; countTraffic: boolean }
  | { id: number; type: 'eval'; shards: ShardBatch[] }
  | { id: number; type: 'predict'; shards: ShardBatch[] }
  | { id: number; type: 'getState' }
  | { id: number; type: 'setState'; params?: NamedArray[]; slots?: NamedArray[] }
  | { id: number; type: 'memory' };

/** Result of a training step of this worker's shards (losses are global, identical in every shard). */
export interface ShardTrainResult {
  loss: number;
  dataLoss: number;
  regularizationLoss: number;
  learningRate: number;
  traffic: RouteTraffic;
}

const init = workerData as ReplicaInit;

/** Elements of a tensor (the clock converts them to bytes with the machine's word size). */
function elements(t: tf.Tensor | undefined): number {
  return t ? t.size : 0;
}

async function main(): Promise<void> {
  const numShards = init.collective.numShards;
  const reducers = shardAllReduce(init.collective, init.firstShard, init.localShards);
  const execs: Executor[] = [];
  for (let j = 0; j < init.localShards; j++) {
    execs.push(await Executor.create(init.graph, { replica: { replicaIndex: init.firstShard + j, numReplicas: numShards, allReduceSum: reducers[j] } }));
  }
  const trainNodes = new Set(execs[0].trainNodes);
  const { transfers } = init.schedule;
  // Each kernel's share of a training step, fixed for the run: nodes forward in graph order, backward reversed.
  const kernels = init.schedule.kernels.map((k) => {
    const forward = k.nodes.filter((i) => trainNodes.has(i));
    return { name: k.name, forward, backward: [...forward].reverse() };
  });
  const outgoing = new Map<string, typeof transfers>();
  const incoming = new Map<string, typeof transfers>();
  const hostTransfers = transfers.filter((t) => t.from === undefined);
  for (const t of transfers) {
    if (t.from !== undefined) outgoing.set(t.from, [...(outgoing.get(t.from) ?? []), t]);
    incoming.set(t.to, [...(incoming.get(t.to) ?? []), t]);
  }

  async function train(exec: Executor, { batch, slice }: ShardBatch, step: number, countTraffic: boolean): Promise<ShardTrainResult> {
    const traffic: RouteTraffic = emptyTraffic(countTraffic ? init.numRoutes : 0);
    const count = (route: number, t: tf.Tensor | undefined, into: number[]) => {
      if (countTraffic) into[route] += elements(t);
    };
    const state = await exec.begin(batch, 'train', step, slice);
    try {
      for (const t of hostTransfers) count(t.route, state.values.get(t.tensor), traffic.forward);
      for (const k of kernels) {
        await exec.forwardNodes(state, k.forward);
        for (const t of outgoing.get(k.name) ?? []) count(t.route, state.values.get(t.tensor), traffic.forward);
      }
      exec.seedLoss(state);
      for (let j = kernels.length - 1; j >= 0; j--) {
        const k = kernels[j];
        await exec.backwardNodes(state, k.backward);
        for (const t of incoming.get(k.name) ?? []) if (t.backward) count(t.route, state.grads.get(t.tensor), traffic.backward);
      }
      await exec.reduceGradients(state);
      const regularizationLoss = exec.regularizationLoss();
      const learningRate = exec.applyUpdates(state);
      const dataLoss = state.dataLoss!;
      return { loss: dataLoss + regularizationLoss, dataLoss, regularizationLoss, learningRate, traffic };
    } finally {
      exec.finish(state);
    }
  }

  async function handle(req: ReplicaRequest): Promise<unknown> {
    switch (req.type) {
      case 'train': {
        const rs = await Promise.all(execs.map((e, j) => train(e, req.shards[j], req.step, req.countTraffic)));
        return { ...rs[0], traffic: rs.reduce((a, r) => addTraffic(a, r.traffic), emptyTraffic(req.countTraffic ? init.numRoutes : 0)) };
      }
      case 'eval':
        return (await Promise.all(execs.map((e, j) => e.evalStep(req.shards[j].batch, req.shards[j].slice))))[0] satisfies EvalResult;
      case 'predict':
        return Promise.all(execs.map((e, j) => e.predict(req.shards[j].batch))) satisfies Promise<Record<string, HostTensor>[]>;
      case 'getState':
        return { params: execs[0].getParams(), slots: execs[0].getSlots() };
      case 'setState':
        for (const e of execs) {
          if (req.params) e.setParams(req.params);
          if (req.slots) e.setSlots(req.slots);
        }
        return null;
      case 'memory': {
        const heap = (tf.backend() as unknown as { wasm?: { HEAPU8: Uint8Array } }).wasm?.HEAPU8.length ?? 0;
        return { numTensors: tf.memory().numTensors, numBytes: tf.memory().numBytes, wasmHeapBytes: heap };
      }
    }
  }

  parentPort!.on('message', async (req: ReplicaRequest) => {
    try {
      const result = await handle(req);
      parentPort!.postMessage({ id: req.id, ok: true, result });
    } catch (e: any) {
      parentPort!.postMessage({ id: req.id, ok: false, error: { message: e?.message ?? String(e), userError: e instanceof UserError, stack: e?.stack } });
    }
  });
  parentPort!.postMessage({ ready: true });
}

main().catch((e) => {
  parentPort!.postMessage({ ready: false, error: { message: e?.message ?? String(e), userError: e instanceof UserError, stack: e?.stack } });
});
