import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import v8 from 'node:v8';
import vm from 'node:vm';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { UserError } from '../../runtime/errors.ts';
import { validateParams, type Params } from '../../runtime/params.ts';
import type { Mode } from '../../runtime/graph.ts';
import type { Batch } from '../../runtime/batch.ts';
import { loadMnist } from '../../host/data/readers/mnist.ts';
import { encodeIdxUint8 } from '../../host/data/readers/idx.ts';
import { SupportServer, defaultNumWorkers, type SupportServerOptions } from '../../host/input/support-server.ts';
import { resumePlan } from '../../host/input/resume.ts';
import { PROBE_BATCHES, WARMUP_BATCHES } from '../../host/input/lanes.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
const SYNTH = path.join(root, 'test/fixtures/data-synthetic/data.ts');
const MNIST_EPOCH = path.join(root, 'test/fixtures/data-mnist-epoch/data.ts');
const MNIST_EXAMPLE = path.join(root, 'examples/mnist/data.ts');
const FC_MNIST_EXAMPLE = path.join(root, 'examples/fc_mnist/data.ts');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'csrun-support-server-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function params(over: Record<string, any> = {}): Params {
  return validateParams({ runconfig: { seed: 1 }, ...over }, 'test params');
}

function synth(model: Record<string, unknown>, extra: Partial<SupportServerOptions> = {}, mode: Mode = 'train'): SupportServerOptions {
  return { dataModule: SYNTH, params: params({ model }), mode, numWorkers: 1, ...extra };
}

/** Every batch of a server (closing it), as the label lists. */
async function labelsOf(opts: SupportServerOptions, limit = Infinity): Promise<number[][]> {
  const server = await SupportServer.start(opts);
  const out: number[][] = [];
  try {
    for await (const b of server) {
      out.push(Array.from(b.labels!.data));
      if (out.length >= limit) break;
    }
  } finally {
    await server.close();
  }
  return out;
}

/** Two 32-bit hashes of each sample's exact image values (float32 by their bits) plus its label. */
function sampleKeys(b: Batch): string[] {
  const d = b.features.image.data;
  const img = d instanceof Float32Array ? new Uint32Array(d.buffer, d.byteOffset, d.length) : d;
  const lab = b.labels!.data;
  const rows = b.features.image.shape[0];
  const per = img.length / rows;
  const keys: string[] = [];
  for (let r = 0; r < rows; r++) {
    let h1 = 0x811c9dc5;
    let h2 = 0x9747b28c;
    for (let j = r * per, e = j + per; j < e; j++) {
      const v = img[j];
      h1 = Math.imul(h1 ^ v, 16777619);
      h2 = Math.imul(h2 ^ (v + j - r * per), 0x5bd1e995);
      h2 ^= h2 >>> 15;
    }
    keys.push(`${h1 >>> 0}.${h2 >>> 0}.${lab[r]}`);
  }
  return keys;
}

async function expectUserError(p: Promise<unknown>, ...patterns: RegExp[]): Promise<UserError> {
  const e = await p.then(
    () => {
      throw new Error('expected a UserError, got success');
    },
    (x) => x,
  );
  expect(e).toBeInstanceOf(UserError);
  for (const re of patterns) expect((e as Error).message).toMatch(re);
  return e as UserError;
}

/** Starts a server and drains it, returning the error it ends with. */
async function drainError(opts: SupportServerOptions): Promise<UserError> {
  return expectUserError(
    (async () => {
      const server = await SupportServer.start(opts);
      try {
        for await (const _ of server);
      } finally {
        await server.close();
      }
    })(),
  );
}

describe('resumePlan', () => {
  it('splits a step count across round-robin streams', () => {
    expect(resumePlan(0, [Infinity, Infinity])).toEqual({ counts: [0, 0], cursor: 0 });
    expect(resumePlan(7, [Infinity, Infinity, Infinity])).toEqual({ counts: [3, 2, 2], cursor: 1 });
    expect(resumePlan(6, [Infinity, Infinity, Infinity])).toEqual({ counts: [2, 2, 2], cursor: 0 });
    // Stream 1 has 1 batch: rounds are (0,1,2), (0,2), (0,2), ...
    expect(resumePlan(6, [Infinity, 1, Infinity])).toEqual({ counts: [3, 1, 2], cursor: 2 });
    expect(resumePlan(10, [2, 1])).toEqual({ counts: [2, 1], cursor: 0 });
  });
});

describe('exactly once over the real MNIST training set', () => {
  const reference = new Map<string, number>();
  const { images, labels } = loadMnist(undefined, 'train');
  for (const k of sampleKeys({ features: { image: { data: images.data, shape: [60000, 784], dtype: 'uint8' } }, labels })) {
    reference.set(k, (reference.get(k) ?? 0) + 1);
  }

  async function epoch(n: number, seed: number): Promise<string[]> {
    const server = await SupportServer.start({ dataModule: MNIST_EPOCH, params: params({ runconfig: { seed } }), mode: 'train', numWorkers: n });
    const keys: string[] = [];
    for await (const b of server) keys.push(...sampleKeys(b));
    const st = server.stats();
    await server.close();
    expect(st.samples).toBe(60000);
    expect(st.batches).toBe(keys.length === 60000 ? st.batches : -1);
    return keys;
  }

  it.each([1, 2, 4])('N = %i: every one of the 60,000 samples exactly once, the same order for the same seed', async (n) => {
    const a = await epoch(n, 5);
    expect(a).toHaveLength(60000);
    const counts = new Map<string, number>();
    for (const k of a) counts.set(k, (counts.get(k) ?? 0) + 1);
    expect(counts.size).toBe(reference.size);
    for (const [k, c] of reference) expect(counts.get(k), k).toBe(c);
    const b = await epoch(n, 5);
    expect(b).toEqual(a);
    if (n === 2) {
      const c = await epoch(n, 6);
      expect(c).not.toEqual(a);
    }
  });
});

describe('order, sharding and modes', () => {
  it('EVAL: one pass in order with N = 1; the partial last batch is kept', async () => {
    const b = await labelsOf(synth({ n: 20, batch: 8 }, {}, 'eval'));
    expect(b).toEqual([
      [0, 1, 2, 3, 4, 5, 6, 7],
      [8, 9, 10, 11, 12, 13, 14, 15],
      [16, 17, 18, 19],
    ]);
  });

  it('context sharding: N workers merged round-robin, each element once, deterministic', async () => {
    const b = await labelsOf(synth({ n: 50, batch: 4 }, { numWorkers: 3 }, 'eval'));
    // Worker i holds elements i, i+3, ...; round r takes each worker's r-th batch.
    expect(b[0]).toEqual([0, 3, 6, 9]);
    expect(b[1]).toEqual([1, 4, 7, 10]);
    expect(b[2]).toEqual([2, 5, 8, 11]);
    expect(b.flat().sort((x, y) => x - y)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect(await labelsOf(synth({ n: 50, batch: 4 }, { numWorkers: 3 }, 'eval'))).toEqual(b);
  });

  it('an inputFn that ignores the context is sharded by batch (AUTO → DATA): same order as N = 1', async () => {
    const model = { n: 60, batch: 5, shardByContext: false, shuffle: 60 };
    const one = await labelsOf(synth(model, { numWorkers: 1 }));
    const three = await labelsOf(synth(model, { numWorkers: 3 }));
    expect(three).toEqual(one);
    expect(one.flat().sort((x, y) => x - y)).toEqual(Array.from({ length: 60 }, (_, i) => i));
    // autoShardPolicy OFF: every worker's whole stream is used (each element N times).
    const off = await labelsOf(synth({ ...model, autoShard: 'OFF' }, { numWorkers: 2 }));
    expect(off.flat()).toHaveLength(120);
  });

  it('seeds: same seed same order, another seed another order; the server seed overrides runconfig.seed', async () => {
    const model = { n: 64, batch: 8, shuffle: 64, repeat: true };
    const a = await labelsOf(synth(model, { numWorkers: 2, seed: 11 }), 16);
    const b = await labelsOf(synth(model, { numWorkers: 2, seed: 11 }), 16);
    const c = await labelsOf(synth(model, { numWorkers: 2, seed: 12 }), 16);
    expect(a).toEqual(b);
    expect(a).not.toEqual(c);
    // TRAIN repeats with a new order per epoch: the first 4 batches of each worker cover its shard.
    const firstEpoch = [a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7]].flat();
    expect(firstEpoch.sort((x, y) => x - y)).toEqual(Array.from({ length: 64 }, (_, i) => i));
  });

  it('PREDICT drops labels; elementSpec describes the batches without consuming one', async () => {
    const server = await SupportServer.start(synth({ n: 10, batch: 4 }, {}, 'infer'));
    const spec = await server.elementSpec();
    expect(spec).toEqual({ batchSize: 4, features: { x: { shape: [2], dtype: 'float32' } } });
    const batches: Batch[] = [];
    for await (const b of server) batches.push(b);
    expect(batches).toHaveLength(3);
    expect(batches.every((b) => b.labels === undefined)).toBe(true);
    expect(Array.from(batches[0].features.x.data)).toEqual([0, -0, 1, -1, 2, -2, 3, -3]);
    await server.close();
  });

  it('in-process mode yields the same batches as one worker', async () => {
    const model = { n: 40, batch: 6, shuffle: 40, repeat: true };
    const w = await labelsOf(synth(model, { numWorkers: 1, startStep: 3 }), 10);
    const p = await labelsOf(synth(model, { inProcess: true, startStep: 3 }), 10);
    expect(p).toEqual(w);
    const server = await SupportServer.start(synth({ n: 10, batch: 4 }, { inProcess: true }, 'eval'));
    expect((await server.elementSpec()).batchSize).toBe(4);
    const got: number[][] = [];
    for await (const b of server) got.push(Array.from(b.labels!.data));
    expect(got).toEqual([[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]);
    expect(server.stats()).toMatchObject({ batches: 3, samples: 10, numWorkers: 0 });
  });

  it('the default worker count leaves a core to the main thread', () => {
    expect(defaultNumWorkers()).toBe(Math.max(1, Math.min(4, os.availableParallelism() - 1)));
  });
});

describe('resume at a global step', () => {
  it.each([
    [1, 7],
    [2, 7],
    [3, 13],
  ])('TRAIN, N = %i: starting at step %i continues exactly where the full run was', async (n, s) => {
    const model = { n: 50, batch: 4, shuffle: 20, repeat: true, dropRemainder: true };
    const full = await labelsOf(synth(model, { numWorkers: n }), s + 12);
    const resumed = await labelsOf(synth(model, { numWorkers: n, startStep: s }), 12);
    expect(resumed).toEqual(full.slice(s));
  });

  it('EVAL with workers of different lengths: every start step gives the tail of the full sequence', async () => {
    // 3 workers over 22 elements, batch 3: shards of 8, 7, 7 elements → 3, 3, 3 batches, partial last ones;
    // with n = 14 and batch 4: 5, 5, 4 elements → 2, 2, 1 batches (worker 2 ends first).
    for (const [n, batch] of [
      [22, 3],
      [14, 4],
    ]) {
      const model = { n, batch };
      const full = await labelsOf(synth(model, { numWorkers: 3 }, 'eval'));
      for (const s of [1, 4, full.length - 1, full.length + 2]) {
        const resumed = await labelsOf(synth(model, { numWorkers: 3, startStep: s }, 'eval'));
        expect(resumed, `start step ${s}`).toEqual(full.slice(s));
      }
    }
  });
});

describe('backpressure and stats', () => {
  it('a worker runs at most its credit ahead of the consumer', async () => {
    const channel = `csrun-test-${process.pid}-${Date.now()}`;
    const produced = [0, 0];
    const bc = new BroadcastChannel(channel);
    bc.onmessage = (e: MessageEvent) => produced[e.data as number]++;
    const server = await SupportServer.start(synth({ n: 1000, batch: 2, progressChannel: channel }, { numWorkers: 2, prefetch: 6 }, 'eval'));
    await new Promise((r) => setTimeout(r, 400));
    expect(produced).toEqual([3, 3]);
    for (let i = 0; i < 4; i++) await server.next();
    await new Promise((r) => setTimeout(r, 300));
    expect(produced).toEqual([5, 5]);
    await server.close();
    bc.close();
  });

  it('a cost probe: once warm, one next() waits while the worker produces PROBE_BATCHES beyond its credit, back to back', async () => {
    const channel = `csrun-test-probe-${process.pid}-${Date.now()}`;
    let produced = 0;
    const bc = new BroadcastChannel(channel);
    bc.onmessage = () => produced++;
    const credit = 4;
    const server = await SupportServer.start(synth({ n: 4000, batch: 2, progressChannel: channel }, { numWorkers: 1, prefetch: credit }, 'eval'));
    const settle = () => new Promise((r) => setTimeout(r, 300));
    // The first probe is due once WARMUP_BATCHES + PROBE_BATCHES batches past the warm-up were produced.
    const due = WARMUP_BATCHES + (WARMUP_BATCHES + PROBE_BATCHES) - credit;
    for (let i = 0; i < due; i++) await server.next();
    await settle();
    expect(produced).toBe(due + credit);
    expect(server.stats().probes).toEqual([0]);
    await server.next(); // runs the probe before it returns
    expect(server.stats().probes).toEqual([1]);
    await settle();
    expect(produced).toBe(due + credit + PROBE_BATCHES);
    const st = server.stats();
    expect(st.capacitySamplesPerSecond).toBeGreaterThan(0);
    // No more requests until the queue drains below the credit again.
    for (let i = 0; i < PROBE_BATCHES; i++) await server.next();
    await settle();
    expect(produced).toBe(due + credit + PROBE_BATCHES + 1);
    await server.close();
    bc.close();
  });

  it('counts batches, samples and the consumer wait', async () => {
    const server = await SupportServer.start(synth({ n: 100, batch: 10 }, { numWorkers: 2 }, 'eval'));
    let k = 0;
    for await (const _ of server) {
      k++;
      await new Promise((r) => setTimeout(r, 2));
    }
    const st = server.stats();
    expect(k).toBe(10);
    expect(st).toMatchObject({ numWorkers: 2, sharding: 'context', batches: 10, samples: 100 });
    expect(st.inputWaitFraction).toBeGreaterThanOrEqual(0);
    expect(st.inputWaitFraction).toBeLessThan(1);
    expect(st.elapsedMs).toBeGreaterThan(15);
    expect(st.samplesPerSecond).toBeCloseTo((100 * 1000) / st.elapsedMs, 0);
    await server.close();
  });

  it('consumed batches are not kept: 10,000 batches leave the heap and the array buffers flat', async () => {
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc') as () => void;
    const server = await SupportServer.start(synth({ n: 64, batch: 64, repeat: true }, { numWorkers: 1 }));
    const take = async (k: number) => {
      for (let i = 0; i < k; i++) expect((await server.next()).done).toBe(false);
      gc();
      const m = process.memoryUsage();
      return { heap: m.heapUsed, buffers: m.arrayBuffers };
    };
    const warm = await take(1000);
    const later = await take(10_000);
    await server.close();
    // Kept batches would add 10,000 × 768 B ≈ 7.7 MB of buffers; anything kept per batch grows the heap.
    expect(later.buffers - warm.buffers).toBeLessThan(2 << 20);
    expect(later.heap - warm.heap).toBeLessThan(2 << 20);
  });

  it('leaving the loop early closes the server', async () => {
    const server = await SupportServer.start(synth({ n: 100, batch: 2, repeat: true }, { numWorkers: 2 }));
    for await (const _ of server) break;
    expect(await server.next()).toEqual({ done: true, value: undefined });
  });
});

describe('the examples read the real MNIST files', () => {
  it('mnist EVAL: the 10,000 test images once, [64, 28, 28, 1] float32 in [0, 1], int32 labels', async () => {
    const p = params({ eval_input: { batch_size: 64 } });
    const server = await SupportServer.start({ dataModule: MNIST_EXAMPLE, params: p, mode: 'eval', numWorkers: 2 });
    const spec = await server.elementSpec();
    expect(spec).toEqual({ batchSize: 64, features: { image: { shape: [28, 28, 1], dtype: 'float32' } }, labels: { shape: [], dtype: 'int32' } });
    const test = loadMnist(undefined, 'test');
    const hist = new Array(10).fill(0);
    let samples = 0;
    let first: Batch | undefined;
    for await (const b of server) {
      first ??= b;
      samples += b.labels!.shape[0];
      for (const l of b.labels!.data) hist[l]++;
      const img = b.features.image.data;
      let lo = Infinity;
      let hi = -Infinity;
      for (const v of img) (lo = Math.min(lo, v)), (hi = Math.max(hi, v));
      expect(lo).toBeGreaterThanOrEqual(0);
      expect(hi).toBeLessThanOrEqual(1);
    }
    await server.close();
    expect(samples).toBe(10000);
    const ref = new Array(10).fill(0);
    for (const l of test.labels.data) ref[l]++;
    expect(hist).toEqual(ref);
    // Worker 0's first batch is test images 0, 2, 4, ...: pixel values are the IDX bytes / 255.
    expect(first!.labels!.data[0]).toBe(test.labels.data[0]);
    expect(first!.labels!.data[1]).toBe(test.labels.data[2]);
    const px = 28 * 14 + 14;
    expect(first!.features.image.data[784 + px]).toBeCloseTo(test.images.data[2 * 784 + px] / 255, 6);
  });

  it('mnist TRAIN: the first epoch has no repeated sample and batches drop the remainder', async () => {
    const p = params({ train_input: { batch_size: 64, shuffle_buffer_size: 60000 } });
    const server = await SupportServer.start({ dataModule: MNIST_EXAMPLE, params: p, mode: 'train', numWorkers: 2 });
    const seen = new Set<string>();
    const n = 2 * Math.floor(30000 / 64);
    for (let i = 0; i < n; i++) {
      const r = await server.next();
      const b = r.value as Batch;
      expect(b.features.image.shape).toEqual([64, 28, 28, 1]);
      for (const k of sampleKeys(b)) seen.add(k);
    }
    await server.close();
    expect(seen.size).toBeGreaterThan(n * 64 - 10); // MNIST has a handful of duplicate images
  });

  it('fc_mnist: flat [batch, 784] images', async () => {
    const p = params({ eval_input: { batch_size: 100, num_examples: 300 } });
    const server = await SupportServer.start({ dataModule: FC_MNIST_EXAMPLE, params: p, mode: 'eval', numWorkers: 1 });
    let rows = 0;
    for await (const b of server) {
      expect(b.features.image.shape).toEqual([100, 784]);
      rows += b.features.image.shape[0];
    }
    await server.close();
    expect(rows).toBe(300);
  });
});

describe('errors: one clear UserError naming the file or worker, never a hang', () => {
  it('missing data_dir', async () => {
    const p = params({ train_input: { data_dir: 'no/such/dir' } });
    await expectUserError(SupportServer.start({ dataModule: MNIST_EXAMPLE, params: p, mode: 'train', numWorkers: 2 }), /input worker [01]\/2/, /train_input\.data_dir/, /no\/such\/dir/, /does not exist/);
  });

  it('truncated IDX file and wrong magic number, naming the file', async () => {
    const test = loadMnist(undefined, 'test', { numExamples: 100 });
    const good = path.join(tmp, 'good');
    fs.mkdirSync(good);
    const imgs = encodeIdxUint8(test.images);
    const labs = encodeIdxUint8({ data: Uint8Array.from(test.labels.data), shape: [100], dtype: 'uint8' });
    labs[3] = 1;
    fs.writeFileSync(path.join(good, 't10k-images-idx3-ubyte'), imgs);
    fs.writeFileSync(path.join(good, 't10k-labels-idx1-ubyte'), labs);
    const ok = await labelsOf({ dataModule: MNIST_EXAMPLE, params: params({ eval_input: { data_dir: good, batch_size: 50 } }), mode: 'eval', numWorkers: 1 });
    expect(ok.flat()).toEqual(Array.from(test.labels.data));

    const trunc = path.join(tmp, 'trunc');
    fs.mkdirSync(trunc);
    fs.writeFileSync(path.join(trunc, 't10k-images-idx3-ubyte'), imgs.subarray(0, imgs.length - 100));
    fs.writeFileSync(path.join(trunc, 't10k-labels-idx1-ubyte'), labs);
    await expectUserError(
      SupportServer.start({ dataModule: MNIST_EXAMPLE, params: params({ eval_input: { data_dir: trunc } }), mode: 'eval', numWorkers: 1 }),
      /input worker 0\/1/,
      /trunc\/t10k-images-idx3-ubyte: truncated IDX file/,
    );

    const magic = path.join(tmp, 'magic');
    fs.mkdirSync(magic);
    fs.writeFileSync(path.join(magic, 't10k-images-idx3-ubyte'), labs); // a label file where images belong
    fs.writeFileSync(path.join(magic, 't10k-labels-idx1-ubyte'), labs);
    await expectUserError(
      SupportServer.start({ dataModule: MNIST_EXAMPLE, params: params({ eval_input: { data_dir: magic } }), mode: 'eval', inProcess: true }),
      /magic\/t10k-images-idx3-ubyte: wrong magic number 2049 for MNIST images \(expected 2051/,
    );
  });

  it('inputFn throwing in a worker names the worker, the module and the source line', async () => {
    await expectUserError(
      SupportServer.start(synth({ behavior: 'throw-in-inputFn' }, { numWorkers: 2 })),
      /input worker [01]\/2 \(test\/fixtures\/data-synthetic\/data\.ts\)/,
      /synthetic failure in inputFn/,
      /data-synthetic\/data\.ts:\d+:\d+/,
    );
  });

  it('an error while producing a batch', async () => {
    const e = await drainError(synth({ behavior: 'throw-at-batch', at: 2, n: 100, batch: 4 }, { numWorkers: 2 }));
    expect(e.message).toMatch(/input worker [01]\/2 .*error while producing batch 2: RangeError: synthetic failure at batch 2/);
  });

  it('a worker calling process.exit (in inputFn, or mid-stream)', async () => {
    await expectUserError(SupportServer.start(synth({ behavior: 'exit-in-inputFn' }, { numWorkers: 2 })), /input worker [01]\/2 .*the worker thread died .*exited with code.? 7/, /process\.exit/);
    const e = await drainError(synth({ behavior: 'exit-at-batch', at: 3, n: 1000, batch: 4 }, { numWorkers: 2 }));
    expect(e.message).toMatch(/input worker [01]\/2 .*died.*code.? 3/);
  });

  it('an inconsistent batch shape', async () => {
    const e = await drainError(synth({ behavior: 'bad-shape-at-batch', at: 2, n: 100, batch: 4 }, { numWorkers: 1 }));
    expect(e.message).toMatch(/input worker 0\/1 .*batch 2: inconsistent batch shape: features\.x is float32 \[4, 3\] but the first batch had float32 \[4, 2\]/);
    const p = await drainError(synth({ behavior: 'partial-in-middle', at: 1, n: 100, batch: 4 }, { numWorkers: 1 }));
    expect(p.message).toMatch(/batch 2: inconsistent batch shape: a batch follows a smaller batch of 1 rows/);
    const s = await drainError(synth({ behavior: 'scalar-feature' }, { numWorkers: 1 }));
    expect(s.message).toMatch(/features\.x is a scalar/);
  });

  it('malformed modules and datasets', async () => {
    await expectUserError(SupportServer.start({ ...synth({}), dataModule: path.join(tmp, 'nope.ts') }), /nope\.ts: data module not found/);
    await expectUserError(SupportServer.start({ ...synth({}), inputFnExport: 'trainInputFn' }), /does not export a function 'trainInputFn'; it exports: inputFn/);
    await expectUserError(SupportServer.start(synth({ behavior: 'not-a-dataset' })), /inputFn returned an array of length 3; it must return a Dataset/);
    const e = await drainError(synth({ behavior: 'bad-element' }));
    expect(e.message).toMatch(/must yield batches \{ features/);
  });

  it('TFRecord with a bad CRC read by an ElasticDL data module names the file', async () => {
    const { encodeExample } = await import('../../host/data/readers/example.ts');
    const { writeTFRecordFile } = await import('../../host/data/readers/tfrecord.ts');
    const dir = path.join(tmp, 'badcrc');
    fs.mkdirSync(dir);
    const file = path.join(dir, 'data.tfrecord');
    const recs = Array.from({ length: 5 }, (_, i) => encodeExample({ image: { bytesList: [new Uint8Array(784).fill(i)] }, label: { int64List: [i] } }));
    await writeTFRecordFile(file, recs);
    const bytes = fs.readFileSync(file);
    bytes[bytes.length - 100] ^= 0xff; // inside the last record's payload
    fs.writeFileSync(file, bytes);
    const e = await drainError({
      dataModule: path.join(root, 'examples/mnist_elasticdl/data.ts'),
      params: params({ eval_input: { data_dir: dir, batch_size: 2 } }),
      mode: 'eval',
      numWorkers: 1,
    });
    expect(e.message).toMatch(/badcrc\/data\.tfrecord: record 4 \(byte offset \d+\): corrupted TFRecord: data CRC32C mismatch/);
  });

  it('in a separate process: the failing run exits by itself with code 1 and one message', () => {
    const script = path.join(root, 'test/fixtures/data-synthetic/consume.ts');
    const run = (model: object) =>
      spawnSync(process.execPath, ['--import', 'tsx', script, JSON.stringify(model), '2'], { cwd: root, encoding: 'utf8', timeout: 60_000 });
    const ok = run({ n: 30, batch: 4 });
    expect(ok.status).toBe(0);
    expect(ok.stdout.trim()).toBe('batches 8');
    for (const model of [{ behavior: 'exit-at-batch', at: 1, n: 1000, batch: 4 }, { behavior: 'throw-in-inputFn' }, { behavior: 'bad-shape-at-batch', at: 3 }]) {
      const r = run(model);
      expect(r.signal, JSON.stringify(model)).toBeNull(); // not killed by the timeout: it exited on its own
      expect(r.status).toBe(1);
      const lines = r.stderr.split('\n').filter((l) => l.startsWith('csrun: error:'));
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(/input worker [01]\/2 \(test\/fixtures\/data-synthetic\/data\.ts\)/);
    }
  });
});
