/**
 * tf.estimator's contract: {@link ModeKeys}, {@link EstimatorSpec}, the {@link ModelFn} signature, and
 * {@link traceModelFn}, which runs a modelFn on symbolic features/labels and returns the Graph IR.
 */
import type { DType, Graph, Mode, TensorInfo } from '../graph.ts';
import { UserError } from '../errors.ts';
import type { Params } from '../params.ts';
import { SymbolicTensor, TraceScope, withTraceScope } from '../symbolic.ts';
import type { MetricOp } from './metrics.ts';
import type { TrainOp } from './optimizers.ts';

/** tf.estimator.ModeKeys with Cerebras' strings. */
export const ModeKeys = { TRAIN: 'train', EVAL: 'eval', PREDICT: 'infer' } as const satisfies Record<string, Mode>;

/** What `modelFn` returns (tf.estimator.EstimatorSpec, camelCase). */
export interface EstimatorSpec {
  mode?: Mode;
  /** Scalar loss; required in TRAIN and EVAL. */
  loss?: SymbolicTensor;
  /** `optimizer.minimize(loss)`; required in TRAIN. */
  trainOp?: TrainOp;
  /** Outputs of PREDICT (required there): one tensor or a dict of named tensors. */
  predictions?: SymbolicTensor | Record<string, SymbolicTensor>;
  /** Named streaming metrics computed in EVAL (e.g. `{ accuracy: metrics.accuracy(labels, logits) }`). */
  evalMetricOps?: Record<string, MetricOp>;
  /**
   * SessionRunHooks (host/hooks/session.ts: objects with optional `begin`, `afterCreateSession`, `beforeRun`,
   * `afterRun`, `end`, `close` methods) that training runs after its built-in hooks; read in TRAIN only
   * (tf.estimator `training_hooks`). csrun traces modelFn once per Estimator and mode, so the same objects
   * serve every `train` call of that Estimator.
   */
  trainingHooks?: readonly object[];
  /** SessionRunHooks of every evaluation, read in EVAL only (tf.estimator `evaluation_hooks`); see trainingHooks. */
  evaluationHooks?: readonly object[];
}

/** Features handed to modelFn: a dict of symbolic tensors `[batch, ...]` named like the dataset's features. */
export type Features = Record<string, SymbolicTensor>;

/** The user's model function: `modelFn(features, labels, mode, params)` (labels undefined in PREDICT). */
export type ModelFn = (features: Features, labels: SymbolicTensor | undefined, mode: Mode, params: Params) => EstimatorSpec;

/** Shape (without batch) and dtype of one input tensor. */
export interface TensorSignature {
  shape: number[];
  dtype: DType;
}

/** The per-sample shapes and dtypes of the input pipeline's features and labels. */
export interface InputSignature {
  features: Record<string, TensorSignature>;
  labels?: TensorSignature;
}

const MODES: Mode[] = ['train', 'eval', 'infer'];

/**
 * Traces `modelFn` into a Graph.
 * @param modelFn   the user's model function.
 * @param opts.mode       'train' | 'eval' | 'infer'.
 * @param opts.params     params passed through to modelFn.
 * @param opts.signature  per-sample feature/label shapes (batch dimension added as `null`).
 * @param opts.seed       seed of initializers (default `params.runconfig.seed`).
 * @returns the graph, pruned to what the mode's outputs need.
 * @throws UserError for shape errors (naming layer and shapes) and for an EstimatorSpec missing what the
 *   mode needs (TRAIN: loss and trainOp; EVAL: loss; PREDICT: predictions).
 */
export function traceModelFn(modelFn: ModelFn, opts: { mode: Mode; params: Params; signature: InputSignature; seed?: number }): Graph {
  const { mode, params, signature } = opts;
  if (!MODES.includes(mode)) throw new UserError(`unknown mode '${mode}'; expected one of ${MODES.join(', ')}`);
  if (typeof modelFn !== 'function') throw new UserError(`modelFn is not a function (got ${typeof modelFn})`);
  const scope = new TraceScope(mode, opts.seed ?? params.runconfig.seed);
  const featureInfo: Record<string, TensorInfo> = {};
  const features: Features = {};
  for (const [k, s] of Object.entries(signature.features)) {
    const info: TensorInfo = { id: `features/${k}`, shape: [null, ...s.shape], dtype: s.dtype };
    featureInfo[k] = info;
    features[k] = scope.input(info.id, info.shape, info.dtype);
  }
  let labelInfo: TensorInfo | undefined;
  let labels: SymbolicTensor | undefined;
  if (mode !== 'infer' && signature.labels) {
    labelInfo = { id: 'labels', shape: [null, ...signature.labels.shape], dtype: signature.labels.dtype };
    labels = scope.input('labels', labelInfo.shape, labelInfo.dtype);
  }
  const spec = withTraceScope(scope, () => modelFn(features, labels, mode, params));
  if (!spec || typeof spec !== 'object') throw new UserError(`modelFn returned ${spec === undefined ? 'nothing' : typeof spec} in mode '${mode}'; expected an EstimatorSpec { mode, loss, trainOp, predictions, evalMetricOps }`);
  if (spec.mode !== undefined && spec.mode !== mode) throw new UserError(`modelFn returned an EstimatorSpec for mode '${spec.mode}' when called in mode '${mode}'`);
  const need = mode === 'train' ? ['loss', 'trainOp'] : mode === 'eval' ? ['loss'] : ['predictions'];
  for (const k of need) {
    if ((spec as Record<string, unknown>)[k] === undefined) {
      throw new UserError(`modelFn returned an EstimatorSpec without '${k}' in mode '${mode}' (${mode.toUpperCase()} needs ${need.join(' and ')})`);
    }
  }
  const graph = scope.toGraph({ features: featureInfo, ...(labelInfo ? { labels: labelInfo } : {}) });
  const own = (t: unknown, what: string): string => {
    if (!(t instanceof SymbolicTensor) || t.source.kind !== 'traced' || t.source.scope !== scope) {
      throw new UserError(`EstimatorSpec.${what} must be a tensor computed inside modelFn`);
    }
    return t.id;
  };
  if (spec.loss !== undefined && mode !== 'infer') {
    if (own(spec.loss, 'loss') && spec.loss.rank !== 0) throw new UserError(`EstimatorSpec.loss must be a scalar, got shape ${spec.loss}`);
    graph.loss = spec.loss.id;
  }
  if (spec.predictions !== undefined) {
    const preds = spec.predictions instanceof SymbolicTensor ? { output: spec.predictions } : spec.predictions;
    for (const [k, t] of Object.entries(preds)) graph.predictions[k] = own(t, `predictions.${k}`);
  }
  if (spec.evalMetricOps && mode !== 'infer') {
    for (const [k, m] of Object.entries(spec.evalMetricOps)) {
      if (!m || m.kind !== 'metric') throw new UserError(`EstimatorSpec.evalMetricOps.${k} must be made by metrics.* (e.g. metrics.accuracy(labels, logits))`);
      graph.metrics[k] = m.spec;
    }
  }
  if (mode === 'train') {
    const op = spec.trainOp!;
    if (op.kind !== 'trainOp') throw new UserError('EstimatorSpec.trainOp must be made by optimizer.minimize(loss)');
    if (own(op.loss, 'trainOp') !== graph.loss) throw new UserError('EstimatorSpec.trainOp minimizes a different tensor than EstimatorSpec.loss');
    graph.optimizer = op.optimizer;
  }
  return prune(graph);
}

/** Drops nodes and params that no output of the graph (loss, predictions, metrics) depends on. */
function prune(graph: Graph): Graph {
  const needed = new Set<string>([...(graph.loss ? [graph.loss] : []), ...Object.values(graph.predictions), ...Object.values(graph.metrics).flatMap((m) => m.inputs)]);
  const keep = new Set<number>();
  for (let i = graph.nodes.length - 1; i >= 0; i--) {
    const n = graph.nodes[i];
    if (n.outputs.some((o) => needed.has(o.id))) {
      keep.add(i);
      n.inputs.forEach((x) => needed.add(x));
    }
  }
  graph.nodes = graph.nodes.filter((_, i) => keep.has(i));
  const used = new Set(graph.nodes.flatMap((n) => n.params));
  graph.params = graph.params.filter((p) => used.has(p.name));
  return graph;
}
