/**
 * The reference executor: runs a {@link Graph} on the wasm backend. It is the step engine (`./step.ts`,
 * node by node over one shard of a batch) with a parameter store (`./store.ts`) and the three whole steps
 * built from it — the one training-step recipe ({@link Executor.trainStep}, which the compute workers run
 * kernel group by kernel group), {@link Executor.evalStep} with the metrics of `./metrics.ts`, and
 * {@link Executor.predict} — plus parameters and slots as named Float32Arrays for checkpoints.
 *
 * Data parallelism: see `./step.ts`. N executors (one per shard, e.g. several per compute worker thread,
 * `../parallel/`) each get a slice of the batch and an `allReduceSum` over the shards.
 */
import type * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../backend.ts';
import type { Batch, TensorData } from '../batch.ts';
import type { Graph } from '../graph.ts';
import { computeMetric, metricSize, type MetricValue } from './metrics.ts';
import { SINGLE_SHARD, StepEngine, type ShardOptions, type SliceInfo, type StepState } from './step.ts';
import { ParamStore, type NamedArray } from './store.ts';

/** Options of {@link Executor.create}. */
export interface ExecutorOptions {
  /** Data-parallel placement; default: a single shard. */
  shard?: ShardOptions;
  /** Initial parameter values by name; the others come from their initializers. */
  params?: Record<string, Float32Array>;
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

/** Result of {@link Executor.evalStep} (global over shards). */
export interface EvalResult {
  /** Data loss plus regularisation penalties (as Keras `evaluate` reports it); NaN when the graph has no loss. */
  loss: number;
  dataLoss: number;
  /** Sums per metric name of `graph.metrics` (`./metrics.ts` `metricResult` gives the value). */
  metrics: Record<string, MetricValue>;
}

/**
 * Observes a training step between node groups (a simulator counting what crosses between wafer kernels).
 * Called synchronously; must not keep or dispose the step's tensors.
 */
export interface StepHooks {
  /** After the batch is uploaded, before any node runs. */
  afterBegin?(state: StepState): void;
  /** After group `g` ran forward. */
  afterForward?(g: number, state: StepState): void;
  /** After group `g` ran backward (groups run backward from the last to the first). */
  afterBackward?(g: number, state: StepState): void;
}

/** Nodes run together in a training step (e.g. one wafer kernel's share of the graph). */
export interface NodeGroup {
  /** Node indices run forward, a subsequence of {@link Executor.trainNodes} (graph order). */
  readonly forward: readonly number[];
  /** The same nodes in reverse, run backward. */
  readonly backward: readonly number[];
}

/** A {@link NodeGroup} of the given nodes (graph order), its backward list derived once. */
export function nodeGroup(forward: readonly number[]): NodeGroup {
  return { forward, backward: [...forward].reverse() };
}

/** Options of {@link Executor.trainStep}. */
export interface TrainStepOptions {
  /** This shard's place in the global batch (default: derived with one all-reduce). */
  slice?: SliceInfo;
  /**
   * The training step's nodes cut into groups run forward in order and backward in reverse order; default:
   * one group of all of {@link Executor.trainNodes}.
   */
  groups?: readonly NodeGroup[];
  hooks?: StepHooks;
}

/**
 * Runs a graph (see the module comment). Create with {@link Executor.create}; call {@link Executor.dispose}
 * when done to free the parameter tensors.
 */
export class Executor extends StepEngine {
  /** The default grouping of a training step: all its nodes in one group. */
  private readonly wholeStep: readonly NodeGroup[];

  private constructor(graph: Graph, opts: ExecutorOptions) {
    super(graph, new ParamStore(graph, opts.params), opts.shard ?? SINGLE_SHARD);
    this.wholeStep = [nodeGroup(this.trainNodes)];
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

  // ---------------------------------------------------------------- parameters and slots

  /** Parameter names in graph order. */
  get paramNames(): string[] {
    return this.store.names;
  }

  /** Every parameter's value (copies), in graph order. */
  getParams(): NamedArray[] {
    return this.store.getParams();
  }

  /**
   * Replaces parameter values (any subset).
   * @throws Error naming the parameter when it is unknown or the size does not match its shape.
   */
  setParams(values: Record<string, Float32Array> | NamedArray[]): void {
    this.store.setParams(values);
  }

  /** Every optimizer slot (copies), named `<param>/<suffix>` (tfjs names, see `../optimizers/update.ts`). */
  getSlots(): NamedArray[] {
    return this.store.getSlots();
  }

  /**
   * Replaces optimizer slots (any subset) by `<param>/<suffix>` name.
   * @throws Error naming the slot when it is unknown or has the wrong size.
   */
  setSlots(values: Record<string, Float32Array> | NamedArray[]): void {
    this.store.setSlots(values);
  }

  /** Frees parameters and slots. The executor cannot be used afterwards. */
  dispose(): void {
    this.store.dispose();
  }

  // ---------------------------------------------------------------- whole steps

  /**
   * One training step: forward over the nodes the loss needs (group by group), backward in reverse order,
   * gradient all-reduce, regularisation, optimizer update, moving-statistics update.
   * @param step global step before this update (0 for the first step).
   * @returns losses (before the update) and the learning rate used.
   * @throws UserError when the batch does not match the graph; Error when the graph has no loss or optimizer.
   */
  async trainStep(batch: Batch, step: number, opts: TrainStepOptions = {}): Promise<TrainResult> {
    if (!this.graph.loss) throw new Error('trainStep: the graph has no loss');
    if (!this.graph.optimizer) throw new Error('trainStep: the graph has no optimizer (trace it in train mode)');
    const groups = opts.groups ?? this.wholeStep;
    const hooks = opts.hooks ?? {};
    const state = await this.begin(batch, 'train', step, opts.slice);
    try {
      hooks.afterBegin?.(state);
      for (let g = 0; g < groups.length; g++) {
        await this.forwardNodes(state, groups[g].forward);
        hooks.afterForward?.(g, state);
      }
      this.seedLoss(state);
      for (let g = groups.length - 1; g >= 0; g--) {
        await this.backwardNodes(state, groups[g].backward);
        hooks.afterBackward?.(g, state);
      }
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
   * (total, count) over the global batch (one all-reduce with several shards).
   * @param slice this shard's place in the global batch (default: derived with one all-reduce).
   * @throws UserError when the batch does not match the graph.
   */
  async evalStep(batch: Batch, slice?: SliceInfo): Promise<EvalResult> {
    const state = await this.begin(batch, 'eval', 0, slice);
    try {
      await this.forwardNodes(state, this.evalNodes);
      const names = Object.keys(this.graph.metrics);
      const offsets = [1];
      for (const nm of names) offsets.push(offsets.at(-1)! + metricSize(this.graph.metrics[nm]));
      const local = new Float32Array(offsets.at(-1)!);
      const lossT: tf.Tensor | undefined = this.graph.loss ? state.values.get(this.graph.loss) : undefined;
      local[0] = lossT ? lossT.dataSync()[0] : NaN;
      names.forEach((nm, k) => local.set(computeMetric(nm, this.graph.metrics[nm], state.values).sums, offsets[k]));
      const all = this.shard.numShards === 1 ? local : await this.shard.allReduceSum(local);
      const metrics: Record<string, MetricValue> = {};
      names.forEach((nm, k) => (metrics[nm] = { sums: Array.from(all.slice(offsets[k], offsets[k + 1])) }));
      const dataLoss = all[0];
      return { loss: dataLoss + this.regularizationLoss(), dataLoss, metrics };
    } finally {
      this.finish(state);
    }
  }

  /**
   * Predictions for this shard's slice of the batch (inference behaviour), by `graph.predictions` name.
   * @throws UserError when the batch does not match the graph.
   */
  async predict(batch: Batch): Promise<Record<string, TensorData>> {
    const state = await this.begin(batch, 'infer', 0, 'local');
    try {
      await this.forwardNodes(state, this.predictNodes);
      const out: Record<string, TensorData> = {};
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
}
