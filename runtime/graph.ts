/**
 * The Graph IR: what tracing a user's `modelFn` produces and what the compiler and the reference executor
 * consume. It is plain JSON (no classes, no typed arrays) so that it can be written to disk, hashed for the
 * compile cache and sent to worker threads.
 *
 * Conventions
 * - Layouts are Keras / tfjs-layers channels-last: images `[batch, h, w, c]`, conv kernels
 *   `[kh, kw, cin, cout]`, dense kernels `[in, units]`, embeddings `[inputDim, outputDim]`.
 * - A {@link Shape} holds `null` for the symbolic batch dimension (always axis 0 of activations) and
 *   numbers elsewhere. Parameters have fully static shapes.
 * - One {@link GraphNode} per Keras layer call (activation and bias fused into conv2d/dense as Keras does),
 *   plus one node per loss. Nodes are listed in a topological order (producers before consumers).
 * - Tensor ids are `<node name>:<output index>` for node outputs and `features/<key>` / `labels` for inputs.
 */

/** A dimension: a size, or `null` for the symbolic batch dimension. */
export type Dim = number | null;
/** A tensor shape; `null` entries are the (symbolic) batch dimension. */
export type Shape = Dim[];
/** Element types the wafer supports. */
export type DType = 'float32' | 'int32';

/** The tf.estimator mode strings (Cerebras: 'train', 'eval', 'infer'). */
export type Mode = 'train' | 'eval' | 'infer';

/** Activation names accepted by `activation:` arguments (Keras names). */
export const ACTIVATIONS = ['relu', 'relu6', 'sigmoid', 'tanh', 'softmax', 'gelu', 'elu', 'selu', 'linear'] as const;
/** One of {@link ACTIVATIONS}. */
export type Activation = (typeof ACTIVATIONS)[number];

/** Keras padding modes. */
export type Padding = 'valid' | 'same';

/** A tensor flowing between nodes. */
export interface TensorInfo {
  /** `<node>:<index>`, `features/<key>` or `labels`. */
  id: string;
  shape: Shape;
  dtype: DType;
}

/** How a parameter is initialised; reproduced exactly from `name`, `seed` and `config`. */
export interface InitializerSpec {
  /** Keras initializer name in camelCase: glorotUniform, glorotNormal, heNormal, heUniform, lecunNormal,
   * lecunUniform, randomNormal, randomUniform, truncatedNormal, zeros, ones, constant. */
  name: string;
  /** Seed derived from `runconfig.seed` and the parameter's creation index. */
  seed: number;
  /** Initializer arguments (e.g. `{ mean, stddev }`, `{ minval, maxval }`, `{ value }`). */
  config: Record<string, number>;
}

/** Weight penalty added to the loss (Keras `kernelRegularizer`). `l2` adds `l2 · Σ w²`. */
export interface RegularizerSpec {
  l1?: number;
  l2?: number;
}

/** A parameter (weight) of the model. */
export interface ParamInfo {
  /** `<layer name>/<weight name>`, Keras weight names: kernel, bias, gamma, beta, moving_mean,
   * moving_variance, embeddings. */
  name: string;
  shape: number[];
  dtype: 'float32';
  initializer: InitializerSpec;
  /** False for statistics updated by the forward pass (batch-norm moving mean/variance). */
  trainable: boolean;
  regularizer?: RegularizerSpec;
}

/** Attributes per op. Sizes are `[rows, cols]` pairs (Keras normalises ints to pairs). */
export interface OpAttrs {
  conv2d: {
    filters: number;
    kernelSize: [number, number];
    strides: [number, number];
    padding: Padding;
    dilationRate: [number, number];
    activation: Activation;
    useBias: boolean;
  };
  /** Keras Conv2DTranspose, channels-last; kernel `[kh, kw, filters, in]` (`kernels/conv2dTranspose.ts`). */
  conv2dTranspose: {
    filters: number;
    kernelSize: [number, number];
    strides: [number, number];
    padding: Padding;
    activation: Activation;
    useBias: boolean;
  };
  /** Keras UpSampling2D, nearest neighbour, channels-last: `[batch, h, w, c]` → `[batch, h·size[0], w·size[1], c]`. */
  upSampling2d: { size: [number, number] };
  /** Input `[batch, ..., in]` → output `[batch, ..., units]` (applies to the last axis, as Keras Dense). */
  dense: { units: number; activation: Activation; useBias: boolean };
  maxPooling2d: { poolSize: [number, number]; strides: [number, number]; padding: Padding };
  averagePooling2d: { poolSize: [number, number]; strides: [number, number]; padding: Padding };
  globalAveragePooling2d: Record<string, never>;
  /** Normalises over every axis but the last; `training` chooses batch statistics (true) or moving ones. */
  batchNormalization: { momentum: number; epsilon: number; center: boolean; scale: boolean; training: boolean };
  /** Normalises over the last axis. */
  layerNormalization: { epsilon: number; center: boolean; scale: boolean };
  /** Inverted dropout: kept values are scaled by `1 / (1 - rate)`; identity when `training` is false. */
  dropout: { rate: number; training: boolean };
  flatten: Record<string, never>;
  /** `targetShape` excludes the batch dimension, as in Keras. */
  reshape: { targetShape: number[] };
  activation: { activation: Activation };
  /** Element-wise sum with broadcasting ({@link BinaryAttrs}); the Keras Add layer passes two or more inputs
   * of one shape and no constants. */
  add: BinaryAttrs;
  /** `a − b` element-wise with broadcasting (tf.sub). */
  sub: BinaryAttrs;
  /** `a · b` element-wise with broadcasting (tf.mul). */
  mul: BinaryAttrs;
  /** `a / b` element-wise with broadcasting (tf.div). */
  div: BinaryAttrs;
  /** `condition ? x : y` element-wise with broadcasting (tf.where); inputs `[condition, x?, y?]`: the condition
   * (float32 or int32, nonzero = true) then whichever of x and y are tensors; the others are the constants. */
  where: { x?: number; y?: number };
  /** `√x` element-wise. */
  sqrt: Record<string, never>;
  /** `1/√x` element-wise. */
  rsqrt: Record<string, never>;
  /** Softmax along `axis` (non-negative, ≥ 1: never the batch axis). */
  softmax: { axis: number };
  /** Σ over `axis` (sorted, non-negative). A reduction over the batch axis 0 yields this replica's partial sum
   * (replicas' values add up to the full batch's), so it may only feed the loss linearly. */
  sum: { axis: number[]; keepDims: boolean };
  /** Mean over `axis` (sorted, non-negative). Over the batch axis 0 the sum is divided by the GLOBAL batch
   * (as loss kernels do), so replicas' values add up to the full batch's mean. */
  mean: { axis: number[]; keepDims: boolean };
  /** Batched matrix product on the last two axes (tf.matMul): a `[batch, …, m, k]` (`[…, k, m]` with
   * transposeA), b `[batch, …, k, n]` (`[…, n, k]` with transposeB) → `[batch, …, m, n]`; the leading axes
   * broadcast (equal or 1). */
  matMul: { transposeA: boolean; transposeB: boolean };
  /** Axis permutation (tf.transpose); `perm` covers every axis and keeps the batch axis first (`perm[0] = 0`). */
  transpose: { perm: number[] };
  /** Sub-tensor (tf.slice): `begin` and `size` cover every axis; the batch axis is whole (`begin[0] = 0`,
   * `size[0] = -1`), the other sizes are resolved (no −1). ops.split lowers to one slice per part. */
  slice: { begin: number[]; size: number[] };
  /** Gather along `axis` ≥ 1 (tf.gather). With `indices` (constant int list) every sample takes the same
   * entries: output `x.shape[:axis] + [indices.length] + x.shape[axis+1:]`. Without, the second input holds
   * int32 indices `[batch, …]` per sample (tf.gather with batchDims 1): output
   * `x.shape[:axis] + indices.shape[1:] + x.shape[axis+1:]`. */
  gather: { axis: number; indices?: number[] };
  concatenate: { axis: number };
  /** Input int32 indices `[batch, ...]` → `[batch, ..., outputDim]`. */
  embedding: { inputDim: number; outputDim: number };
  /** Keras-NLP ReversibleEmbedding with `reverse=True` (tied input/output embeddings): x `[batch, …, outputDim]`
   * → logits `x · Eᵀ`, `[batch, …, inputDim]`, with E `[inputDim, outputDim]` the embedding's table (params
   * `[embeddings]`, shared with the embedding node). */
  reverseEmbedding: { inputDim: number; outputDim: number };
  /** Keras-NLP TokenAndPositionEmbedding: int32 token ids `[batch, seq]` (seq ≤ sequenceLength) →
   * `token_embeddings[ids] + position_embeddings[:seq]`, `[batch, seq, embeddingDim]`. Params
   * `[token_embedding/embeddings [vocabularySize, embeddingDim], position_embedding/embeddings
   * [sequenceLength, embeddingDim]]`. */
  tokenAndPositionEmbedding: { vocabularySize: number; sequenceLength: number; embeddingDim: number };
  /**
   * Keras MultiHeadAttention on rank-3 inputs: inputs `[query [batch, T, Dq], value [batch, S, Dv], key
   * [batch, S, Dk], attentionMask [batch, T, S]?]` (key may be the value tensor itself; the mask is 1/nonzero
   * where a query may attend). Output `[batch, T, outputDim]`. Per head h:
   * `softmax((x_q W_q[h] + b_q[h]) (x_k W_k[h] + b_k[h])ᵀ / √keyDim, masked) (x_v W_v[h] + b_v[h])`, heads
   * concatenated and projected by `W_o` `[numHeads, valueDim, outputDim]` + `b_o`. Params (Keras names and
   * order): `query/kernel [Dq, numHeads, keyDim]`, `query/bias [numHeads, keyDim]`, `key/kernel`, `key/bias`,
   * `value/kernel [Dv, numHeads, valueDim]`, `value/bias`, `attention_output/kernel`, `attention_output/bias
   * [outputDim]` (biases only with useBias). Forward MACs per sample, with H = numHeads: projections
   * `H·(T·Dq·keyDim + S·Dk·keyDim + S·Dv·valueDim + T·valueDim·outputDim)`, scores `H·T·S·keyDim`, context
   * `H·T·S·valueDim`; softmax over `H·T·S` elements (T, S, D* from the input shapes).
   */
  multiHeadAttention: {
    numHeads: number;
    keyDim: number;
    valueDim: number;
    outputDim: number;
    /** Dropout rate on the attention probabilities (training only). */
    dropout: number;
    useBias: boolean;
    /** Query position t attends only to key positions s ≤ t (Keras: t ≥ s for any T, S). */
    useCausalMask: boolean;
    /** GPT-J rotary position embedding (`rotary_dim`) on the first `rotaryDim` dimensions of each query and key
     * head, positions 0…L−1; 0: none. Even, ≤ keyDim. */
    rotaryDim: number;
    /** True when a fourth input (the attention mask) is present. */
    hasAttentionMask: boolean;
    training: boolean;
  };
  /** inputs `[labels [batch] or [batch, 1] int32, logits [batch, classes]]`, output scalar mean loss. */
  sparseSoftmaxCrossEntropy: Record<string, never>;
  /** inputs `[labels [batch, classes] probabilities, logits [batch, classes]]`, output scalar mean loss. */
  softmaxCrossEntropy: { labelSmoothing: number };
  /** inputs `[labels, logits]` of equal shape, output scalar mean over all elements. */
  sigmoidCrossEntropy: Record<string, never>;
  /** inputs `[labels, predictions]` of equal shape, output scalar mean over all elements. */
  meanSquaredError: Record<string, never>;
}

/**
 * Attributes of the element-wise binary ops (`add`, `sub`, `mul`, `div`). The node's inputs are the tensor
 * operands in argument order; an operand given as a number is not an input but a constant here (`a`: the first
 * argument, `b`: the second), e.g. `ops.sub(1, x)` has inputs `[x]` and `{ a: 1 }`. Tensor operands have the
 * same rank and each axis equal or 1 (NumPy broadcasting with the batch axes aligned); constants are finite.
 */
export interface BinaryAttrs {
  a?: number;
  b?: number;
}

/** Every op name the IR knows. */
export type OpName = keyof OpAttrs;

/** Ops that compute a scalar loss from `[labels, predictions]`. */
export const LOSS_OPS = ['sparseSoftmaxCrossEntropy', 'softmaxCrossEntropy', 'sigmoidCrossEntropy', 'meanSquaredError'] as const;

/** A node of the graph: one layer call or one loss. */
export interface GraphNode<K extends OpName = OpName> {
  /** Unique node name (the Keras layer name, e.g. `conv2d_1`). */
  name: string;
  op: K;
  /** Ids of input tensors, in the op's argument order. */
  inputs: string[];
  /** Output tensors (one for every op today; ops.split lowers to one slice node per part). */
  outputs: TensorInfo[];
  attrs: OpAttrs[K];
  /** Names of the parameters this node reads, in the op's canonical order: conv2d/dense `[kernel, bias?]`,
   * batchNormalization `[gamma?, beta?, moving_mean, moving_variance]`, layerNormalization `[gamma?, beta?]`,
   * embedding `[embeddings]`, tokenAndPositionEmbedding `[token, position]`, multiHeadAttention (see its attrs). */
  params: string[];
}

/** Metric kinds; each is accumulated over batches as a (total, count) pair. */
export interface MetricSpec {
  /** accuracy: inputs `[labels, predictions]`; when predictions have one more axis than labels they are
   * logits/probabilities and their argmax is compared, when shapes match and predictions are float they are
   * thresholded at 0.5. topKAccuracy: `[labels, logits]` with `k`. mean: `[values]`. meanSquaredError:
   * `[labels, predictions]`. perplexity: `[labels, logits]` (class ids, `[batch, …, classes]`). meanIou, dice,
   * meanPerClassAccuracy: `[labels, predictions]` of equal shapes, binary masks thresholded at 0.5. */
  op: 'accuracy' | 'topKAccuracy' | 'mean' | 'meanSquaredError' | 'perplexity' | 'meanIou' | 'dice' | 'meanPerClassAccuracy';
  inputs: string[];
  k?: number;
}

/** One segment of a learning-rate schedule (Cerebras params.yaml `optimizer.learning_rate` list entries). */
export type ScheduleSegment =
  | { scheduler: 'Constant'; learning_rate: number; steps?: number }
  | { scheduler: 'Exponential'; initial_learning_rate: number; decay_steps: number; decay_rate: number; staircase?: boolean; steps?: number }
  | { scheduler: 'PiecewiseConstant'; values: number[]; boundaries: number[]; steps?: number }
  | { scheduler: 'Linear'; initial_learning_rate: number; end_learning_rate: number; steps: number }
  | { scheduler: 'Polynomial'; initial_learning_rate: number; end_learning_rate: number; decay_steps: number; power?: number; cycle?: boolean; steps?: number }
  | { scheduler: 'Cosine'; initial_learning_rate: number; decay_steps: number; alpha?: number; steps?: number };

/** A learning rate: constant, one schedule, or consecutive segments (each but the last with `steps`). */
export type LearningRate = number | ScheduleSegment | ScheduleSegment[];

/**
 * The optimizer and its hyper-parameters (tfjs-core / Keras names). `globalClipnorm` (Keras `global_clipnorm`,
 * params `optimizer.max_gradient_norm`): before the update, all gradients are scaled by
 * `min(1, globalClipnorm / ‖g‖₂)` with ‖g‖₂ the global norm over every trainable parameter (tf.clip_by_global_norm,
 * `optimizers/update.ts` `clipByGlobalNorm`); absent or 0: no clipping. AdamW `biasCorrection` (default true, as
 * Keras; false is the Cerebras TF AdamW default) divides the moments by `1 − βᵗ`.
 */
export type OptimizerSpec = (
  | { name: 'sgd'; learningRate: LearningRate }
  | { name: 'momentum'; learningRate: LearningRate; momentum: number; useNesterov: boolean }
  | { name: 'adam'; learningRate: LearningRate; beta1: number; beta2: number; epsilon: number }
  | { name: 'adamw'; learningRate: LearningRate; beta1: number; beta2: number; epsilon: number; weightDecay: number; biasCorrection?: boolean }
  | { name: 'rmsprop'; learningRate: LearningRate; decay: number; momentum: number; epsilon: number; centered: boolean }
) & { globalClipnorm?: number };

/** The traced model for one mode. */
export interface Graph {
  /** Bumped whenever the IR changes incompatibly. */
  formatVersion: 1;
  mode: Mode;
  /** `runconfig.seed` the graph was traced with (initializers and dropout derive their seeds from it). */
  seed: number;
  /** Graph inputs: one tensor per feature key, plus labels (absent in 'infer'). */
  inputs: { features: Record<string, TensorInfo>; labels?: TensorInfo };
  nodes: GraphNode[];
  params: ParamInfo[];
  /** Id of the scalar data loss (regularisation penalties of {@link ParamInfo.regularizer} come on top). */
  loss?: string;
  /** Named prediction tensors (EstimatorSpec predictions). */
  predictions: Record<string, string>;
  /** Named streaming metrics (EstimatorSpec evalMetricOps). */
  metrics: Record<string, MetricSpec>;
  /** Present in 'train' mode (EstimatorSpec trainOp). */
  optimizer?: OptimizerSpec;
}

/** Number of elements of a static shape (`null` dims count as 1: per-sample size). */
export function sizeOf(shape: Shape): number {
  let n = 1;
  for (const d of shape) n *= d ?? 1;
  return n;
}

/** Looks up the TensorInfo of a tensor id. Throws if the id is not produced by the graph. */
export function tensorInfo(graph: Graph, id: string): TensorInfo {
  if (id === 'labels' && graph.inputs.labels) return graph.inputs.labels;
  if (id.startsWith('features/')) {
    const t = graph.inputs.features[id.slice('features/'.length)];
    if (t) return t;
  }
  for (const n of graph.nodes) for (const o of n.outputs) if (o.id === id) return o;
  throw new Error(`tensor '${id}' is not produced by any node of the graph`);
}

/** Total number of scalar parameters, trainable and not (the Keras summary's "Total params"). */
export function countParams(graph: Graph): number {
  return graph.params.reduce((s, p) => s + sizeOf(p.shape), 0);
}
