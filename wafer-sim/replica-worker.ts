/**
 * A compute worker: one data-parallel replica of the wafer, in its own thread with its own wasm backend
 * (wasm runs single-threaded in Node, so one replica per core). It runs the placed kernels in schedule order
 * on its slice of every batch — forward kernel by kernel, backward in reverse, gradient all-reduce over the
 * replicas (wafer-sim/collective.ts), optimizer update — and counts the elements each route carries.
 *
 * Protocol: the pool posts `{ id, type, ... }` requests one at a time; the worker answers
 * `{ id, ok: true, result }` or `{ id, ok: false, error: { message, userError, stack } }`.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type * as tfTypes from '@tensorflow/tfjs-core';
import { Executor, type Batch, type NamedArray, type SliceInfo } from '../runtime/executor.ts';
import { UserError } from '../runtime/errors.ts';
import type { Graph } from '../runtime/graph.ts';
import { replicaAllReduce, type CollectiveBuffers } from './collective.ts';
import { emptyTraffic, type RouteTraffic, type Schedule } from './schedule.ts';

/** What the pool passes to each worker at start. */
export interface ReplicaInit {
  graph: Graph;
  schedule: Schedule;
  rank: number;
  numReplicas: number;
  collective: CollectiveBuffers;
  /** Number of routes in the plan (length of the traffic arrays). */
  numRoutes: number;
}

/** Requests a worker understands. */
export type ReplicaRequest =
  | { id: number; type: 'train'; batch: Batch; step: number; slice: SliceInfo; countTraffic: boolean }
  | { id: number; type: 'eval'; batch: Batch; slice: SliceInfo }
  | { id: number; type: 'predict'; batch: Batch }
  | { id: number; type: 'getState' }
  | { id: number; type: 'setState'; params?: NamedArray[]; slots?: NamedArray[] }
  | { id: number; type: 'memory' };

const init = workerData as ReplicaInit;

/** Elements of a tensor (the clock converts them to bytes with the machine's word size). */
function elements(t: tfTypes.Tensor | undefined): number {
  return t ? t.size : 0;
}

async function main(): Promise<void> {
  const allReduceSum = replicaAllReduce(init.collective, init.rank);
  const exec = await Executor.create(init.graph, { replica: { replicaIndex: init.rank, numReplicas: init.numReplicas, allReduceSum } });
  const trainNodes = new Set(exec.trainNodes);
  const { kernels, transfers } = init.schedule;
  const outgoing = new Map<string, typeof transfers>();
  const incoming = new Map<string, typeof transfers>();
  const hostTransfers = transfers.filter((t) => t.from === undefined);
  for (const t of transfers) {
    if (t.from !== undefined) outgoing.set(t.from, [...(outgoing.get(t.from) ?? []), t]);
    incoming.set(t.to, [...(incoming.get(t.to) ?? []), t]);
  }

  async function train(batch: Batch, step: number, slice: SliceInfo, countTraffic: boolean) {
    const traffic: RouteTraffic = emptyTraffic(countTraffic ? init.numRoutes : 0);
    const count = (route: number, t: tfTypes.Tensor | undefined, into: number[]) => {
      if (countTraffic) into[route] += elements(t);
    };
    const state = await exec.begin(batch, 'train', step, slice);
    try {
      for (const t of hostTransfers) count(t.route, state.values.get(t.tensor), traffic.forward);
      for (const k of kernels) {
        await exec.forwardNodes(state, k.nodes.filter((i) => trainNodes.has(i)));
        for (const t of outgoing.get(k.name) ?? []) count(t.route, state.values.get(t.tensor), traffic.forward);
      }
      exec.seedLoss(state);
      for (let j = kernels.length - 1; j >= 0; j--) {
        const k = kernels[j];
        await exec.backwardNodes(state, k.nodes.filter((i) => trainNodes.has(i)).reverse());
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
      case 'train':
        return train(req.batch, req.step, req.slice, req.countTraffic);
      case 'eval':
        return exec.evalStep(req.batch, req.slice);
      case 'predict':
        return exec.predict(req.batch);
      case 'getState':
        return { params: exec.getParams(), slots: exec.getSlots() };
      case 'setState':
        if (req.params) exec.setParams(req.params);
        if (req.slots) exec.setSlots(req.slots);
        return null;
      case 'memory': {
        const tf = await import('@tensorflow/tfjs-core');
        return { numTensors: tf.memory().numTensors, numBytes: tf.memory().numBytes };
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
