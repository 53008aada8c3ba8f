/**
 * The contract of the user's input function (`export function inputFn` in data.ts, Cerebras'
 * `input_fn(params, mode)`): its signature, the {@link InputContext} the support server passes, the
 * params section a mode reads and where its `data_dir` resolves.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Batch } from '../../runtime/batch.ts';
import { UserError } from '../../runtime/errors.ts';
import type { Mode } from '../../runtime/graph.ts';
import type { Params } from '../../runtime/params.ts';
import type { Dataset } from './dataset.ts';

/**
 * tf.distribute.InputContext: which of the support server's input pipelines (workers) calls `inputFn`.
 * An inputFn that reads all data itself should keep shard `inputPipelineId` of `numInputPipelines`
 * (`ds.shard(ctx.numInputPipelines, ctx.inputPipelineId)`); if it does not, the support server shards
 * the returned dataset's batches itself (see `DatasetOptions.autoShardPolicy` in options.ts).
 */
export interface InputContext {
  /** Number of input pipelines (support-server workers), ≥ 1. */
  numInputPipelines: number;
  /** This pipeline's index in `[0, numInputPipelines)`. */
  inputPipelineId: number;
}

/**
 * The user's input function (`export function inputFn` in data.ts), as Cerebras' `input_fn(params, mode)`:
 * returns a Dataset of batches `{ features, labels }` (a `[features, labels]` tuple is accepted too).
 * @param params  the effective params (snake_case sections as in params.yaml).
 * @param mode    'train' | 'eval' | 'infer'.
 * @param context which input pipeline this is (given by the support server; absent when called directly).
 */
export type InputFn = (
  params: Params,
  mode: Mode,
  context?: InputContext,
) => Dataset<Batch> | Promise<Dataset<Batch>>;

/** The params section an input mode reads: `train_input` for 'train', `eval_input` for 'eval' and 'infer'. */
export function inputSection(mode: Mode): 'train_input' | 'eval_input' {
  return mode === 'train' ? 'train_input' : 'eval_input';
}

/**
 * Resolves `<section>.data_dir` of params for a mode: relative paths resolve against `modelDir` (the
 * directory of the data.ts file).
 * @returns the absolute directory, or `undefined` if data_dir is not set.
 * @throws UserError naming the key, the given value and the resolved path if the directory does not exist.
 */
export function resolveDataDir(params: Params, mode: Mode, modelDir: string): string | undefined {
  const section = inputSection(mode);
  const given = params[section]?.data_dir;
  if (given === undefined || given === '') return undefined;
  const abs = path.resolve(modelDir, given);
  if (!fs.existsSync(abs) || !fs.statSync(abs).isDirectory())
    throw new UserError(
      `${section}.data_dir: directory '${given}' does not exist` + (abs !== given ? ` (resolved against the model directory to ${abs})` : ''),
    );
  return abs;
}
