/**
 * The public API of csrun: what model.ts and data.ts import `from 'csrun'`.
 */
export * as layers from './runtime/layers/index.ts';
export * as losses from './runtime/api/losses.ts';
export * as metrics from './runtime/api/metrics.ts';
export * as optimizers from './runtime/api/optimizers.ts';
export * as regularizers from './runtime/api/regularizers.ts';
export * as initializers from './runtime/api/initializers.ts';
export { Model, Sequential, model, sequential, type ModelInputs, type ModelArgs } from './runtime/model.ts';
export { ModeKeys, traceModelFn, type EstimatorSpec, type ModelFn, type Features, type InputSignature, type TensorSignature } from './runtime/api/estimator.ts';
export type { MetricOp } from './runtime/api/metrics.ts';
export type { TrainOp, Optimizer } from './runtime/api/optimizers.ts';
export { SymbolicTensor } from './runtime/symbolic.ts';
export * from './runtime/graph.ts';
export { UserError } from './runtime/errors.ts';
export { loadParams, validateParams, type Params, type RunConfig, type InputParams, type OptimizerParams } from './runtime/params.ts';
