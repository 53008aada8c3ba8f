/**
 * The ElasticDL conventions adapted onto csrun's: the model file (`model`, `loss`, `optimizer`,
 * `evalMetricsFn` → a modelFn) and, for input, `dataset_fn` → an {@link InputFn}. Both adapters are listed in
 * host/input/conventions.ts.
 *
 * ElasticDL (its model-contribution guide, "dataset_fn") has the framework read the
 * records and the model file transform them: `dataset_fn(dataset, mode)` (called `feed(dataset, mode,
 * metadata)` in later ElasticDL versions) receives a dataset of serialised records, parses them (typically
 * `tf.io.parse_single_example`), optionally shuffles, and returns a dataset of `(model_inputs, labels)`
 * pairs — `model_inputs` alone in PREDICTION mode. ElasticDL then batches by its minibatch size.
 *
 * Here the records come from the TFRecord files in `<train_input|eval_input>.data_dir` (ElasticDL's
 * `--training_data` / `--validation_data`; PREDICT reads `eval_input`), and the adapter batches by
 * `batch_size` and repeats in TRAIN, as ElasticDL's worker does. Elements may be `[features, labels]`,
 * `{ features, labels }` or a features dict alone.
 */
import fs from 'node:fs';
import path from 'node:path';
import { UserError } from '../../runtime/errors.ts';
import type { Mode } from '../../runtime/graph.ts';
import type { Params } from '../../runtime/params.ts';
import type { Batch } from '../../runtime/batch.ts';
import { Dataset } from '../data/dataset.ts';
import { inputSection, resolveDataDir, type InputFn } from '../data/input.ts';
import { TFRecordDataset, type CompressionType } from '../data/readers/tfrecord.ts';
import { describeValue } from '../data/tensor.ts';
import type { ModelFn } from '../../runtime/api/estimator.ts';
import type { MetricOp } from '../../runtime/api/metrics.ts';
import type { Optimizer } from '../../runtime/api/optimizers.ts';
import { Model } from '../../runtime/model.ts';
import type { SymbolicTensor } from '../../runtime/symbolic.ts';
import type { ModelFnAdapter } from '../user-module.ts';
import type { InputFnAdapter } from './common.ts';

/** ElasticDL's `Mode` constants (TRAINING, EVALUATION, PREDICTION) as csrun's mode strings. */
export const ElasticDLMode = { TRAINING: 'train', EVALUATION: 'eval', PREDICTION: 'infer' } as const satisfies Record<string, Mode>;

/** What the adapter tells a dataset function besides the mode (ElasticDL's `metadata`). */
export interface ElasticDLMetadata {
  /** The record files read, in order (all of them, before sharding). */
  files: string[];
  /** The effective params. */
  params: Params;
}

/**
 * An ElasticDL `dataset_fn` / `feed`: records (serialised tf.train.Example bytes) in, a dataset of
 * `[features, labels]` pairs (features alone in PREDICTION) out.
 */
export type DatasetFn = (dataset: Dataset<Uint8Array>, mode: Mode, metadata: ElasticDLMetadata) => Dataset<unknown> | Promise<Dataset<unknown>>;

/** Options of {@link elasticDLInputFn}. */
export interface ElasticDLInputOptions {
  /** Directory relative `data_dir` values resolve against (the model directory). Default: the working directory. */
  modelDir?: string;
  /** Record directory to use when `data_dir` is not set (e.g. a prepared cache); else an unset data_dir is an error. */
  defaultDataDir?: (mode: Mode) => string | Promise<string>;
  /** Compression of the record files (default: GZIP for `*.gz` names). */
  compressionType?: CompressionType;
  /** Batch size when `batch_size` is not set in params (default 64). */
  defaultBatchSize?: number;
}

const RECORD_FILE = /\.(tfrecords?|records?)(\.gz)?$/;

/**
 * The TFRecord files of a directory (`*.tfrecord`, `*.tfrecords`, `*.record`, optionally `.gz`), sorted by name.
 * @throws UserError naming the directory if it is missing or holds no record file.
 */
export function findRecordFiles(dir: string): string[] {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch (e: any) {
    throw new UserError(`${dir}: cannot list the record directory (${e.code ?? e.message})`);
  }
  const files = names
    .filter((n) => RECORD_FILE.test(n) && !n.startsWith('.'))
    .sort()
    .map((n) => path.join(dir, n));
  if (files.length === 0) throw new UserError(`${dir}: no TFRecord files (*.tfrecord, *.tfrecords, *.record, optionally .gz)`);
  return files;
}

/** Normalises a dataset_fn element to `{ features, labels? }` (see the module doc). */
function toFeaturesLabels(x: unknown): Batch | { features: unknown; labels?: unknown } {
  if (Array.isArray(x)) {
    if (x.length === 0 || x.length > 2) throw new UserError(`ElasticDL dataset_fn: elements must be (features, labels) pairs (got a tuple of ${x.length})`);
    return x.length === 2 ? { features: x[0], labels: x[1] } : { features: x[0] };
  }
  if (typeof x === 'object' && x !== null && !ArrayBuffer.isView(x)) {
    if ('features' in x) return x as { features: unknown; labels?: unknown };
    if (!('data' in x)) return { features: x };
  }
  throw new UserError(`ElasticDL dataset_fn: elements must be (features, labels) pairs or a features dict (got ${describeValue(x)})`);
}

/**
 * Adapts an ElasticDL dataset function onto csrun's inputFn contract:
 * records of the data_dir's TFRecord files → shard for this input pipeline (whole files when there are at
 * least as many files as pipelines, as tf.data's AutoShardPolicy.FILE; else every N-th record) →
 * `datasetFn(records, mode, metadata)` → TRAIN: repeat → batch(`batch_size`, dropRemainder
 * `drop_last_batch`, default true in TRAIN) → prefetch. `num_examples` keeps the first n records.
 * @throws UserError (when the inputFn runs) naming the key or directory if data_dir is unset (and no
 *   default) or holds no records, and if datasetFn does not return a Dataset.
 */
export function elasticDLInputFn(datasetFn: DatasetFn, options: ElasticDLInputOptions = {}): InputFn {
  if (typeof datasetFn !== 'function') throw new UserError(`elasticDLInputFn: expected a dataset function (got ${describeValue(datasetFn)})`);
  return async (params, mode, context) => {
    const section = inputSection(mode);
    const input = params[section] ?? {};
    let dir = resolveDataDir(params, mode, options.modelDir ?? process.cwd());
    if (dir === undefined) {
      if (!options.defaultDataDir) throw new UserError(`${section}.data_dir is not set; the ElasticDL dataset function reads TFRecord files from it`);
      dir = await options.defaultDataDir(mode);
    }
    const files = findRecordFiles(dir);
    const n = context?.numInputPipelines ?? 1;
    const i = context?.inputPipelineId ?? 0;
    const read = (f: Dataset<string>) => TFRecordDataset(f, { compressionType: options.compressionType });
    let records: Dataset<Uint8Array>;
    if (input.num_examples !== undefined) {
      records = read(Dataset.fromTensorSlices(files)).take(input.num_examples);
      if (n > 1) records = records.shard(n, i);
    } else if (n > 1 && files.length >= n) records = read(Dataset.fromTensorSlices(files).shard(n, i));
    else {
      records = read(Dataset.fromTensorSlices(files));
      if (n > 1) records = records.shard(n, i);
    }
    const ds = await datasetFn(records, mode, { files, params });
    if (!(ds instanceof Dataset) && !(ds && typeof (ds as Dataset<unknown>).iterator === 'function'))
      throw new UserError(`ElasticDL dataset function returned ${describeValue(ds)}, not a Dataset`);
    let out = (ds as Dataset<unknown>).map(toFeaturesLabels);
    if (mode === 'train') out = out.repeat();
    const batchSize = input.batch_size ?? options.defaultBatchSize ?? 64;
    return out.batch(batchSize, { dropRemainder: input.drop_last_batch ?? mode === 'train' }).prefetch(input.prefetch_buffer_size ?? 2) as Dataset<Batch>;
  };
}

/** The ElasticDL model-file exports (ElasticDL's model zoo convention). */
export interface ElasticDLModule {
  model: Model;
  /** `loss(labels, predictions)` → scalar loss (made with `losses.*`). */
  loss: (labels: SymbolicTensor, predictions: SymbolicTensor) => SymbolicTensor;
  /** `optimizer()` → an Optimizer (e.g. `optimizers.adam({ learningRate: 0.001 })`). */
  optimizer: () => Optimizer;
  /** `evalMetricsFn()` → `{ name: (labels, predictions) => metrics.* }`. */
  evalMetricsFn?: () => Record<string, (labels: SymbolicTensor, predictions: SymbolicTensor) => MetricOp>;
  /** The seed's snake_case spelling of {@link evalMetricsFn} (an alias; exporting both is an error). */
  eval_metrics_fn?: () => Record<string, (labels: SymbolicTensor, predictions: SymbolicTensor) => MetricOp>;
}

/**
 * Adapts an ElasticDL model file onto the modelFn contract: the model's output is the prediction
 * `output`; `loss(labels, output)` is the loss; `optimizer().minimize(loss)` the train op;
 * `evalMetricsFn()` (or the seed's `eval_metrics_fn()`) the eval metrics. A single feature is passed to the model as a tensor, several as a dict.
 * @throws UserError when `loss` or `optimizer` is missing.
 */
export function adaptElasticDL(mod: Partial<ElasticDLModule>, file: string): ModelFn {
  for (const k of ['loss', 'optimizer'] as const) {
    if (typeof mod[k] !== 'function') throw new UserError(`${file}: an ElasticDL model file must export a '${k}' function`);
  }
  const m = mod as ElasticDLModule;
  if (m.evalMetricsFn && m.eval_metrics_fn) throw new UserError(`${file}: exports both 'evalMetricsFn' and 'eval_metrics_fn' (one name for the eval metrics function)`);
  const evalMetricsFn = m.evalMetricsFn ?? m.eval_metrics_fn;
  return (features, labels, mode) => {
    const keys = Object.keys(features);
    const output = m.model.apply(keys.length === 1 ? features[keys[0]] : features);
    if (mode === 'infer') return { mode, predictions: { output } };
    if (!labels) throw new UserError(`${file}: the input pipeline yields no labels in mode '${mode}'`);
    const loss = m.loss(labels, output);
    const evalMetricOps: Record<string, MetricOp> = {};
    for (const [k, f] of Object.entries(evalMetricsFn?.() ?? {})) evalMetricOps[k] = f(labels, output);
    return { mode, loss, evalMetricOps, ...(mode === 'train' ? { trainOp: m.optimizer().minimize(loss) } : {}) };
  };
}

/** The ElasticDL model-file convention (an exported `model`), for host/input/conventions.ts. */
export const elasticDLModelAdapter: ModelFnAdapter = {
  convention: 'elasticdl',
  describe: "an ElasticDL 'model'",
  matches: (mod) => mod.model instanceof Model,
  adapt: (mod, file) => adaptElasticDL(mod as Partial<ElasticDLModule>, file),
};

/** The ElasticDL data-module convention (`datasetFn` / `dataset_fn` / `feed`), for host/input/conventions.ts. */
export const elasticDLInputAdapter: InputFnAdapter = {
  name: 'ElasticDL',
  exports: ['datasetFn', 'dataset_fn', 'feed'],
  adapt: (fn, file) => elasticDLInputFn(fn as DatasetFn, { modelDir: path.dirname(file) }),
};
