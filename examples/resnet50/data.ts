/**
 * Synthetic ImageNet-shaped input for ResNet-50: `num_examples` random images `[224, 224, 3]` (uniform in
 * [0, 1), `model.image_size` changes the side) with random labels in [0, `model.num_classes`), drawn from a
 * seeded generator (`runconfig.seed`; TRAIN and EVAL use different streams). Compiling only needs the
 * shapes; replace this file with a real ImageNet reader to train.
 *
 * Batches: features.image `[batch, H, W, 3]` float32; labels `[batch]` int32 (none in PREDICT). TRAIN
 * repeats forever.
 */
import { Dataset, Random, tensorData, type InputFn } from 'csrun';

export const inputFn: InputFn = (params, mode, context) => {
  const input = mode === 'train' ? params.train_input : params.eval_input;
  const side = (params.model.image_size as number | undefined) ?? 224;
  const classes = (params.model.num_classes as number | undefined) ?? 1000;
  const batchSize = input.batch_size ?? 32;
  const batches = Math.max(1, Math.floor((input.num_examples ?? 256) / batchSize));
  const seed = (params.runconfig.seed ?? 0) * 2 + (mode === 'train' ? 0 : 1);
  let ds = Dataset.range(batches);
  if (context) ds = ds.shard(context.numInputPipelines, context.inputPipelineId);
  let out = ds.map((b) => {
    const rng = new Random(seed * 100_003 + b);
    const image = new Float32Array(batchSize * side * side * 3);
    for (let i = 0; i < image.length; i++) image[i] = rng.nextFloat();
    const features = { image: tensorData(image, [batchSize, side, side, 3]) };
    if (mode === 'infer') return { features };
    const labels = new Int32Array(batchSize);
    for (let i = 0; i < batchSize; i++) labels[i] = rng.nextInt(classes);
    return { features, labels: tensorData(labels, [batchSize]) };
  });
  if (mode === 'train') out = out.repeat();
  return out.prefetch(input.prefetch_buffer_size ?? 2);
};
