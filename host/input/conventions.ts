/**
 * The user-module conventions csrun accepts besides its own (`modelFn` in model.ts, `inputFn` in data.ts),
 * listed once: the generic loaders (host/model-dir.ts, host/input/common.ts) know only the adapter
 * interfaces, and adding a convention means adding its adapters here.
 */
import type { InputFnAdapter } from './common.ts';
import type { ModelFnAdapter } from '../user-module.ts';
import { elasticDLInputAdapter, elasticDLModelAdapter } from './elasticdl.ts';

/** Model-file conventions, tried in order when model.ts exports no `modelFn`. */
export const MODEL_ADAPTERS: readonly ModelFnAdapter[] = [elasticDLModelAdapter];

/** Data-module conventions, tried in order when data.ts exports no `inputFn`. */
export const INPUT_ADAPTERS: readonly InputFnAdapter[] = [elasticDLInputAdapter];
