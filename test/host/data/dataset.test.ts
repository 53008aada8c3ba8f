import { describe, expect, it } from 'vitest';
import type { TensorData } from '../../../runtime/batch.ts';
import { UserError } from '../../../runtime/errors.ts';
import { Random, mixSeeds } from '../../../runtime/random.ts';
import { Dataset } from '../../../host/data/dataset.ts';
import { datasetOptions, hasShard } from '../../../host/data/options.ts';
import { setRandomSeed } from '../../../host/data/seed.ts';
import { stackElements } from '../../../host/data/structure.ts';
import { tensorData } from '../../../host/data/tensor.ts';

const range = (n: number) => Array.from({ length: n }, (_, i) => i);
const arr = <T>(ds: Dataset<T>) => ds.toArray();

describe('sources', () => {
  it('fromTensorSlices slices every leaf along axis 0, keeping dtypes and views', async () => {
    const images: TensorData = { data: Uint8Array.from(range(12)), shape: [3, 2, 2], dtype: 'uint8' };
    const labels = Int32Array.of(7, 8, 9);
    const ds = Dataset.fromTensorSlices({ image: images, meta: { label: labels, name: ['a', 'b', 'c'] } });
    const els = await arr(ds);
    expect(els).toHaveLength(3);
    expect(els[1].image.shape).toEqual([2, 2]);
    expect(els[1].image.dtype).toBe('uint8');
    expect(Array.from(els[1].image.data)).toEqual([4, 5, 6, 7]);
    expect(els[1].image.data.buffer).toBe(images.data.buffer); // a view, not a copy
    expect(els[2].meta.label).toEqual({ data: Int32Array.of(9), shape: [], dtype: 'int32' });
    expect(els[0].meta.name).toBe('a');
  });

  it('fromTensorSlices of a plain array yields its entries', async () => {
    expect(await arr(Dataset.fromTensorSlices([3, 1, 2]))).toEqual([3, 1, 2]);
  });

  it('fromTensorSlices rejects leaves of different lengths, naming both', () => {
    expect(() => Dataset.fromTensorSlices({ a: Float32Array.of(1, 2), b: Int32Array.of(1, 2, 3) })).toThrow(/'a' has 2 elements, 'b' has 3/);
    expect(() => Dataset.fromTensorSlices({ a: new Float64Array(2) })).toThrow(UserError);
  });

  it('range and fromGenerator (sync and async, called anew per iteration)', async () => {
    expect(await arr(Dataset.range(5))).toEqual([0, 1, 2, 3, 4]);
    expect(await arr(Dataset.range(2, 10, 3))).toEqual([2, 5, 8]);
    expect(await arr(Dataset.range(5, 0, -2))).toEqual([5, 3, 1]);
    let calls = 0;
    const g = Dataset.fromGenerator(function* () {
      calls++;
      yield 1;
      yield 2;
    });
    expect(await arr(g)).toEqual([1, 2]);
    expect(await arr(g)).toEqual([1, 2]);
    expect(calls).toBe(2);
    const ag = Dataset.fromGenerator(async function* () {
      yield 'x';
      await new Promise((r) => setTimeout(r, 1));
      yield 'y';
    });
    expect(await arr(ag)).toEqual(['x', 'y']);
  });

  it('breaking out of for-await closes the generator', async () => {
    let closed = false;
    const g = Dataset.fromGenerator(function* () {
      try {
        for (let i = 0; ; i++) yield i;
      } finally {
        closed = true;
      }
    });
    for await (const x of g.map((v) => v * 2)) if (x >= 4) break;
    expect(closed).toBe(true);
  });
});

describe('map / filter', () => {
  it('map keeps order, with sync, async and parallel functions', async () => {
    expect(await arr(Dataset.range(5).map((x) => x * x))).toEqual([0, 1, 4, 9, 16]);
    const slowFirst = (x: number) => new Promise<number>((r) => setTimeout(() => r(x + 100), x === 0 ? 20 : 1));
    expect(await arr(Dataset.range(6).map(slowFirst, { numParallelCalls: 3 }))).toEqual([100, 101, 102, 103, 104, 105]);
  });

  it('parallel map actually overlaps async calls', async () => {
    let inflight = 0;
    let peak = 0;
    const fn = async (x: number) => {
      inflight++;
      peak = Math.max(peak, inflight);
      await new Promise((r) => setTimeout(r, 5));
      inflight--;
      return x;
    };
    await arr(Dataset.range(12).map(fn, { numParallelCalls: 4 }));
    expect(peak).toBe(4);
  });

  it('map errors propagate to the consumer', async () => {
    const ds = Dataset.range(3).map((x) => {
      if (x === 2) throw new Error('bad element 2');
      return x;
    });
    await expect(arr(ds)).rejects.toThrow('bad element 2');
  });

  it('filter keeps matching elements', async () => {
    expect(await arr(Dataset.range(10).filter((x) => x % 3 === 0))).toEqual([0, 3, 6, 9]);
    expect(await arr(Dataset.range(10).filter(async (x) => x > 7))).toEqual([8, 9]);
  });
});

describe('shuffle', () => {
  const orderOf = (seed: number, n = 100, buffer = 100) => arr(Dataset.range(n).shuffle(buffer, { seed }));

  it('is a permutation, the same for the same seed and different across seeds', async () => {
    const a = await orderOf(1);
    const b = await orderOf(1);
    const c = await orderOf(2);
    expect([...a].sort((x, y) => x - y)).toEqual(range(100));
    expect(a).toEqual(b);
    expect(a).not.toEqual(c);
    expect(a).not.toEqual(range(100));
  });

  it('reshuffles per iteration (epoch), deterministically from the seed', async () => {
    const mk = () => Dataset.range(20).shuffle(20, { seed: 7 }).repeat(3);
    const x = await arr(mk());
    const y = await arr(mk());
    expect(x).toEqual(y);
    const epochs = [x.slice(0, 20), x.slice(20, 40), x.slice(40)];
    for (const e of epochs) expect([...e].sort((p, q) => p - q)).toEqual(range(20));
    expect(epochs[0]).not.toEqual(epochs[1]);
    expect(epochs[1]).not.toEqual(epochs[2]);
    const fixed = await arr(Dataset.range(20).shuffle(20, { seed: 7, reshuffleEachIteration: false }).repeat(2));
    expect(fixed.slice(0, 20)).toEqual(fixed.slice(20));
  });

  it('a small buffer only moves elements locally (tf.data buffer semantics)', async () => {
    const out = await arr(Dataset.range(1000).shuffle(10, { seed: 3 }));
    expect([...out].sort((p, q) => p - q)).toEqual(range(1000));
    // Element i can leave the buffer no earlier than position i - 9 ... it enters at i-9 at the earliest.
    out.forEach((v, pos) => expect(v).toBeLessThanOrEqual(pos + 9));
    // bufferSize 1 is the identity.
    expect(await arr(Dataset.range(10).shuffle(1, { seed: 3 }))).toEqual(range(10));
  });

  it('without a seed, the global seed makes it deterministic', async () => {
    setRandomSeed(42);
    const a = await arr(Dataset.range(50).shuffle(50));
    setRandomSeed(42);
    const b = await arr(Dataset.range(50).shuffle(50));
    setRandomSeed(43);
    const c = await arr(Dataset.range(50).shuffle(50));
    setRandomSeed(undefined);
    expect(a).toEqual(b);
    expect(a).not.toEqual(c);
  });

  it('shuffle orders and the Random stream are pinned (bit-identical across releases)', async () => {
    const r = new Random(5);
    expect([r.nextUint32(), r.nextUint32(), r.nextUint32()]).toEqual([4097754736, 1983042678, 638740953]);
    expect([mixSeeds(1), mixSeeds(1, 2), mixSeeds(2 ** 40 + 3, -5)]).toEqual([3309764011, 2579660362, 2378377162]);
    expect(await arr(Dataset.range(12).shuffle(12, { seed: 7 }).repeat(2))).toEqual([9, 3, 4, 0, 11, 6, 8, 7, 5, 10, 2, 1, 7, 6, 9, 5, 3, 0, 4, 2, 11, 1, 8, 10]);
    setRandomSeed(42);
    const b = await arr(Dataset.range(10).shuffle(4));
    setRandomSeed(undefined);
    expect(b).toEqual([2, 0, 4, 5, 6, 3, 8, 7, 1, 9]);
  });

  it('Random is reproducible and roughly uniform', () => {
    const r1 = new Random(5);
    const r2 = new Random(5);
    const counts = new Array(10).fill(0);
    for (let i = 0; i < 20000; i++) {
      const v = r1.nextInt(10);
      expect(v).toBe(r2.nextInt(10));
      counts[v]++;
    }
    for (const c of counts) expect(Math.abs(c - 2000)).toBeLessThan(200);
  });
});

describe('batch', () => {
  it('stacks structures into contiguous arrays with their own buffers', async () => {
    const ds = Dataset.fromTensorSlices({
      x: { data: Float32Array.from(range(10)), shape: [5, 2], dtype: 'float32' } as TensorData,
      y: Int32Array.from([0, 1, 2, 3, 4]),
    }).batch(2);
    const b = await arr(ds);
    expect(b).toHaveLength(3);
    expect(b[0].x.shape).toEqual([2, 2]);
    expect(Array.from(b[1].x.data)).toEqual([4, 5, 6, 7]);
    expect(b[1].y).toEqual({ data: Int32Array.of(2, 3), shape: [2], dtype: 'int32' });
    expect(b[2].x.shape).toEqual([1, 2]); // remainder kept
    expect(b[0].x.data.byteOffset).toBe(0);
    expect(b[0].x.data.buffer.byteLength).toBe(b[0].x.data.byteLength);
    expect(b[0].x.data.buffer).not.toBe(b[0].y.data.buffer);
  });

  it('dropRemainder drops the last partial batch', async () => {
    const b = await arr(Dataset.range(10).batch(4, { dropRemainder: true }));
    expect(b.map((t) => Array.from(t.data))).toEqual([
      [0, 1, 2, 3],
      [4, 5, 6, 7],
    ]);
    expect(b[0].dtype).toBe('float32');
    expect(await arr(Dataset.range(8).batch(4, { dropRemainder: true }))).toHaveLength(2);
    expect(await arr(Dataset.range(3).batch(4, { dropRemainder: true }))).toHaveLength(0);
  });

  it('batches tuples, strings and nested batches', async () => {
    const ds = Dataset.fromGenerator(function* () {
      for (let i = 0; i < 4; i++) yield [Float32Array.of(i, -i), `s${i}`] as [Float32Array, string];
    });
    const [b0] = await arr(ds.batch(4));
    expect(b0[0]).toEqual({ data: Float32Array.of(0, -0, 1, -1, 2, -2, 3, -3), shape: [4, 2], dtype: 'float32' });
    expect(b0[1]).toEqual(['s0', 's1', 's2', 's3']);
    const nested = await arr(Dataset.range(8).batch(2).batch(2));
    expect(nested[1].shape).toEqual([2, 2]);
    expect(Array.from(nested[1].data)).toEqual([4, 5, 6, 7]);
  });

  it('elements of different shapes are a clear error naming the path and shapes', async () => {
    const ds = Dataset.fromGenerator(function* () {
      yield { image: tensorData(new Float32Array(4), [2, 2]) };
      yield { image: tensorData(new Float32Array(6), [3, 2]) };
    }).batch(2);
    await expect(arr(ds)).rejects.toThrow(/element 1 .* at 'image': shape \[3, 2\] vs \[2, 2\]/);
    expect(() => stackElements([{ a: 1 }, { b: 1 }])).toThrow(/keys/);
    expect(() => stackElements([Float32Array.of(1), Int32Array.of(1)])).toThrow(/dtype int32 vs float32/);
  });
});

describe('repeat / take / skip', () => {
  it('repeat(count) and repeat() forever', async () => {
    expect(await arr(Dataset.range(3).repeat(2))).toEqual([0, 1, 2, 0, 1, 2]);
    expect(await arr(Dataset.range(3).repeat(0))).toEqual([]);
    expect(await arr(Dataset.range(3).repeat().take(7))).toEqual([0, 1, 2, 0, 1, 2, 0]);
    expect(await arr(Dataset.range(0).repeat())).toEqual([]); // empty stays empty, no hang
  });

  it('take and skip', async () => {
    expect(await arr(Dataset.range(10).take(3))).toEqual([0, 1, 2]);
    expect(await arr(Dataset.range(2).take(5))).toEqual([0, 1]);
    expect(await arr(Dataset.range(10).take(-1))).toEqual(range(10));
    expect(await arr(Dataset.range(10).skip(7))).toEqual([7, 8, 9]);
    expect(await arr(Dataset.range(10).skip(20))).toEqual([]);
    expect(await arr(Dataset.range(10).skip(-1))).toEqual([]);
    expect(await arr(Dataset.range(10).skip(2).take(3))).toEqual([2, 3, 4]);
    expect(await arr(Dataset.range(4).repeat().skip(6).take(3))).toEqual([2, 3, 0]);
  });

  it('skip never calls map functions for skipped elements; the result equals dropping them', async () => {
    let calls = 0;
    const ds = Dataset.range(1000)
      .map((x) => {
        calls++;
        return x * 2;
      })
      .batch(10)
      .skip(95);
    const out = await arr(ds);
    expect(out.map((b) => b.data[0])).toEqual([1900, 1920, 1940, 1960, 1980]);
    expect(calls).toBe(50);
  });

  it('skip through shuffle/repeat equals the tail of the full sequence', async () => {
    const mk = () => Dataset.range(37).shuffle(16, { seed: 9 }).repeat(3).batch(5);
    const full = (await arr(mk())).map((b) => Array.from(b.data));
    for (const k of [0, 1, 7, 22, 23, 30]) {
      const tail = (await arr(mk().skip(k))).map((b) => Array.from(b.data));
      expect(tail).toEqual(full.slice(k));
    }
  });

  it('rejects bad counts', () => {
    expect(() => Dataset.range(3).take(1.5)).toThrow(UserError);
    expect(() => Dataset.range(3).batch(0)).toThrow(/batchSize must be an integer ≥ 1/);
    expect(() => Dataset.range(3).repeat(-2)).toThrow(UserError);
  });
});

describe('shard', () => {
  it('shards are disjoint and cover every element exactly once', async () => {
    for (const [n, N] of [
      [100, 3],
      [10, 4],
      [7, 7],
      [3, 5],
    ]) {
      const seen: number[] = [];
      for (let i = 0; i < N; i++) {
        const s = await arr(Dataset.range(n).shard(N, i));
        expect(s.every((x) => x % N === i)).toBe(true);
        seen.push(...s);
      }
      expect(seen.sort((a, b) => a - b)).toEqual(range(n));
    }
  });

  it('shard of batches, of a shuffled pipeline, and skip inside a shard', async () => {
    const mk = () => Dataset.range(50).shuffle(50, { seed: 1 }).batch(4);
    const all = (await arr(mk())).map((b) => Array.from(b.data));
    const s1 = (await arr(mk().shard(3, 1))).map((b) => Array.from(b.data));
    expect(s1).toEqual(all.filter((_, i) => i % 3 === 1));
    const s1tail = (await arr(mk().shard(3, 1).skip(2))).map((b) => Array.from(b.data));
    expect(s1tail).toEqual(s1.slice(2));
    expect(await arr(Dataset.range(10).shard(3, 2).skip(10))).toEqual([]);
  });

  it('validates its arguments', () => {
    expect(() => Dataset.range(3).shard(2, 2)).toThrow(/index 2 must be < numShards 2/);
    expect(() => Dataset.range(3).shard(0, 0)).toThrow(UserError);
  });

  it('records itself in the lineage (for the support server)', () => {
    const ds = Dataset.range(10).shard(4, 1).map((x) => x).batch(2);
    expect(hasShard(ds, 4, 1)).toBe(true);
    expect(hasShard(ds, 4, 2)).toBe(false);
    expect(datasetOptions(ds.withOptions({ autoShardPolicy: 'OFF' }).map((x) => x))).toEqual({ autoShardPolicy: 'OFF' });
    expect(() => ds.withOptions({ autoShardPolicy: 'FILE' as 'OFF' })).toThrow(UserError);
  });
});

describe('interleave', () => {
  const sub = (base: number, n: number) => Dataset.range(n).map((i) => base + i);

  it('cycles through cycleLength datasets (tf.data order)', async () => {
    // tf.data docs: range(1, 6).interleave(x => repeat(x, 6), cycle_length=2, block_length=4)
    const ds = Dataset.range(1, 6).interleave((x) => Dataset.fromTensorSlices(new Array(6).fill(x) as number[]), { cycleLength: 2, blockLength: 4 });
    expect(await arr(ds)).toEqual([1, 1, 1, 1, 2, 2, 2, 2, 1, 1, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 3, 3, 4, 4, 5, 5, 5, 5, 5, 5]);
  });

  it('refills an exhausted slot with the next input when the cycle reaches it', async () => {
    const lens = [1, 3, 2, 2];
    const ds = Dataset.range(4).interleave((i) => sub(i * 10, lens[i]), { cycleLength: 2 });
    // Slot 0 (0) ends after one element; the cycle moves on to slot 1 (10, 11…) and refills slot 0 with
    // input 2 (20, 21) only when it comes back to it, as tf.data's InterleaveDatasetOp does.
    expect(await arr(ds)).toEqual([0, 10, 11, 20, 12, 21, 30, 31]);
  });

  it('cycleLength 1 is flat_map; async fn and errors', async () => {
    expect(await arr(Dataset.range(3).interleave((i) => sub(i * 10, 2), { cycleLength: 1 }))).toEqual([0, 1, 10, 11, 20, 21]);
    expect(await arr(Dataset.range(2).interleave(async (i) => sub(i, 1), { cycleLength: 2 }))).toEqual([0, 1]);
    await expect(arr(Dataset.range(2).interleave(() => 5 as unknown as Dataset<number>, { cycleLength: 2 }))).rejects.toThrow(/not a Dataset/);
  });
});

describe('prefetch', () => {
  it('keeps order, computes ahead and passes errors in order', async () => {
    let produced = 0;
    const ds = Dataset.range(10)
      .map((x) => {
        produced++;
        return x;
      })
      .prefetch(3);
    const it = ds[Symbol.asyncIterator]();
    expect((await it.next()).value).toBe(0);
    await new Promise((r) => setTimeout(r, 5));
    expect(produced).toBe(4); // the consumed one plus 3 ahead
    await it.return!();
    expect(await arr(ds)).toEqual(range(10));
    const bad = Dataset.range(5)
      .map((x) => {
        if (x === 3) throw new Error('boom at 3');
        return x;
      })
      .prefetch(4);
    const got: number[] = [];
    await expect(
      (async () => {
        for await (const x of bad) got.push(x);
      })(),
    ).rejects.toThrow('boom at 3');
    expect(got).toEqual([0, 1, 2]);
    expect(await arr(Dataset.range(10).prefetch(2).skip(8))).toEqual([8, 9]);
  });
});
