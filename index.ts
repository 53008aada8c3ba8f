/**
 * The public API of csrun: what model.ts and data.ts import `from 'csrun'`.
 */
export * as layers from './runtime/layers/index.ts';
export * as ops from './runtime/api/ops.ts';
export * as losses from './runtime/api/losses.ts';
export * as metrics from './runtime/api/metrics.ts';
export * as optimizers from './runtime/api/optimizers.ts';
export * as regularizers from './runtime/api/regularizers.ts';
export * as initializers from './runtime/api/initializers.ts';
export { Model, Sequential, model, sequential, type ModelInputs, type ModelArgs } from './runtime/model.ts';
export { ModeKeys, traceModelFn, type EstimatorSpec, type ModelFn, type Features, type InputSignature, type TensorSignature } from './runtime/api/estimator.ts';
export type { MetricOp } from './runtime/api/metrics.ts';
export type { InitializerArg } from './runtime/layers/base.ts';
export type { TrainOp, Optimizer } from './runtime/api/optimizers.ts';
export { SymbolicTensor } from './runtime/symbolic.ts';
export * from './runtime/graph.ts';
export { UserError } from './runtime/errors.ts';
export { loadParams, validateParams, type Params, type RunConfig, type InputParams, type OptimizerParams } from './runtime/params.ts';
export type { TensorData, TensorDType, TypedArray, Batch } from './runtime/batch.ts';
export { Random } from './runtime/random.ts';
export type { SessionRunHook, Session, RunContext, RunValues } from './host/hooks/session.ts';
export { EarlyStoppingHook, type EarlyStoppingOptions, type MetricMode } from './host/hooks/early-stopping.ts';
export { Dataset } from './host/data/dataset.ts';
export { tensorData, isTensorData } from './host/data/tensor.ts';
export { setRandomSeed } from './host/data/seed.ts';
export { resolveDataDir, type InputContext, type InputFn } from './host/data/input.ts';
export type { DatasetOptions } from './host/data/options.ts';
export type { Batched, Sliced } from './host/data/structure.ts';
export { readIdx, decodeIdx } from './host/data/readers/idx.ts';
export { loadMnist, MNIST_DATA_DIR, writeMnistTFRecords, mnistTFRecordDir, type MnistData, type MnistSplit } from './host/data/readers/mnist.ts';
export { TFRecordDataset, TFRecordWriter, readTFRecords, writeTFRecordFile, encodeRecord, decodeRecords, maskedCrc32c, crc32c, type CompressionType } from './host/data/readers/tfrecord.ts';
export { encodeExample, decodeExample, parseSingleExample, FixedLenFeature, decodeRaw, type Feature, type ExampleFeatures, type FixedLenFeatureSpec } from './host/data/readers/example.ts';
export { CsvDataset, readCsv, readCsvRows, type CsvOptions, type CsvRow } from './host/data/readers/csv.ts';
export { elasticDLInputFn, ElasticDLMode, findRecordFiles, type DatasetFn, type ElasticDLMetadata } from './host/input/elasticdl.ts';
