/**
 * The step engine: runs a {@link Graph}'s nodes one at a time with the per-op kernels of `../kernels/`
 * on the wasm backend, over one shard of a batch. A step is
 * {@link StepEngine.begin} → {@link StepEngine.forwardNode}… → {@link StepEngine.seedLoss} →
 * {@link StepEngine.backwardNode}… (reverse order) → {@link StepEngine.reduceGradients} →
 * {@link StepEngine.applyUpdates} → {@link StepEngine.finish}; `../exec/executor.ts` strings these into
 * whole training, evaluation and prediction steps.
 *
 * Data parallelism: a batch is cut into shards, each run by its own engine (several may share a thread,
 * interleaving at their collective calls) with an `allReduceSum` that sums arrays over shards in shard
 * order (`../parallel/allreduce.ts`). Loss kernels divide by the global batch, batch normalisation reduces
 * its statistics globally, dropout masks are keyed by the global sample index (the kernel contract in
 * `../kernels/types.ts`, which calls shards "replicas"), and parameter gradients (and the loss) are summed
 * once per step in a fixed order, so every shard applies the same update and the result does not depend on
 * the split beyond float32 summation order. With one shard nothing is exchanged.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Batch, TensorData } from '../batch.ts';
import { UserError } from '../errors.ts';
import type { Graph, GraphNode, Mode, TensorInfo } from '../graph.ts';
import { kernelFor } from '../kernels/index.ts';
import type { ForwardResult, GradNeeds, KernelContext } from '../kernels/types.ts';
import { fmtShape } from '../kernels/util.ts';
import type { AllReduceSum } from '../parallel/allreduce.ts';
import type { ParamStore } from './store.ts';

/** Where an engine sits in a data-parallel group: which shard of the batch it runs. */
export interface ShardOptions {
  /** 0-based index of this shard. */
  shardIndex: number;
  /** Shards in the group (≥ 1). */
  numShards: number;
  /**
   * Element-wise sum over all shards of arrays of equal length, computed in shard order so that every
   * shard receives the same bits. Every shard calls it the same number of times in the same order.
   */
  allReduceSum: AllReduceSum;
}

/** The identity all-reduce of a single shard. */
export const SINGLE_SHARD: ShardOptions = { shardIndex: 0, numShards: 1, allReduceSum: async (x) => x.slice() };

/** Where a shard's slice sits in the global batch (computed with one all-reduce when not given). */
export interface SliceInfo {
  /** Global index of this shard's first sample. */
  sampleOffset: number;
  /** Samples in the whole batch across shards. */
  globalBatch: number;
}

/** Per-step state: tensor values, saved forward results, gradients. Owned by the engine. */
export interface StepState {
  readonly mode: Mode;
  readonly step: number;
  /** True for training steps (dropout and batch statistics active, backward allowed). */
  readonly training: boolean;
  readonly localBatch: number;
  readonly slice: SliceInfo;
  /** Value of every tensor computed so far, by id. */
  readonly values: Map<string, tf.Tensor>;
  /** Forward results by node index. */
  readonly forward: (ForwardResult | undefined)[];
  /** Accumulated gradient by tensor id. */
  readonly grads: Map<string, tf.Tensor>;
  /** Accumulated (this shard's, then — after {@link StepEngine.reduceGradients} — global) gradient by param name. */
  readonly paramGrads: Map<string, tf.Tensor>;
  /** Global data loss, set by {@link StepEngine.reduceGradients}. */
  dataLoss?: number;
  /** Every tensor to dispose at {@link StepEngine.finish}. */
  readonly owned: Set<tf.Tensor>;
  finished: boolean;
}

/** What each kind of step runs, and which tensors need a gradient (derived once from the graph). */
export interface GraphAnalysis {
  /** Nodes the loss depends on (a training step), in graph order. */
  lossNodes: number[];
  /** Nodes the loss and the metrics depend on (an evaluation step), in graph order. */
  evalNodes: number[];
  /** Nodes the predictions depend on, in graph order. */
  predictNodes: number[];
  /** Tensor ids whose value depends on a trainable parameter. */
  requiresGrad: Set<string>;
}

/**
 * Validates a graph against its parameters and derives its {@link GraphAnalysis}.
 * @throws Error naming the node or tensor when an op has no kernel, an input is read before it is
 *   produced, a tensor is produced twice, or a node uses an unknown parameter.
 */
export function analyzeGraph(g: Graph, store: ParamStore): GraphAnalysis {
  const producer = new Map<string, number>();
  const known = new Set<string>(Object.keys(g.inputs.features).map((k) => `features/${k}`));
  if (g.inputs.labels) known.add('labels');
  g.nodes.forEach((n, i) => {
    kernelFor(n);
    for (const id of n.inputs) {
      if (!known.has(id)) throw new Error(`graph: node '${n.name}' reads '${id}', which is not produced before it`);
    }
    for (const p of n.params) if (!store.param(p)) throw new Error(`graph: node '${n.name}' uses unknown parameter '${p}'`);
    for (const o of n.outputs) {
      if (producer.has(o.id)) throw new Error(`graph: tensor '${o.id}' is produced twice`);
      producer.set(o.id, i);
      known.add(o.id);
    }
  });
  const closure = (ids: string[]): number[] => {
    const need = new Set<number>();
    const stack = ids.filter((id) => producer.has(id));
    for (const id of ids) if (!known.has(id)) throw new Error(`graph: tensor '${id}' is not produced by any node`);
    while (stack.length) {
      const i = producer.get(stack.pop()!)!;
      if (need.has(i)) continue;
      need.add(i);
      for (const id of g.nodes[i].inputs) if (producer.has(id)) stack.push(id);
    }
    return [...need].sort((a, b) => a - b);
  };
  const metricIds = Object.values(g.metrics).flatMap((m) => m.inputs);
  const requiresGrad = new Set<string>();
  for (const n of g.nodes) {
    const fromParams = n.params.some((p) => store.param(p)!.trainable);
    if (fromParams || n.inputs.some((id) => requiresGrad.has(id))) for (const o of n.outputs) requiresGrad.add(o.id);
  }
  return {
    lossNodes: g.loss ? closure([g.loss]) : [],
    evalNodes: closure([...(g.loss ? [g.loss] : []), ...metricIds]),
    predictNodes: closure(Object.values(g.predictions)),
    requiresGrad,
  };
}

/** Runs one shard's steps node by node (see the module comment). */
export class StepEngine {
  protected readonly analysis: GraphAnalysis;

  /**
   * @throws Error if the shard placement is invalid, or as {@link analyzeGraph}.
   */
  constructor(
    readonly graph: Graph,
    protected readonly store: ParamStore,
    readonly shard: ShardOptions = SINGLE_SHARD,
  ) {
    const { shardIndex, numShards } = shard;
    if (!(Number.isInteger(numShards) && numShards >= 1 && Number.isInteger(shardIndex) && shardIndex >= 0 && shardIndex < numShards)) {
      throw new Error(`invalid shard ${shardIndex} of ${numShards}`);
    }
    this.analysis = analyzeGraph(graph, store);
  }

  /** Node indices run forward by a training step, in order (for simulators scheduling groups of nodes). */
  get trainNodes(): readonly number[] {
    return this.analysis.lossNodes;
  }

  /** Node indices run by an evaluation step (loss and metrics), in order. */
  get evalNodes(): readonly number[] {
    return this.analysis.evalNodes;
  }

  /** Node indices run by a prediction, in order. */
  get predictNodes(): readonly number[] {
    return this.analysis.predictNodes;
  }

  /**
   * Starts a step: uploads the batch (validated against `graph.inputs`) and works out this shard's place in
   * the global batch (one all-reduce when `slice` is not given and there are several shards).
   * @param mode  'train' (dropout and batch statistics on, backward allowed), 'eval' or 'infer'.
   * @param step  global step (keys dropout masks and the learning-rate schedule).
   * @param slice this shard's place in the global batch; omitted: derived with an all-reduce of the local
   *              batch sizes (every shard must then call `begin` too); `'local'`: this batch alone, no
   *              collective (prediction).
   * @throws UserError naming the feature or labels when the batch does not match the graph inputs.
   */
  async begin(batch: Batch, mode: Mode, step = 0, slice?: SliceInfo | 'local'): Promise<StepState> {
    this.store.check();
    if (!Number.isInteger(step) || step < 0) throw new Error(`step must be a non-negative integer, got ${step}`);
    const values = new Map<string, tf.Tensor>();
    const owned = new Set<tf.Tensor>();
    const needLabels = mode !== 'infer' && this.needsLabels(mode);
    let localBatch: number | undefined;
    const upload = (id: string, info: TensorInfo, h: TensorData | undefined, what: string) => {
      if (!h) throw new UserError(`batch: ${what} is missing (expected shape ${fmtShape(info.shape)})`);
      const shape = h.shape;
      if (!Array.isArray(shape) || shape.length !== info.shape.length || shape.some((d, i) => !Number.isInteger(d) || d < 0 || (info.shape[i] !== null && d !== info.shape[i]))) {
        throw new UserError(`batch: ${what} has shape ${fmtShape(shape ?? [])}, expected ${fmtShape(info.shape)}`);
      }
      if (h.data.length !== tf.util.sizeFromShape(shape)) throw new UserError(`batch: ${what} has ${h.data.length} values for shape ${fmtShape(shape)}`);
      const b = info.shape[0] === null ? shape[0] : undefined;
      if (b !== undefined) {
        if (localBatch !== undefined && b !== localBatch) throw new UserError(`batch: ${what} has ${b} samples, other inputs have ${localBatch}`);
        localBatch = b;
      }
      const dtype = info.dtype;
      let data = h.data;
      if (dtype === 'int32' && !(data instanceof Int32Array)) data = Int32Array.from(data as ArrayLike<number>, (v) => Math.trunc(v));
      if (dtype === 'float32' && !(data instanceof Float32Array)) data = Float32Array.from(data as ArrayLike<number>);
      const t = tf.tensor(data as Float32Array | Int32Array, shape, dtype);
      values.set(id, t);
      owned.add(t);
    };
    try {
      for (const [key, info] of Object.entries(this.graph.inputs.features)) {
        upload(`features/${key}`, info, batch.features?.[key], `feature '${key}'`);
      }
      if (needLabels && this.graph.inputs.labels) upload('labels', this.graph.inputs.labels, batch.labels, 'labels');
    } catch (e) {
      tf.dispose([...owned]);
      throw e;
    }
    const nLocal = localBatch ?? 1;
    let sl = slice === 'local' ? { sampleOffset: 0, globalBatch: nLocal } : slice;
    if (!sl) {
      const { shardIndex, numShards } = this.shard;
      if (numShards === 1) sl = { sampleOffset: 0, globalBatch: nLocal };
      else {
        const sizes = new Float32Array(numShards);
        sizes[shardIndex] = nLocal;
        const all = await this.shard.allReduceSum(sizes);
        let offset = 0;
        for (let r = 0; r < shardIndex; r++) offset += all[r];
        sl = { sampleOffset: offset, globalBatch: all.reduce((a, b) => a + b, 0) };
      }
    }
    return {
      mode,
      step,
      training: mode === 'train',
      localBatch: nLocal,
      slice: sl,
      values,
      forward: new Array(this.graph.nodes.length),
      grads: new Map(),
      paramGrads: new Map(),
      owned,
      finished: false,
    };
  }

  private needsLabels(mode: Mode): boolean {
    const nodes = mode === 'train' ? this.analysis.lossNodes : this.analysis.evalNodes;
    if (nodes.some((i) => this.graph.nodes[i].inputs.includes('labels'))) return true;
    return mode === 'eval' && Object.values(this.graph.metrics).some((m) => m.inputs.includes('labels'));
  }

  private ctx(state: StepState, nodeIndex: number): KernelContext {
    return {
      training: state.training,
      step: state.step,
      seed: this.graph.seed,
      nodeIndex,
      sampleOffset: state.slice.sampleOffset,
      globalBatch: state.slice.globalBatch,
      numShards: this.shard.numShards,
      allReduceSum: this.shard.allReduceSum,
    };
  }

  private nodeParams(n: GraphNode): tf.Tensor[] {
    return n.params.map((p) => this.store.value(p));
  }

  /**
   * Runs node `i` forward: reads its inputs from `state.values`, stores its outputs there.
   * @throws Error if an input has not been computed; kernel errors name the node.
   */
  async forwardNode(state: StepState, i: number): Promise<void> {
    this.store.check();
    const n = this.graph.nodes[i];
    const inputs = n.inputs.map((id) => {
      const v = state.values.get(id);
      if (!v) throw new Error(`node '${n.name}': input '${id}' has not been computed in this step`);
      return v;
    });
    const kernel = kernelFor(n);
    const res = await kernel.forward(n, inputs, this.nodeParams(n), this.ctx(state, i));
    if (res.outputs.length !== n.outputs.length) throw new Error(`node '${n.name}': kernel returned ${res.outputs.length} outputs, graph lists ${n.outputs.length}`);
    state.forward[i] = res;
    res.outputs.forEach((t, k) => {
      state.values.set(n.outputs[k].id, t);
      state.owned.add(t);
    });
    for (const t of res.saved) state.owned.add(t);
    for (const t of res.paramUpdates ?? []) if (t) state.owned.add(t);
  }

  /** Runs the given nodes forward in the given order. */
  async forwardNodes(state: StepState, nodes: readonly number[]): Promise<void> {
    for (const i of nodes) await this.forwardNode(state, i);
  }

  /**
   * Seeds the backward pass with d(loss)/d(loss) = 1 on `graph.loss`.
   * @throws Error if the step is not a training step or the loss has not been computed.
   */
  seedLoss(state: StepState): void {
    if (!state.training) throw new Error('backward is only available in a training step');
    const id = this.graph.loss;
    if (!id || !state.values.has(id)) throw new Error('the loss has not been computed in this step');
    const one = tf.onesLike(state.values.get(id)!);
    state.owned.add(one);
    accumulate(state, state.grads, id, one);
  }

  /**
   * Runs node `i` backward if a gradient reached one of its outputs: accumulates input gradients into
   * `state.grads` (summing over consumers) and parameter gradients into `state.paramGrads`. Nodes must be
   * visited in reverse graph order.
   */
  async backwardNode(state: StepState, i: number): Promise<void> {
    this.store.check();
    const n = this.graph.nodes[i];
    const fwd = state.forward[i];
    if (!fwd) return;
    const dOut = n.outputs.map((o) => state.grads.get(o.id));
    if (dOut.every((d) => !d)) return;
    const needs: GradNeeds = {
      inputs: n.inputs.map((id) => this.analysis.requiresGrad.has(id)),
      params: n.params.map((p) => this.store.param(p)!.trainable),
    };
    if (!needs.inputs.some(Boolean) && !needs.params.some(Boolean)) return;
    const dOutputs = n.outputs.map((o, k) => {
      const d = dOut[k];
      if (d) return d;
      const z = tf.zerosLike(state.values.get(o.id)!);
      state.owned.add(z);
      return z;
    });
    const kernel = kernelFor(n);
    const res = await kernel.backward(n, dOutputs, fwd, this.nodeParams(n), needs, this.ctx(state, i));
    res.dInputs.forEach((d, k) => {
      if (!d) return;
      state.owned.add(d);
      if (needs.inputs[k]) accumulate(state, state.grads, n.inputs[k], d);
    });
    res.dParams.forEach((d, k) => {
      if (!d) return;
      state.owned.add(d);
      if (needs.params[k]) accumulate(state, state.paramGrads, n.params[k], d);
    });
  }

  /** Runs the given nodes backward in the given order (pass them in reverse graph order). */
  async backwardNodes(state: StepState, nodes: readonly number[]): Promise<void> {
    for (const i of nodes) await this.backwardNode(state, i);
  }

  /**
   * Sums this shard's loss and parameter gradients over shards (one all-reduce, parameters in graph order;
   * skipped for a single shard) and records the global data loss in `state.dataLoss`.
   */
  async reduceGradients(state: StepState): Promise<void> {
    this.store.check();
    const lossT = this.graph.loss ? state.values.get(this.graph.loss) : undefined;
    const local = lossT ? (lossT.dataSync() as Float32Array)[0] : NaN;
    if (this.shard.numShards === 1) {
      state.dataLoss = local;
      return;
    }
    const names = this.graph.params.filter((p) => state.paramGrads.has(p.name)).map((p) => p.name);
    let total = 1;
    for (const nm of names) total += state.paramGrads.get(nm)!.size;
    const buf = new Float32Array(total);
    buf[0] = local;
    let off = 1;
    for (const nm of names) {
      const g = state.paramGrads.get(nm)!;
      buf.set(g.dataSync() as Float32Array, off);
      off += g.size;
    }
    const sum = await this.shard.allReduceSum(buf);
    state.dataLoss = sum[0];
    off = 1;
    for (const nm of names) {
      const p = this.store.param(nm)!;
      const n = tf.util.sizeFromShape(p.shape);
      const t = tf.tensor(sum.subarray(off, off + n), p.shape, 'float32');
      state.owned.add(t);
      state.paramGrads.set(nm, t);
      off += n;
    }
  }

  /** Σ of the regularisation penalties of all parameters (loss units). */
  regularizationLoss(): number {
    return this.store.regularizationLoss();
  }

  /**
   * Applies the optimizer to the given trainable parameters (default: all) with the global gradients of
   * `state` (after {@link reduceGradients}) plus their regularisation gradients, then stores the new values of
   * non-trainable parameters computed by the forward pass (batch-norm moving statistics) of the given
   * parameters. Parameters without a gradient are left unchanged (as tfjs optimizers do).
   * @returns the learning rate used.
   * @throws Error if the graph has no optimizer.
   */
  applyUpdates(state: StepState, params?: readonly string[]): number {
    const only = params ? new Set(params) : undefined;
    const lr = this.store.applyGradients(state.paramGrads, state.step, only);
    this.graph.nodes.forEach((n, i) => {
      state.forward[i]?.paramUpdates?.forEach((t, k) => {
        const name = n.params[k];
        if (!t || (only && !only.has(name))) return;
        state.owned.delete(t);
        this.store.assign(name, t);
      });
    });
    return lr;
  }

  /** Disposes every tensor of the step (never a current parameter or slot). Idempotent. */
  finish(state: StepState): void {
    if (state.finished) return;
    state.finished = true;
    const keep = this.store.tensors();
    const drop: tf.Tensor[] = [];
    for (const t of state.owned) if (!keep.has(t)) drop.push(t);
    tf.dispose(drop);
    state.owned.clear();
    state.values.clear();
    state.grads.clear();
    state.paramGrads.clear();
  }
}

/** Adds gradient `g` into `into[id]` (the first contribution is stored as it is). */
function accumulate(state: StepState, into: Map<string, tf.Tensor>, id: string, g: tf.Tensor): void {
  const prev = into.get(id);
  if (!prev) {
    into.set(id, g);
    return;
  }
  const sum = tf.add(prev, g);
  state.owned.add(sum);
  into.set(id, sum);
}
