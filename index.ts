/**
 * The public API of csrun: what model.ts and data.ts import `from 'csrun'`.
 */
export * from './runtime/graph.ts';
export { UserError } from './runtime/errors.ts';
export { loadParams, validateParams, type Params, type RunConfig, type InputParams, type OptimizerParams } from './runtime/params.ts';
