import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UserError } from '../../runtime/errors.ts';
import { validateParams } from '../../runtime/params.ts';
import type { Batch, TensorData } from '../../runtime/batch.ts';
import { Dataset } from '../../host/data/dataset.ts';
import { ElasticDLMode, elasticDLInputFn, findRecordFiles } from '../../host/input/elasticdl.ts';
import { encodeExample, FixedLenFeature, parseSingleExample } from '../../host/data/readers/example.ts';
import { writeTFRecordFile } from '../../host/data/readers/tfrecord.ts';
import { loadMnist } from '../../host/data/readers/mnist.ts';
import { SupportServer } from '../../host/input/support-server.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'csrun-elasticdl-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** Writes `files` TFRecord files holding records 0..n-1 (x = [i, 2i], y = [i]) dealt out in blocks. */
async function writeRecords(dir: string, n: number, files: number): Promise<void> {
  fs.mkdirSync(dir, { recursive: true });
  for (let f = 0; f < files; f++) {
    const lo = Math.floor((f * n) / files);
    const hi = Math.floor(((f + 1) * n) / files);
    const recs = [];
    for (let i = lo; i < hi; i++) recs.push(encodeExample({ x: { floatList: [i, 2 * i] }, y: { int64List: [i] } }));
    await writeTFRecordFile(path.join(dir, `part-${f}.tfrecord`), recs);
  }
}

const datasetFn = (dataset: Dataset<Uint8Array>, mode: string) =>
  dataset.map((rec) => {
    const r = parseSingleExample(rec, { x: FixedLenFeature([2], 'float32'), y: FixedLenFeature([1], 'int64') });
    const features = { x: r.x as TensorData };
    return mode === ElasticDLMode.PREDICTION ? features : ([features, r.y as TensorData] as const);
  });

const params = (input: Record<string, unknown>) => validateParams({ train_input: input, eval_input: input, runconfig: { seed: 3 } }, 'test');
const ys = (batches: Batch[]) => batches.flatMap((b) => Array.from(b.labels!.data));

beforeAll(async () => {
  await writeRecords(path.join(tmp, 'four'), 40, 4);
  await writeRecords(path.join(tmp, 'one'), 10, 1);
  fs.writeFileSync(path.join(tmp, 'four', 'README.txt'), 'not a record file');
});

describe('ElasticDL dataset_fn adapter', () => {
  it('finds record files sorted, ignoring other files', () => {
    expect(findRecordFiles(path.join(tmp, 'four')).map((f) => path.basename(f))).toEqual(['part-0.tfrecord', 'part-1.tfrecord', 'part-2.tfrecord', 'part-3.tfrecord']);
    fs.mkdirSync(path.join(tmp, 'empty'), { recursive: true });
    expect(() => findRecordFiles(path.join(tmp, 'empty'))).toThrow(/empty: no TFRecord files/);
  });

  it('EVAL: batches (features, labels) pairs in file order, keeping the remainder', async () => {
    const fn = elasticDLInputFn(datasetFn);
    const batches = (await (await fn(params({ data_dir: path.join(tmp, 'four'), batch_size: 16 }), 'eval')).toArray()) as Batch[];
    expect(batches.map((b) => b.features.x.shape)).toEqual([
      [16, 2],
      [16, 2],
      [8, 2],
    ]);
    expect(ys(batches)).toEqual(Array.from({ length: 40 }, (_, i) => i));
    expect(batches[0].labels!.shape).toEqual([16, 1]);
    expect(Array.from(batches[0].features.x.data.subarray(2, 4))).toEqual([1, 2]);
  });

  it('shards whole files when there are enough, else every N-th record; together exactly once', async () => {
    const fn = elasticDLInputFn(datasetFn);
    for (const [dir, n] of [
      ['four', 40],
      ['one', 10],
    ] as const) {
      const all: number[] = [];
      for (let i = 0; i < 2; i++) {
        const ds = await fn(params({ data_dir: path.join(tmp, dir), batch_size: 4 }), 'eval', { numInputPipelines: 2, inputPipelineId: i });
        const got = ys((await ds.toArray()) as Batch[]);
        if (dir === 'four') expect(got).toEqual(i === 0 ? [...range(0, 10), ...range(20, 30)] : [...range(10, 20), ...range(30, 40)]);
        else expect(got.every((y) => y % 2 === i)).toBe(true);
        all.push(...got);
      }
      expect(all.sort((a, b) => a - b)).toEqual(range(0, n));
    }
  });

  it('TRAIN repeats and drops the remainder; PREDICT yields features only; num_examples', async () => {
    const fn = elasticDLInputFn(datasetFn);
    const train = await fn(params({ data_dir: path.join(tmp, 'one'), batch_size: 4 }), 'train');
    const tb = (await train.take(6).toArray()) as Batch[];
    expect(tb.every((b) => b.labels!.shape[0] === 4)).toBe(true);
    expect(ys(tb)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2, 3]);
    const pred = (await (await fn(params({ data_dir: path.join(tmp, 'one'), batch_size: 4 }), 'infer')).toArray()) as Batch[];
    expect(pred).toHaveLength(3);
    expect(pred[0].labels).toBeUndefined();
    const few = (await (await fn(params({ data_dir: path.join(tmp, 'four'), batch_size: 4, num_examples: 6 }), 'eval')).toArray()) as Batch[];
    expect(ys(few)).toEqual([0, 1, 2, 3, 4, 5]);
  });

  it('errors: unset data_dir, missing directory, a non-Dataset result, a bad element', async () => {
    const fn = elasticDLInputFn(datasetFn);
    await expect(fn(params({}), 'train')).rejects.toThrow(/train_input\.data_dir is not set; the ElasticDL dataset function reads TFRecord files from it/);
    await expect(fn(params({ data_dir: 'nope' }), 'eval')).rejects.toThrow(/eval_input\.data_dir: directory 'nope' does not exist/);
    const bad = elasticDLInputFn(() => 42 as unknown as Dataset<unknown>);
    await expect(bad(params({ data_dir: path.join(tmp, 'one') }), 'eval')).rejects.toThrow(/returned number 42, not a Dataset/);
    const scalar = elasticDLInputFn((ds) => ds.map(() => 5));
    await expect((await scalar(params({ data_dir: path.join(tmp, 'one') }), 'eval')).toArray()).rejects.toThrow(UserError);
    expect(() => elasticDLInputFn(undefined as never)).toThrow(/expected a dataset function/);
  });

  it('a module exporting only feed() is adapted by the support server', async () => {
    const server = await SupportServer.start({
      dataModule: path.join(root, 'test/fixtures/data-elasticdl-only/data.ts'),
      params: params({ data_dir: path.join(tmp, 'four'), batch_size: 5 }),
      mode: 'eval',
      numWorkers: 2,
    });
    const got: Batch[] = [];
    for await (const b of server) got.push(b);
    await server.close();
    expect(ys(got).sort((a, b) => a - b)).toEqual(range(0, 40));
  });

  it('examples/mnist_elasticdl: the real MNIST test set via TFRecord files of tf.Example', async () => {
    const server = await SupportServer.start({
      dataModule: path.join(root, 'examples/mnist_elasticdl/data.ts'),
      params: params({ batch_size: 500 }),
      mode: 'eval',
      numWorkers: 2,
    });
    const spec = await server.elementSpec();
    expect(spec).toEqual({ batchSize: 500, features: { image: { shape: [28, 28], dtype: 'float32' } }, labels: { shape: [1], dtype: 'int32' } });
    const hist = new Array(10).fill(0);
    let n = 0;
    for await (const b of server) {
      n += b.labels!.shape[0];
      for (const y of b.labels!.data) hist[y]++;
    }
    await server.close();
    expect(n).toBe(10000);
    const ref = new Array(10).fill(0);
    for (const y of loadMnist(undefined, 'test').labels.data) ref[y]++;
    expect(hist).toEqual(ref);
  });
});

function range(a: number, b: number): number[] {
  return Array.from({ length: b - a }, (_, i) => a + i);
}
