/**
 * The kernel interface: explicit forward, input-gradient and weight-gradient code for one op of the Graph IR
 * (`OpAttrs` in `../graph.ts`), written with tfjs-core ops and run on the wasm backend. Whole-graph
 * autodiff (`tf.grad`) is never used: the tfjs-core Node bundle registers no gradients, and several wasm
 * gradient kernels are missing or wrong (docs/design.md §12).
 *
 * Data parallelism. A batch may be cut into shards (run by compute worker threads, each with its own wasm backend). A kernel sees
 * only its shard's slice `[localBatch, …]` and gets from {@link KernelContext} the slice's place in the
 * global batch and a collective `allReduceSum`. Contracts that keep results independent of the split:
 *  - loss kernels divide their local sum by the GLOBAL count (`ctx.globalBatch` × elements per sample), so
 *    the shards' losses and gradients add up to the full-batch ones;
 *  - batch normalisation in training reduces its statistics (and, backwards, Σdy and Σdy·x̂) over shards;
 *  - random masks are keyed by the global sample index (`ctx.sampleOffset + i`), never by the local one;
 *  - `dParams` are this shard's contributions (partial sums over its samples); the executor sums them over
 *    shards in a fixed order.
 *
 * Tensor ownership. A kernel never disposes its `inputs`, `params`, `dOutputs` or `saved`. Every tensor it
 * returns (outputs, saved, dInputs, dParams, paramUpdates) is handed to the caller, who disposes it; a
 * returned tensor may be the very object of an input or of a `dOutputs` entry (the caller de-duplicates), but
 * never a parameter. All intermediates are disposed by the kernel (`tf.tidy`). Kernels that call
 * `allReduceSum` are async; no tfjs scope (`tidy`) may stay open across an `await`, because shards in one
 * thread interleave there.
 */
import type { Tensor } from '@tensorflow/tfjs-core';
import type { GraphNode, OpName } from '../graph.ts';

/** What a kernel may know about the step and the shard it runs in. */
export interface KernelContext {
  /** True inside a training step (`trainStep`), false in evaluation and prediction. Ops with a `training`
   * attribute (dropout, batch normalisation) use training behaviour only when both are true. */
  training: boolean;
  /** Global step: the number of optimizer updates applied before this step (0 on the first step). */
  step: number;
  /** Graph seed (`runconfig.seed`); random ops derive their streams from it. */
  seed: number;
  /** Index of the node in `graph.nodes` (part of the key of its random streams). */
  nodeIndex: number;
  /** Global index of this shard's first sample in the batch (0 for one shard). */
  sampleOffset: number;
  /** Samples in the whole batch across shards (the local batch for one shard). */
  globalBatch: number;
  /** Number of data-parallel shards of the batch (1: `allReduceSum` is the identity). */
  numShards: number;
  /**
   * Element-wise sum of `x` over all shards, identical (bit for bit) in every shard: shards' arrays are
   * added in shard order. Every shard must call it the same number of times with arrays of equal length.
   * @param x this shard's contribution (not modified).
   * @returns a new array with the sums.
   */
  allReduceSum(x: Float32Array): Promise<Float32Array>;
}

/** What a forward pass returns. */
export interface ForwardResult {
  /** One tensor per `node.outputs` entry. */
  outputs: Tensor[];
  /** Tensors the backward pass reads (inputs, outputs or intermediates); opaque to the caller. */
  saved: Tensor[];
  /** Non-tensor data the backward pass reads (shapes, pad info, …). */
  meta?: unknown;
  /** New values of non-trainable parameters, aligned with `node.params` (`null`: unchanged). Batch
   * normalisation returns its moving mean and variance here; the caller stores them after the step. */
  paramUpdates?: (Tensor | null)[];
}

/** Which gradients the caller needs (the kernel may skip the others, e.g. a conv's input gradient when its
 * input is a feature). */
export interface GradNeeds {
  /** Aligned with `node.inputs`. */
  inputs: boolean[];
  /** Aligned with `node.params` (false for non-trainable or frozen parameters). */
  params: boolean[];
}

/** What a backward pass returns. */
export interface BackwardResult {
  /** Gradient of the loss with respect to each input (shape of the input), `null` when not needed or not
   * defined (labels, integer indices). */
  dInputs: (Tensor | null)[];
  /** This shard's contribution to the gradient of each parameter (shape of the parameter), aligned with
   * `node.params`; `null` when not needed or not trainable. */
  dParams: (Tensor | null)[];
}

/** Result of a kernel call that may wait on a collective. */
export type MaybePromise<T> = T | Promise<T>;

/**
 * Forward and backward of one op.
 * @typeParam K the op name (`node.op`).
 */
export interface OpKernel<K extends OpName = OpName> {
  readonly op: K;
  /**
   * Computes the node's outputs.
   * @param node   the node (attrs, names; `node.outputs[i].shape` gives the static per-sample shape).
   * @param inputs one tensor per `node.inputs` (the shard's slice, batch on axis 0).
   * @param params one tensor per `node.params`.
   * @throws Error naming the node when an input or parameter has the wrong rank, shape or dtype.
   */
  forward(node: GraphNode<K>, inputs: Tensor[], params: Tensor[], ctx: KernelContext): MaybePromise<ForwardResult>;
  /**
   * Computes input and parameter gradients from output gradients.
   * @param dOutputs gradient of the loss for each output (same shapes as the outputs).
   * @param fwd      what `forward` returned for this node in this step (`saved`, `meta`).
   * @param params   the same parameter tensors `forward` received.
   */
  backward(
    node: GraphNode<K>,
    dOutputs: Tensor[],
    fwd: Pick<ForwardResult, 'saved' | 'meta'>,
    params: Tensor[],
    needs: GradNeeds,
    ctx: KernelContext,
  ): MaybePromise<BackwardResult>;
}

/** A kernel for any op (used by the registry). */
export type AnyKernel = { [K in OpName]: OpKernel<K> }[OpName];
