/**
 * The reference executor: runs a {@link Graph} on the wasm backend with the per-op kernels of
 * `./kernels/`. It owns the parameter values and optimizer slots and offers
 * - whole steps: {@link Executor.trainStep}, {@link Executor.evalStep}, {@link Executor.predict};
 * - the same work node by node, for a simulator that runs a group of nodes (a wafer "kernel") at a time:
 *   {@link Executor.begin} → {@link Executor.forwardNode}… → {@link Executor.seedLoss} →
 *   {@link Executor.backwardNode}… (reverse order) → {@link Executor.reduceGradients} →
 *   {@link Executor.applyUpdates} → {@link Executor.finish};
 * - parameters and slots as named Float32Arrays for checkpoints.
 *
 * Data parallelism: N executors (one per replica, e.g. one per worker thread with its own wasm backend) each
 * get a slice of the batch and an `allReduceSum` that sums arrays over replicas in replica order. Loss kernels
 * divide by the global batch, batch normalisation reduces its statistics globally, dropout masks are keyed by
 * the global sample index, and parameter gradients (and the loss) are summed once per step in a fixed order,
 * so every replica applies the same update and the result does not depend on the split beyond float32
 * summation order. With one replica nothing is exchanged.
 */
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from './backend.ts';
import { UserError } from './errors.ts';
import type { DType, Graph, GraphNode, MetricSpec, Mode, OptimizerSpec, ParamInfo, TensorInfo } from './graph.ts';
import { initialize } from './initializers.ts';
import { kernelFor } from './kernels/index.ts';
import type { ForwardResult, GradNeeds, KernelContext, OpKernel } from './kernels/types.ts';
import { learningRateAt } from './optimizers/schedule.ts';
import { isZeroPenalty, penalty, penaltyGrad } from './optimizers/regularization.ts';
import { applyUpdate, slotSuffixes } from './optimizers/update.ts';

export { inThreadAllReduce } from './allreduce.ts';

import type { Batch, HostTensor } from './batch.ts';

/** A named array (parameter or slot) for checkpoints. */
export interface NamedArray {
  name: string;
  shape: number[];
  data: Float32Array;
}

/** Where this executor sits in a data-parallel group. */
export interface ReplicaOptions {
  /** 0-based index of this replica. */
  replicaIndex: number;
  /** Replicas in the group (≥ 1). */
  numReplicas: number;
  /**
   * Element-wise sum over all replicas of arrays of equal length, computed in replica order so that every
   * replica receives the same bits. Every replica calls it the same number of times in the same order.
   */
  allReduceSum(x: Float32Array): Promise<Float32Array>;
}

/** Options of {@link Executor.create}. */
export interface ExecutorOptions {
  /** Data-parallel placement; default: a single replica. */
  replica?: ReplicaOptions;
  /** Initial parameter values by name; the others come from their initializers. */
  params?: Record<string, Float32Array>;
}

/** Where a batch slice sits in the global batch (computed with one all-reduce when not given). */
export interface SliceInfo {
  /** Global index of this replica's first sample. */
  sampleOffset: number;
  /** Samples in the whole batch across replicas. */
  globalBatch: number;
}

/** Result of {@link Executor.trainStep}. */
export interface TrainResult {
  /** Data loss plus regularisation penalties, over the global batch, before the update. */
  loss: number;
  /** The graph's loss tensor alone. */
  dataLoss: number;
  /** Σ of the parameters' regularisation penalties. */
  regularizationLoss: number;
  /** Learning rate used for the update. */
  learningRate: number;
}

/** A streaming metric's contribution from one batch. */
export interface MetricValue {
  total: number;
  count: number;
}

/** Result of {@link Executor.evalStep} (global over replicas). */
export interface EvalResult {
  /** Data loss plus regularisation penalties (as Keras `evaluate` reports it); NaN when the graph has no loss. */
  loss: number;
  dataLoss: number;
  /** (total, count) per metric name of `graph.metrics`; the metric value is total / count. */
  metrics: Record<string, MetricValue>;
}

/** Per-step state: tensor values, saved forward results, gradients. Owned by the executor. */
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
  /** Accumulated (this replica's, then — after {@link Executor.reduceGradients} — global) gradient by param name. */
  readonly paramGrads: Map<string, tf.Tensor>;
  /** Global data loss, set by {@link Executor.reduceGradients}. */
  dataLoss?: number;
  /** Every tensor to dispose at {@link Executor.finish}. */
  readonly owned: Set<tf.Tensor>;
  finished: boolean;
}

/** The identity all-reduce of a single replica. */
const SINGLE: ReplicaOptions = { replicaIndex: 0, numReplicas: 1, allReduceSum: async (x) => x.slice() };

function sizeOfShape(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

function fmt(shape: readonly (number | null)[]): string {
  return `[${shape.map((d) => (d === null ? 'batch' : d)).join(', ')}]`;
}

interface Plan {
  /** Nodes to run forward for each purpose, in graph order. */
  lossNodes: number[];
  evalNodes: number[];
  predictNodes: number[];
  /** Tensor ids whose value depends on a trainable parameter. */
  requiresGrad: Set<string>;
  /** Producer node index of each node output id. */
  producer: Map<string, number>;
}

/**
 * Runs a graph (see the module comment). Create with {@link Executor.create}; call {@link Executor.dispose}
 * when done to free the parameter tensors.
 */
export class Executor {
  readonly graph: Graph;
  readonly replica: ReplicaOptions;
  private readonly paramInfo = new Map<string, ParamInfo>();
  private readonly paramValues = new Map<string, tf.Tensor>();
  /** Slots by param name, in `slotSuffixes` order. */
  private readonly slots = new Map<string, tf.Tensor[]>();
  private readonly plan: Plan;
  private disposed = false;

  private constructor(graph: Graph, opts: ExecutorOptions) {
    this.graph = graph;
    this.replica = opts.replica ?? SINGLE;
    const { replicaIndex, numReplicas } = this.replica;
    if (!(Number.isInteger(numReplicas) && numReplicas >= 1 && Number.isInteger(replicaIndex) && replicaIndex >= 0 && replicaIndex < numReplicas)) {
      throw new Error(`invalid replica ${replicaIndex} of ${numReplicas}`);
    }
    for (const p of graph.params) {
      if (this.paramInfo.has(p.name)) throw new Error(`graph: parameter '${p.name}' is declared twice`);
      this.paramInfo.set(p.name, p);
    }
    this.plan = this.makePlan();
    const given = opts.params ?? {};
    for (const name of Object.keys(given)) if (!this.paramInfo.has(name)) throw new Error(`initial value for unknown parameter '${name}'`);
    for (const p of graph.params) {
      const v = given[p.name] ?? initialize(p.initializer, p.shape);
      this.paramValues.set(p.name, this.makeParam(p, v));
    }
    if (graph.optimizer) {
      const n = slotSuffixes(graph.optimizer).length;
      for (const p of graph.params) {
        if (p.trainable) this.slots.set(p.name, Array.from({ length: n }, () => tf.zeros(p.shape)));
      }
    }
  }

  /**
   * Initialises the wasm backend and builds an executor: validates the graph (every op has a kernel, every
   * input is produced before use, every parameter exists), and creates parameter values (given or from their
   * initializers) and zero optimizer slots.
   * @throws Error naming the node, tensor or parameter when the graph is inconsistent or a given value has the
   *   wrong size.
   */
  static async create(graph: Graph, opts: ExecutorOptions = {}): Promise<Executor> {
    await initBackend();
    return new Executor(graph, opts);
  }

  private makeParam(p: ParamInfo, v: Float32Array): tf.Tensor {
    if (v.length !== sizeOfShape(p.shape)) {
      throw new Error(`parameter '${p.name}': expected ${sizeOfShape(p.shape)} values for shape ${fmt(p.shape)}, got ${v.length}`);
    }
    return tf.tensor(v, p.shape, 'float32');
  }

  private makePlan(): Plan {
    const g = this.graph;
    const producer = new Map<string, number>();
    const known = new Set<string>(Object.keys(g.inputs.features).map((k) => `features/${k}`));
    if (g.inputs.labels) known.add('labels');
    g.nodes.forEach((n, i) => {
      kernelFor(n);
      for (const id of n.inputs) {
        if (!known.has(id)) throw new Error(`graph: node '${n.name}' reads '${id}', which is not produced before it`);
      }
      for (const p of n.params) if (!this.paramInfo.has(p)) throw new Error(`graph: node '${n.name}' uses unknown parameter '${p}'`);
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
      const fromParams = n.params.some((p) => this.paramInfo.get(p)!.trainable);
      if (fromParams || n.inputs.some((id) => requiresGrad.has(id))) for (const o of n.outputs) requiresGrad.add(o.id);
    }
    return {
      lossNodes: g.loss ? closure([g.loss]) : [],
      evalNodes: closure([...(g.loss ? [g.loss] : []), ...metricIds]),
      predictNodes: closure(Object.values(g.predictions)),
      requiresGrad,
      producer,
    };
  }

  private check(): void {
    if (this.disposed) throw new Error('executor is disposed');
  }

  // ---------------------------------------------------------------- parameters and slots

  /** Parameter names in graph order. */
  get paramNames(): string[] {
    return this.graph.params.map((p) => p.name);
  }

  /** Every parameter's value (copies), in graph order. */
  getParams(): NamedArray[] {
    this.check();
    return this.graph.params.map((p) => ({ name: p.name, shape: p.shape.slice(), data: (this.paramValues.get(p.name)!.dataSync() as Float32Array).slice() }));
  }

  /**
   * Replaces parameter values (any subset).
   * @throws Error naming the parameter when it is unknown or the size does not match its shape.
   */
  setParams(values: Record<string, Float32Array> | NamedArray[]): void {
    this.check();
    const entries = Array.isArray(values) ? values.map((v) => [v.name, v.data] as const) : Object.entries(values);
    for (const [name, data] of entries) {
      const p = this.paramInfo.get(name);
      if (!p) throw new Error(`setParams: unknown parameter '${name}'`);
      const t = this.makeParam(p, data);
      this.paramValues.get(name)?.dispose();
      this.paramValues.set(name, t);
    }
  }

  /** Every optimizer slot (copies), named `<param>/<suffix>` (tfjs names, see `optimizers/update.ts`). */
  getSlots(): NamedArray[] {
    this.check();
    const out: NamedArray[] = [];
    if (!this.graph.optimizer) return out;
    const suffixes = slotSuffixes(this.graph.optimizer);
    for (const p of this.graph.params) {
      const s = this.slots.get(p.name);
      if (!s) continue;
      s.forEach((t, i) => out.push({ name: `${p.name}/${suffixes[i]}`, shape: p.shape.slice(), data: (t.dataSync() as Float32Array).slice() }));
    }
    return out;
  }

  /**
   * Replaces optimizer slots (any subset) by `<param>/<suffix>` name.
   * @throws Error naming the slot when it is unknown or has the wrong size.
   */
  setSlots(values: Record<string, Float32Array> | NamedArray[]): void {
    this.check();
    if (!this.graph.optimizer) throw new Error('setSlots: the graph has no optimizer');
    const suffixes = slotSuffixes(this.graph.optimizer);
    const entries = Array.isArray(values) ? values.map((v) => [v.name, v.data] as const) : Object.entries(values);
    for (const [name, data] of entries) {
      const cut = name.lastIndexOf('/');
      const slots = this.slots.get(name.slice(0, cut));
      const k = suffixes.indexOf(name.slice(cut + 1));
      if (cut < 0 || !slots || k < 0) throw new Error(`setSlots: unknown slot '${name}' (slots are <trainable param>/${suffixes.join('|')})`);
      const p = this.paramInfo.get(name.slice(0, cut))!;
      if (data.length !== sizeOfShape(p.shape)) throw new Error(`setSlots: slot '${name}' needs ${sizeOfShape(p.shape)} values, got ${data.length}`);
      slots[k].dispose();
      slots[k] = tf.tensor(data, p.shape, 'float32');
    }
  }

  /** Frees parameters and slots. The executor cannot be used afterwards. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const t of this.paramValues.values()) t.dispose();
    for (const s of this.slots.values()) tf.dispose(s);
    this.paramValues.clear();
    this.slots.clear();
  }

  // ---------------------------------------------------------------- steps, node by node

  /**
   * Starts a step: uploads the batch (validated against `graph.inputs`) and works out this replica's place in
   * the global batch (one all-reduce when `slice` is not given and there are several replicas).
   * @param mode  'train' (dropout and batch statistics on, backward allowed), 'eval' or 'infer'.
   * @param step  global step (keys dropout masks and the learning-rate schedule).
   * @param slice this replica's place in the global batch; omitted: derived with an all-reduce of the local
   *              batch sizes (every replica must then call `begin` too); `'local'`: this batch alone, no
   *              collective (prediction).
   * @throws UserError naming the feature or labels when the batch does not match the graph inputs.
   */
  async begin(batch: Batch, mode: Mode, step = 0, slice?: SliceInfo | 'local'): Promise<StepState> {
    this.check();
    if (!Number.isInteger(step) || step < 0) throw new Error(`step must be a non-negative integer, got ${step}`);
    const values = new Map<string, tf.Tensor>();
    const owned = new Set<tf.Tensor>();
    const needLabels = mode !== 'infer' && this.needsLabels(mode);
    let localBatch: number | undefined;
    const upload = (id: string, info: TensorInfo, h: HostTensor | undefined, what: string) => {
      if (!h) throw new UserError(`batch: ${what} is missing (expected shape ${fmt(info.shape)})`);
      const shape = h.shape;
      if (!Array.isArray(shape) || shape.length !== info.shape.length || shape.some((d, i) => !Number.isInteger(d) || d < 0 || (info.shape[i] !== null && d !== info.shape[i]))) {
        throw new UserError(`batch: ${what} has shape ${fmt(shape ?? [])}, expected ${fmt(info.shape)}`);
      }
      if (h.data.length !== sizeOfShape(shape)) throw new UserError(`batch: ${what} has ${h.data.length} values for shape ${fmt(shape)}`);
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
      const { replicaIndex, numReplicas } = this.replica;
      if (numReplicas === 1) sl = { sampleOffset: 0, globalBatch: nLocal };
      else {
        const sizes = new Float32Array(numReplicas);
        sizes[replicaIndex] = nLocal;
        const all = await this.replica.allReduceSum(sizes);
        let offset = 0;
        for (let r = 0; r < replicaIndex; r++) offset += all[r];
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
    const nodes = mode === 'train' ? this.plan.lossNodes : this.plan.evalNodes;
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
      numReplicas: this.replica.numReplicas,
      allReduceSum: this.replica.allReduceSum,
    };
  }

  private nodeParams(n: GraphNode): tf.Tensor[] {
    return n.params.map((p) => this.paramValues.get(p)!);
  }

  /**
   * Runs node `i` forward: reads its inputs from `state.values`, stores its outputs there.
   * @throws Error if an input has not been computed; kernel errors name the node.
   */
  async forwardNode(state: StepState, i: number): Promise<void> {
    this.check();
    const n = this.graph.nodes[i];
    const inputs = n.inputs.map((id) => {
      const v = state.values.get(id);
      if (!v) throw new Error(`node '${n.name}': input '${id}' has not been computed in this step`);
      return v;
    });
    const kernel = kernelFor(n) as OpKernel;
    const res = await kernel.forward(n as never, inputs, this.nodeParams(n), this.ctx(state, i));
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
    this.accumulate(state, id, one);
  }

  private accumulate(state: StepState, id: string, g: tf.Tensor): void {
    const prev = state.grads.get(id);
    if (!prev) {
      state.grads.set(id, g);
      return;
    }
    const sum = tf.add(prev, g);
    state.owned.add(sum);
    state.grads.set(id, sum);
  }

  /**
   * Runs node `i` backward if a gradient reached one of its outputs: accumulates input gradients into
   * `state.grads` (summing over consumers) and parameter gradients into `state.paramGrads`. Nodes must be
   * visited in reverse graph order.
   */
  async backwardNode(state: StepState, i: number): Promise<void> {
    this.check();
    const n = this.graph.nodes[i];
    const fwd = state.forward[i];
    if (!fwd) return;
    const dOut = n.outputs.map((o) => state.grads.get(o.id));
    if (dOut.every((d) => !d)) return;
    const needs: GradNeeds = {
      inputs: n.inputs.map((id) => this.plan.requiresGrad.has(id)),
      params: n.params.map((p) => this.paramInfo.get(p)!.trainable),
    };
    if (!needs.inputs.some(Boolean) && !needs.params.some(Boolean)) return;
    const dOutputs = n.outputs.map((o, k) => {
      const d = dOut[k];
      if (d) return d;
      const z = tf.zerosLike(state.values.get(o.id)!);
      state.owned.add(z);
      return z;
    });
    const kernel = kernelFor(n) as OpKernel;
    const res = await kernel.backward(n as never, dOutputs, fwd, this.nodeParams(n), needs, this.ctx(state, i));
    res.dInputs.forEach((d, k) => {
      if (!d) return;
      state.owned.add(d);
      if (needs.inputs[k]) this.accumulate(state, n.inputs[k], d);
    });
    res.dParams.forEach((d, k) => {
      if (!d) return;
      state.owned.add(d);
      if (!needs.params[k]) return;
      const name = n.params[k];
      const prev = state.paramGrads.get(name);
      if (!prev) state.paramGrads.set(name, d);
      else {
        const sum = tf.add(prev, d);
        state.owned.add(sum);
        state.paramGrads.set(name, sum);
      }
    });
  }

  /** Runs the given nodes backward in the given order (pass them in reverse graph order). */
  async backwardNodes(state: StepState, nodes: readonly number[]): Promise<void> {
    for (const i of nodes) await this.backwardNode(state, i);
  }

  /**
   * Sums this replica's loss and parameter gradients over replicas (one all-reduce, parameters in graph order;
   * skipped for a single replica) and records the global data loss in `state.dataLoss`.
   */
  async reduceGradients(state: StepState): Promise<void> {
    this.check();
    const lossT = this.graph.loss ? state.values.get(this.graph.loss) : undefined;
    const local = lossT ? (lossT.dataSync() as Float32Array)[0] : NaN;
    if (this.replica.numReplicas === 1) {
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
    const sum = await this.replica.allReduceSum(buf);
    state.dataLoss = sum[0];
    off = 1;
    for (const nm of names) {
      const p = this.paramInfo.get(nm)!;
      const n = sizeOfShape(p.shape);
      const t = tf.tensor(sum.subarray(off, off + n), p.shape, 'float32');
      state.owned.add(t);
      state.paramGrads.set(nm, t);
      off += n;
    }
  }

  /** Σ of the regularisation penalties of all parameters (loss units). */
  regularizationLoss(): number {
    let total = 0;
    for (const p of this.graph.params) {
      if (isZeroPenalty(p.regularizer)) continue;
      const t = penalty(p.regularizer!, this.paramValues.get(p.name)!);
      total += t.dataSync()[0];
      t.dispose();
    }
    return total;
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
    this.check();
    const spec: OptimizerSpec | undefined = this.graph.optimizer;
    if (!spec) throw new Error('the graph has no optimizer (traced in a mode other than train?)');
    const lr = learningRateAt(spec.learningRate, state.step);
    const only = params ? new Set(params) : undefined;
    for (const p of this.graph.params) {
      if (!p.trainable || (only && !only.has(p.name))) continue;
      const g0 = state.paramGrads.get(p.name);
      if (!g0) continue;
      const value = this.paramValues.get(p.name)!;
      let g = g0;
      if (!isZeroPenalty(p.regularizer)) {
        g = tf.tidy(() => tf.add(g0, penaltyGrad(p.regularizer!, value)));
        state.owned.add(g);
      }
      const slots = this.slots.get(p.name)!;
      const res = applyUpdate(spec, value, g, slots, lr, state.step);
      value.dispose();
      tf.dispose(slots);
      this.paramValues.set(p.name, res.value);
      this.slots.set(p.name, res.slots);
    }
    this.graph.nodes.forEach((n, i) => {
      const ups = state.forward[i]?.paramUpdates;
      if (!ups) return;
      ups.forEach((t, k) => {
        const name = n.params[k];
        if (!t || (only && !only.has(name))) return;
        state.owned.delete(t);
        this.paramValues.get(name)!.dispose();
        this.paramValues.set(name, t);
      });
    });
    return lr;
  }

  /** Disposes every tensor of the step (never a current parameter or slot). Idempotent. */
  finish(state: StepState): void {
    if (state.finished) return;
    state.finished = true;
    const keep = new Set<tf.Tensor>(this.paramValues.values());
    for (const s of this.slots.values()) for (const t of s) keep.add(t);
    const drop: tf.Tensor[] = [];
    for (const t of state.owned) if (!keep.has(t)) drop.push(t);
    tf.dispose(drop);
    state.owned.clear();
    state.values.clear();
    state.grads.clear();
    state.paramGrads.clear();
  }

  // ---------------------------------------------------------------- whole steps

  /**
   * One training step: forward over the nodes the loss needs, backward in reverse order, gradient all-reduce,
   * regularisation, optimizer update, moving-statistics update.
   * @param step global step before this update (0 for the first step).
   * @param slice this replica's place in the global batch (default: derived with one all-reduce).
   * @returns losses (before the update) and the learning rate used.
   * @throws UserError when the batch does not match the graph; Error when the graph has no loss or optimizer.
   */
  async trainStep(batch: Batch, step: number, slice?: SliceInfo): Promise<TrainResult> {
    if (!this.graph.loss) throw new Error('trainStep: the graph has no loss');
    if (!this.graph.optimizer) throw new Error('trainStep: the graph has no optimizer (trace it in train mode)');
    const state = await this.begin(batch, 'train', step, slice);
    try {
      await this.forwardNodes(state, this.plan.lossNodes);
      this.seedLoss(state);
      await this.backwardNodes(state, [...this.plan.lossNodes].reverse());
      await this.reduceGradients(state);
      const reg = this.regularizationLoss();
      const learningRate = this.applyUpdates(state);
      const dataLoss = state.dataLoss!;
      return { loss: dataLoss + reg, dataLoss, regularizationLoss: reg, learningRate };
    } finally {
      this.finish(state);
    }
  }

  /**
   * One evaluation step (inference behaviour: no dropout, moving statistics): the loss and each metric's
   * (total, count) over the global batch (one all-reduce with several replicas).
   * @throws UserError when the batch does not match the graph.
   */
  async evalStep(batch: Batch, slice?: SliceInfo): Promise<EvalResult> {
    const state = await this.begin(batch, 'eval', 0, slice);
    try {
      await this.forwardNodes(state, this.plan.evalNodes);
      const names = Object.keys(this.graph.metrics);
      const local = new Float32Array(1 + 2 * names.length);
      const lossT = this.graph.loss ? state.values.get(this.graph.loss) : undefined;
      local[0] = lossT ? lossT.dataSync()[0] : NaN;
      names.forEach((nm, k) => {
        const m = computeMetric(nm, this.graph.metrics[nm], state.values);
        local[1 + 2 * k] = m.total;
        local[2 + 2 * k] = m.count;
      });
      const all = this.replica.numReplicas === 1 ? local : await this.replica.allReduceSum(local);
      const metrics: Record<string, MetricValue> = {};
      names.forEach((nm, k) => (metrics[nm] = { total: all[1 + 2 * k], count: all[2 + 2 * k] }));
      const dataLoss = all[0];
      return { loss: dataLoss + this.regularizationLoss(), dataLoss, metrics };
    } finally {
      this.finish(state);
    }
  }

  /**
   * Predictions for this replica's slice of the batch (inference behaviour), by `graph.predictions` name.
   * @throws UserError when the batch does not match the graph.
   */
  async predict(batch: Batch): Promise<Record<string, HostTensor>> {
    const state = await this.begin(batch, 'infer', 0, 'local');
    try {
      await this.forwardNodes(state, this.plan.predictNodes);
      const out: Record<string, HostTensor> = {};
      for (const [name, id] of Object.entries(this.graph.predictions)) {
        const t = state.values.get(id)!;
        const data = t.dataSync();
        out[name] = { data: data instanceof Int32Array ? data.slice() : Float32Array.from(data), shape: t.shape.slice(), dtype: t.dtype === 'int32' ? 'int32' : 'float32' };
      }
      return out;
    } finally {
      this.finish(state);
    }
  }

  /** Node indices run forward by a training step, in order (for simulators scheduling groups of nodes). */
  get trainNodes(): readonly number[] {
    return this.plan.lossNodes;
  }

  /** Node indices run by {@link evalStep} (loss and metrics), in order. */
  get evalNodes(): readonly number[] {
    return this.plan.evalNodes;
  }

  /** Node indices run by {@link predict}, in order. */
  get predictNodes(): readonly number[] {
    return this.plan.predictNodes;
  }
}

function argmaxRows(data: ArrayLike<number>, rows: number, cols: number): Int32Array {
  const out = new Int32Array(rows);
  for (let r = 0; r < rows; r++) {
    let best = 0;
    let bv = -Infinity;
    for (let c = 0; c < cols; c++) {
      const v = data[r * cols + c];
      if (v > bv) {
        bv = v;
        best = c;
      }
    }
    out[r] = best;
  }
  return out;
}

/**
 * One batch's (total, count) of a metric (see {@link MetricSpec}): accuracy (argmax of predictions against
 * integer labels when predictions have one more axis — or a trailing class axis against `[…, 1]` labels —,
 * else predictions thresholded at 0.5 against labels, element-wise), topKAccuracy (label among the k largest
 * logits; ties at the boundary count as hits, as TF `in_top_k`), mean (Σ values, element count),
 * meanSquaredError (Σ (p − y)², element count).
 * @throws Error naming the metric when its inputs are missing or their shapes disagree.
 */
export function computeMetric(name: string, spec: MetricSpec, values: Map<string, tf.Tensor>): MetricValue {
  const get = (id: string) => {
    const t = values.get(id);
    if (!t) throw new Error(`metric '${name}': input '${id}' was not computed`);
    return t;
  };
  const mismatch = (a: tf.Tensor, b: tf.Tensor) =>
    new Error(`metric '${name}' (${spec.op}): labels ${fmt(a.shape)} do not match predictions ${fmt(b.shape)}`);
  switch (spec.op) {
    case 'mean': {
      const v = get(spec.inputs[0]).dataSync();
      let s = 0;
      for (let i = 0; i < v.length; i++) s += v[i];
      return { total: s, count: v.length };
    }
    case 'meanSquaredError': {
      const y = get(spec.inputs[0]);
      const p = get(spec.inputs[1]);
      if (y.size !== p.size) throw mismatch(y, p);
      const a = y.dataSync();
      const b = p.dataSync();
      let s = 0;
      for (let i = 0; i < a.length; i++) s += (b[i] - a[i]) ** 2;
      return { total: s, count: a.length };
    }
    case 'accuracy':
    case 'topKAccuracy': {
      const y = get(spec.inputs[0]);
      const p = get(spec.inputs[1]);
      const cols = p.shape[p.rank - 1] ?? 1;
      const sparse =
        p.rank === y.rank + 1 ||
        (p.rank === y.rank && y.shape[y.rank - 1] === 1 && cols > 1);
      if (spec.op === 'topKAccuracy' || sparse) {
        const rows = p.size / cols;
        if (y.size !== rows) throw mismatch(y, p);
        const lab = y.dataSync();
        const pd = p.dataSync();
        let hits = 0;
        if (spec.op === 'accuracy') {
          const am = argmaxRows(pd, rows, cols);
          for (let r = 0; r < rows; r++) if (am[r] === Math.trunc(lab[r])) hits++;
        } else {
          const k = spec.k ?? 5;
          for (let r = 0; r < rows; r++) {
            const l = Math.trunc(lab[r]);
            if (l < 0 || l >= cols) continue;
            const target = pd[r * cols + l];
            let greater = 0;
            for (let c = 0; c < cols; c++) if (pd[r * cols + c] > target) greater++;
            if (greater < k) hits++;
          }
        }
        return { total: hits, count: rows };
      }
      if (y.size !== p.size) throw mismatch(y, p);
      const a = y.dataSync();
      const b = p.dataSync();
      let hits = 0;
      for (let i = 0; i < a.length; i++) if ((b[i] > 0.5 ? 1 : 0) === (a[i] > 0.5 ? 1 : 0)) hits++;
      return { total: hits, count: a.length };
    }
    default:
      throw new Error(`metric '${name}': unknown op '${(spec as { op: string }).op}'`);
  }
}
