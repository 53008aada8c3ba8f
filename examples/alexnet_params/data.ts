/**
 * Synthetic input for the params-driven AlexNet: `num_examples` random images of
 * `model.image_height × model.image_width × model.image_depth` (300 × 200 × 3, uniform in [0, 1)) with random
 * labels in [0, `model.num_classes`) (50), from a seeded generator (`runconfig.seed`; TRAIN and EVAL use
 * different streams). Enough to compile and exercise the pipeline; replace it with a real reader to train.
 *
 * Batches: features.image `[batch, H, W, D]` float32; labels `[batch]` int32 (none in PREDICT). TRAIN repeats
 * forever.
 */
import { Dataset, Random, tensorData, type InputFn } from 'csrun';

export const inputFn: InputFn = (params, mode, context) => {
  const input = mode === 'train' ? params.train_input : params.eval_input;
  const H = (params.model.image_height as number | undefined) ?? 300;
  const W = (params.model.image_width as number | undefined) ?? 200;
  const D = (params.model.image_depth as number | undefined) ?? 3;
  const classes = (params.model.num_classes as number | undefined) ?? 50;
  const batchSize = input.batch_size ?? 32;
  const batches = Math.max(1, Math.floor((input.num_examples ?? 256) / batchSize));
  const seed = (params.runconfig.seed ?? 0) * 2 + (mode === 'train' ? 0 : 1);
  let ds = Dataset.range(batches);
  if (context) ds = ds.shard(context.numInputPipelines, context.inputPipelineId);
  let out = ds.map((b) => {
    const rng = new Random(seed * 100_003 + b);
    const image = new Float32Array(batchSize * H * W * D);
    for (let i = 0; i < image.length; i++) image[i] = rng.nextFloat();
    const features = { image: tensorData(image, [batchSize, H, W, D]) };
    if (mode === 'infer') return { features };
    const labels = new Int32Array(batchSize);
    for (let i = 0; i < batchSize; i++) labels[i] = rng.nextInt(classes);
    return { features, labels: tensorData(labels, [batchSize]) };
  });
  if (mode === 'train') out = out.repeat();
  return out.prefetch(input.prefetch_buffer_size ?? 2);
};
