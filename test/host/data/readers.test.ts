import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import type { TensorData } from '../../../runtime/batch.ts';
import { UserError } from '../../../runtime/errors.ts';
import { Dataset } from '../../../host/data/dataset.ts';
import { resolveDataDir } from '../../../host/data/input.ts';
import { decodeIdx, encodeIdxUint8, readIdx } from '../../../host/data/readers/idx.ts';
import { MNIST_DATA_DIR, loadMnist, writeMnistTFRecords } from '../../../host/data/readers/mnist.ts';
import {
  TFRecordDataset,
  TFRecordWriter,
  crc32c,
  decodeRecords,
  encodeRecord,
  maskedCrc32c,
  readTFRecords,
  writeTFRecordFile,
} from '../../../host/data/readers/tfrecord.ts';
import { FixedLenFeature, decodeExample, decodeRaw, encodeExample, parseSingleExample } from '../../../host/data/readers/example.ts';
import { CsvDataset, readCsv } from '../../../host/data/readers/csv.ts';
import { validateParams } from '../../../runtime/params.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'csrun-readers-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const tmpFile = (name: string) => path.join(tmp, name);
const collect = async <T>(it: AsyncIterable<T>) => {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
};

describe('MNIST IDX', () => {
  it('reads the real training set: headers, counts, first label 5', () => {
    const img = readIdx(path.join(MNIST_DATA_DIR, 'train-images-idx3-ubyte'));
    expect(img.magic).toBe(2051);
    expect(img.type).toBe('ubyte');
    expect(img.tensor.shape).toEqual([60000, 28, 28]);
    const lab = readIdx(path.join(MNIST_DATA_DIR, 'train-labels-idx1-ubyte'));
    expect(lab.magic).toBe(2049);
    expect(lab.tensor.shape).toEqual([60000]);
    const train = loadMnist(MNIST_DATA_DIR, 'train');
    expect(train.labels.dtype).toBe('int32');
    expect(Array.from(train.labels.data.subarray(0, 8))).toEqual([5, 0, 4, 1, 9, 2, 1, 3]);
    // Known content: the first training image (a 5) has 166 non-zero pixels, max 255, and its
    // top-left and bottom-right corners are blank.
    const first = Array.from(train.images.data.subarray(0, 784));
    expect(first.reduce((a, v) => a + (v > 0 ? 1 : 0), 0)).toBe(166);
    expect(Math.max(...first)).toBe(255);
    expect(first[0]).toBe(0);
    expect(first[783]).toBe(0);
    const test = loadMnist(MNIST_DATA_DIR, 'test');
    expect(test.images.shape).toEqual([10000, 28, 28]);
    expect(Array.from(test.labels.data.subarray(0, 5))).toEqual([7, 2, 1, 0, 4]);
    const hist = new Array(10).fill(0);
    for (const l of train.labels.data) hist[l]++;
    expect(hist).toEqual([5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]);
  });

  it('reads gzipped files, the ".idx" spelling, and numExamples', () => {
    const dir = tmpFile('gz');
    fs.mkdirSync(dir);
    const t = loadMnist(MNIST_DATA_DIR, 'test', { numExamples: 50 });
    fs.writeFileSync(path.join(dir, 't10k-images.idx3-ubyte.gz'), zlib.gzipSync(encodeIdxUint8(t.images)));
    const labels = encodeIdxUint8({ data: Uint8Array.from(t.labels.data), shape: [50], dtype: 'uint8' });
    fs.writeFileSync(path.join(dir, 't10k-labels-idx1-ubyte.gz'), zlib.gzipSync(labels));
    const back = loadMnist(dir, 'test');
    expect(back.images.shape).toEqual([50, 28, 28]);
    expect(back.images.data).toEqual(t.images.data);
    expect(back.labels.data).toEqual(t.labels.data);
    expect(loadMnist(dir, 'test', { numExamples: 7 }).labels.shape).toEqual([7]);
  });

  it('decodes the other IDX types big-endian', () => {
    const bytes = Uint8Array.from([0, 0, 0x0b, 1, 0, 0, 0, 2, 0xff, 0xfe, 0x01, 0x00]);
    expect(decodeIdx(bytes, 'short.idx').tensor).toEqual({ data: Int32Array.of(-2, 256), shape: [2], dtype: 'int32' });
    const f = new Uint8Array(4 + 4 + 4);
    f.set([0, 0, 0x0d, 1, 0, 0, 0, 1]);
    new DataView(f.buffer).setFloat32(8, 1.5, false);
    expect(decodeIdx(f, 'float.idx').tensor).toEqual({ data: Float32Array.of(1.5), shape: [1], dtype: 'float32' });
  });

  it('truncated files, wrong magic, bad dimensions and missing directories are errors naming the file', () => {
    const t = loadMnist(MNIST_DATA_DIR, 'test', { numExamples: 10 });
    const img = encodeIdxUint8(t.images);
    expect(() => decodeIdx(img.subarray(0, 100), 'x/t10k-images')).toThrow(/x\/t10k-images: truncated IDX file: header declares \[10, 28, 28\] ubyte values \(7856 bytes in all\) but the file has 100 bytes/);
    expect(() => decodeIdx(img.subarray(0, 10), 'h')).toThrow(/h: truncated IDX file: the header declares 3 dimensions/);
    expect(() => decodeIdx(Uint8Array.from([0x1f, 0x8b, 8, 0, 1, 2]), 'y')).toThrow(/y: not an IDX file: magic number/);
    expect(() => decodeIdx(new Uint8Array(2), 'z')).toThrow(/shorter than the 4-byte magic/);
    const extra = new Uint8Array(img.length + 3);
    extra.set(img);
    expect(() => decodeIdx(extra, 'e')).toThrow(/e: malformed IDX file: 3 bytes after/);

    const dir = tmpFile('bad-mnist');
    fs.mkdirSync(dir);
    const lab = encodeIdxUint8({ data: Uint8Array.from(t.labels.data), shape: [10], dtype: 'uint8' });
    fs.writeFileSync(path.join(dir, 't10k-images-idx3-ubyte'), lab);
    fs.writeFileSync(path.join(dir, 't10k-labels-idx1-ubyte'), lab);
    expect(() => loadMnist(dir, 'test')).toThrow(/t10k-images-idx3-ubyte: wrong magic number 2049 for MNIST images \(expected 2051/);
    fs.writeFileSync(path.join(dir, 't10k-images-idx3-ubyte'), encodeIdxUint8({ data: new Uint8Array(10 * 27 * 28), shape: [10, 27, 28], dtype: 'uint8' }));
    expect(() => loadMnist(dir, 'test')).toThrow(/must be 28 × 28 \(header says 27 × 28\)/);
    fs.writeFileSync(path.join(dir, 't10k-images-idx3-ubyte'), encodeIdxUint8({ data: new Uint8Array(9 * 784), shape: [9, 28, 28], dtype: 'uint8' }));
    expect(() => loadMnist(dir, 'test')).toThrow(/10 labels for the 9 images/);
    fs.writeFileSync(path.join(dir, 't10k-images-idx3-ubyte.gz'), Buffer.from('not gzip'));
    expect(() => loadMnist(path.join(dir, 'nope'), 'test')).toThrow(/nope: MNIST data directory does not exist/);
    expect(() => loadMnist(tmp, 'train')).toThrow(/no MNIST images file/);
    fs.writeFileSync(tmpFile('corrupt.gz'), Buffer.concat([zlib.gzipSync(img).subarray(0, 40)]));
    expect(() => readIdx(tmpFile('corrupt.gz'))).toThrow(/corrupt.gz: corrupt or truncated gzip data/);
  });

  it('resolveDataDir resolves against the model directory and names the key when missing', () => {
    const p = validateParams({ train_input: { data_dir: 'data' }, eval_input: { data_dir: tmp } }, 'p');
    fs.mkdirSync(tmpFile('model/data'), { recursive: true });
    expect(resolveDataDir(p, 'train', tmpFile('model'))).toBe(tmpFile('model/data'));
    expect(resolveDataDir(p, 'infer', '/elsewhere')).toBe(tmp);
    expect(resolveDataDir(validateParams({}, 'p'), 'eval', tmp)).toBeUndefined();
    expect(() => resolveDataDir(p, 'train', tmp)).toThrow(/train_input\.data_dir: directory 'data' does not exist \(resolved against the model directory to .*\/data\)/);
  });
});

describe('TFRecord framing', () => {
  it('CRC-32C and TensorFlow masking match known values', () => {
    // Castagnoli check value (RFC 3720 B.4): crc32c("123456789") = 0xE3069283.
    expect(crc32c(new TextEncoder().encode('123456789'))).toBe(0xe3069283);
    const c = 0xe3069283;
    expect(maskedCrc32c(new TextEncoder().encode('123456789'))).toBe(((((c >>> 15) | (c << 17)) >>> 0) + 0xa282ead8) >>> 0);
    // A framed empty record: length 0, masked crc of 8 zero bytes, masked crc of nothing.
    const r = encodeRecord(new Uint8Array(0));
    expect(r.length).toBe(16);
    const v = new DataView(r.buffer);
    expect(v.getUint32(8, true)).toBe(maskedCrc32c(new Uint8Array(8)));
    expect(v.getUint32(12, true)).toBe(maskedCrc32c(new Uint8Array(0)));
    // masked crc32c of nothing: crc 0 → mask → 0xa282ead8.
    expect(maskedCrc32c(new Uint8Array(0))).toBe(0xa282ead8);
  });

  it('round-trips records through a file, uncompressed, GZIP and ZLIB', async () => {
    const recs = Array.from({ length: 300 }, (_, i) => Uint8Array.from({ length: (i * 37) % 5000 }, (_, j) => (i + j) & 255));
    for (const [name, ct] of [
      ['plain.tfrecord', undefined],
      ['auto.tfrecord.gz', undefined],
      ['z.tfrecord', 'ZLIB'],
    ] as const) {
      const f = tmpFile(name);
      expect(await writeTFRecordFile(f, recs, { compressionType: ct })).toBe(300);
      const back = await collect(readTFRecords(f, { compressionType: ct, bufferSize: 4096 }));
      expect(back.map((r) => r.length)).toEqual(recs.map((r) => r.length));
      expect(back.every((r) => r.constructor === Uint8Array && r.byteOffset === 0)).toBe(true); // owned copies
      expect(Buffer.compare(Buffer.concat(back), Buffer.concat(recs))).toBe(0);
    }
    const raw = fs.readFileSync(tmpFile('plain.tfrecord'));
    expect(raw.length).toBe(recs.reduce((a, r) => a + r.length + 16, 0));
    expect(Buffer.compare(Buffer.concat(Array.from(decodeRecords(raw))), Buffer.concat(recs))).toBe(0);
    expect(zlib.gunzipSync(fs.readFileSync(tmpFile('auto.tfrecord.gz')))).toEqual(raw);
  });

  it('TFRecordDataset reads files in order and supports sharded file lists', async () => {
    const a = tmpFile('a.tfrecord');
    const b = tmpFile('b.tfrecord');
    await writeTFRecordFile(a, [Uint8Array.of(1), Uint8Array.of(2)]);
    const w = new TFRecordWriter(b);
    w.write(Uint8Array.of(3));
    await w.close();
    expect(() => w.write(Uint8Array.of(4))).toThrow(UserError);
    expect((await TFRecordDataset([a, b]).toArray()).map((r) => r[0])).toEqual([1, 2, 3]);
    expect((await TFRecordDataset(Dataset.fromTensorSlices([a, b]).shard(2, 1)).toArray()).map((r) => r[0])).toEqual([3]);
  });

  it('a bad CRC, a truncated record and a missing file are errors naming the file and record', async () => {
    const f = tmpFile('crc.tfrecord');
    await writeTFRecordFile(f, [Uint8Array.of(1, 2, 3), Uint8Array.of(4, 5, 6), Uint8Array.of(7, 8, 9)]);
    const good = fs.readFileSync(f);
    const bad = Buffer.from(good);
    bad[19 + 12 + 1] ^= 1; // record 1's data (record 0 is 19 bytes)
    fs.writeFileSync(f, bad);
    await expect(collect(readTFRecords(f))).rejects.toThrow(/crc\.tfrecord: record 1 \(byte offset 19\): corrupted TFRecord: data CRC32C mismatch/);
    expect((await collect(readTFRecords(f, { verify: false }))).length).toBe(3);
    const badLen = Buffer.from(good);
    badLen[0] ^= 1;
    fs.writeFileSync(f, badLen);
    await expect(collect(readTFRecords(f))).rejects.toThrow(/record 0 \(byte offset 0\): corrupted TFRecord: length CRC32C mismatch/);
    fs.writeFileSync(f, good.subarray(0, good.length - 2));
    await expect(collect(readTFRecords(f))).rejects.toThrow(/crc\.tfrecord: truncated TFRecord: record 2 at byte offset 38/);
    expect(() => Array.from(decodeRecords(good.subarray(0, 25), 'mem'))).toThrow(/mem: truncated TFRecord: record 1/);
    await expect(collect(readTFRecords(tmpFile('missing.tfrecord')))).rejects.toThrow(/missing\.tfrecord: cannot open TFRecord file \(ENOENT\)/);
    fs.writeFileSync(tmpFile('bad.tfrecord.gz'), Buffer.from('definitely not gzip'));
    await expect(collect(readTFRecords(tmpFile('bad.tfrecord.gz')))).rejects.toThrow(/bad\.tfrecord\.gz \(GZIP-decompressed\): cannot read TFRecord file/);
    const w = new TFRecordWriter(tmpFile('no/such/dir/x.tfrecord'));
    w.write(Uint8Array.of(1));
    await expect(w.close()).rejects.toThrow(/x\.tfrecord: cannot write TFRecord file \(ENOENT\)/);
  });
});

describe('tf.train.Example', () => {
  it('encodes and decodes every list type, including negative and large int64', () => {
    const feats = {
      image: { floatList: Float32Array.of(0.5, -1.25, 3e-8) },
      label: { int64List: [7, -1, 2 ** 40, -(2 ** 40), 0] },
      name: { bytesList: [new TextEncoder().encode('seven'), new Uint8Array(0)] },
      empty: { floatList: [] as number[] },
    };
    const ex = decodeExample(encodeExample(feats));
    expect(ex.image).toEqual({ floatList: Float32Array.of(0.5, -1.25, 3e-8) });
    expect(ex.label).toEqual({ int64List: [7, -1, 2 ** 40, -(2 ** 40), 0] });
    expect(ex.name).toEqual({ bytesList: [new TextEncoder().encode('seven'), new Uint8Array(0)] });
    expect(ex.empty).toEqual({ floatList: new Float32Array(0) });
  });

  it('decodes bytes produced by TensorFlow (SerializeToString of a known Example)', () => {
    // The wire bytes of tf.train.Example(features=Features(feature={'x': Feature(int64_list=Int64List(value=[1, 300]))})):
    // Example.features(1) { Features.feature(1) entry { key(1) "x", value(2) Feature.int64_list(3) { packed value(1): 01 ac02 } } }
    const bytes = Uint8Array.from([0x0a, 0x0e, 0x0a, 0x0c, 0x0a, 0x01, 0x78, 0x12, 0x07, 0x1a, 0x05, 0x0a, 0x03, 0x01, 0xac, 0x02]);
    expect(decodeExample(bytes)).toEqual({ x: { int64List: [1, 300] } });
    // Unpacked repeated floats (wire type 5) are accepted too.
    const unpacked = Uint8Array.from([0x0a, 0x13, 0x0a, 0x11, 0x0a, 0x01, 0x66, 0x12, 0x0c, 0x12, 0x0a, 0x0d, 0, 0, 0x80, 0x3f, 0x0d, 0, 0, 0, 0x40]);
    expect(decodeExample(unpacked)).toEqual({ f: { floatList: Float32Array.of(1, 2) } });
    expect(encodeExample({ x: { int64List: [1, 300] } })).toEqual(bytes);
  });

  it('parseSingleExample with FixedLenFeature specs, defaults and errors', () => {
    const rec = encodeExample({ image: { floatList: new Float32Array(6).fill(0.5) }, label: { int64List: [3] }, raw: { bytesList: [Uint8Array.of(1, 2)] } });
    const r = parseSingleExample(rec, {
      image: FixedLenFeature([2, 3], 'float32'),
      label: FixedLenFeature([1], 'int64'),
      raw: FixedLenFeature([], 'string'),
      weight: FixedLenFeature([], 'float32', 1),
    });
    expect(r.image).toEqual({ data: new Float32Array(6).fill(0.5), shape: [2, 3], dtype: 'float32' });
    expect(r.label).toEqual({ data: Int32Array.of(3), shape: [1], dtype: 'int32' });
    expect(r.raw).toEqual(Uint8Array.of(1, 2));
    expect(r.weight).toEqual({ data: Float32Array.of(1), shape: [], dtype: 'float32' });
    expect(() => parseSingleExample(rec, { image: FixedLenFeature([28, 28], 'float32') })).toThrow(/feature 'image' has 6 values but FixedLenFeature\(\[28, 28\]\) needs 784/);
    expect(() => parseSingleExample(rec, { label: FixedLenFeature([1], 'float32') })).toThrow(/feature 'label' is stored as a int64_list but its FixedLenFeature has dtype float32/);
    expect(() => parseSingleExample(rec, { nope: FixedLenFeature([1], 'int64') })).toThrow(/feature 'nope' is missing from the example and its FixedLenFeature has no defaultValue/);
    const big = encodeExample({ v: { int64List: [2 ** 33] } });
    expect(() => parseSingleExample(big, { v: FixedLenFeature([], 'int64') })).toThrow(/does not fit in int32/);
    expect(() => decodeExample(rec.subarray(0, rec.length - 3))).toThrow(/malformed tf\.Example protobuf/);
    expect(() => FixedLenFeature([1.5], 'float32')).toThrow(UserError);
  });

  it('decodeRaw reinterprets bytes', () => {
    expect(decodeRaw(Uint8Array.of(1, 2), 'uint8').data).toEqual(Uint8Array.of(1, 2));
    expect(decodeRaw(Uint8Array.of(1, 0, 0, 0, 0, 0, 0x80, 0x3f), 'int32').data).toEqual(Int32Array.of(1, 0x3f800000));
    expect(decodeRaw(Uint8Array.of(0, 0, 0x80, 0x3f), 'float32').data).toEqual(Float32Array.of(1));
    expect(() => decodeRaw(Uint8Array.of(1, 2, 3), 'float32')).toThrow(/not a multiple of 4/);
  });

  it('MNIST as TFRecord files of tf.Example round-trips to the IDX content', async () => {
    const dir = tmpFile('mnist-tfr');
    const files = await writeMnistTFRecords(dir, 'test', { numShards: 3, numExamples: 30 });
    expect(files.map((f) => path.basename(f))).toEqual(['test-00000-of-00003.tfrecord.gz', 'test-00001-of-00003.tfrecord.gz', 'test-00002-of-00003.tfrecord.gz']);
    const t = loadMnist(MNIST_DATA_DIR, 'test', { numExamples: 30 });
    const recs = await TFRecordDataset(files).toArray();
    expect(recs).toHaveLength(30);
    recs.forEach((rec, i) => {
      const r = parseSingleExample(rec, { image: FixedLenFeature([], 'string'), label: FixedLenFeature([1], 'int64') });
      expect(r.image).toEqual(t.images.data.slice(i * 784, (i + 1) * 784));
      expect((r.label as TensorData).data[0]).toBe(t.labels.data[i]);
    });
  });
});

describe('CSV', () => {
  const csv = tmpFile('iris.csv');
  fs.writeFileSync(
    csv,
    ['sepal_length,sepal_width,species,label', '5.1,3.5,"setosa, I.",0', '7.0,3.2,versicolor,1', '6.3,,virginica,2', ''].join('\n'),
  );

  it('streams typed rows and batches them', async () => {
    const ds = CsvDataset(csv, { columnTypes: { species: 'string', label: 'int32' }, columnDefaults: { sepal_width: 3.0 } });
    const rows = await ds.toArray();
    expect(rows).toHaveLength(3);
    expect(rows[0]).toEqual({ sepal_length: 5.1, sepal_width: 3.5, species: 'setosa, I.', label: { data: Int32Array.of(0), shape: [], dtype: 'int32' } });
    expect(rows[2].sepal_width).toBe(3);
    const [b] = await ds.batch(3).toArray();
    expect(b.label).toEqual({ data: Int32Array.of(0, 1, 2), shape: [3], dtype: 'int32' });
    expect((b.sepal_length as TensorData).dtype).toBe('float32');
    expect(b.species).toEqual(['setosa, I.', 'versicolor', 'virginica']);
  });

  it('selects columns, reads columnar, handles files without header', async () => {
    const cols = await readCsv(csv, { selectColumns: ['label', 'sepal_length'], columnTypes: { species: 'string', label: 'int32' } });
    expect(Object.keys(cols)).toEqual(['label', 'sepal_length']);
    expect(cols.label).toEqual({ data: Int32Array.of(0, 1, 2), shape: [3], dtype: 'int32' });
    expect((cols.sepal_length as TensorData).data).toEqual(Float32Array.of(5.1, 7.0, 6.3));
    const nh = tmpFile('nh.csv');
    fs.writeFileSync(nh, '1;2\n3;4\n');
    const rows = await CsvDataset(nh, { header: false, columnNames: ['a', 'b'], delimiter: ';' }).toArray();
    expect(rows).toEqual([
      { a: 1, b: 2 },
      { a: 3, b: 4 },
    ]);
  });

  it('errors name the file and line', async () => {
    await expect(CsvDataset(csv).toArray()).rejects.toThrow(/iris\.csv:2: column 'species' value 'setosa, I\.' is not a number/);
    await expect(CsvDataset(csv, { columnTypes: { species: 'string' } }).toArray()).rejects.toThrow(/iris\.csv:4: column 'sepal_width' is empty and has no entry in columnDefaults/);
    await expect(CsvDataset(csv, { selectColumns: ['petal'] }).toArray()).rejects.toThrow(/selected column 'petal' does not exist/);
    const ragged = tmpFile('ragged.csv');
    fs.writeFileSync(ragged, 'a,b\n1,2\n3\n');
    await expect(CsvDataset(ragged).toArray()).rejects.toThrow(/ragged\.csv:3: cannot parse CSV \(Invalid Record Length: expect 2, got 1/);
    await expect(CsvDataset(tmpFile('none.csv')).toArray()).rejects.toThrow(/none\.csv: cannot open CSV file \(ENOENT\)/);
    const ints = tmpFile('ints.csv');
    fs.writeFileSync(ints, 'x\n1.5\n');
    await expect(CsvDataset(ints, { columnTypes: { x: 'int32' } }).toArray()).rejects.toThrow(/ints\.csv:2: column 'x' value '1\.5' is not an int32/);
  });
});
