/**
 * The input pipeline API of csrun, named after `tf.data`: {@link Dataset} (`fromTensorSlices`,
 * `fromGenerator`, `range`, `map`, `filter`, `shuffle`, `batch`, `repeat`, `prefetch`, `shard`,
 * `interleave`, `take`, `skip`, `withOptions`). The pieces, as in tfjs-data:
 * - element structures, slicing and batching: structure.ts; tensor helpers: tensor.ts (the tensor and
 *   batch types are runtime/batch.ts's `TensorData` and `Batch`, shared with the executor);
 * - the iterators behind every op: iterators.ts and read-ahead.ts;
 * - lineage and tf.data.Options: options.ts; the global seed: seed.ts; the inputFn contract: input.ts;
 * - file readers (IDX / MNIST, TFRecord, tf.train.Example, CSV): readers/.
 *
 * Determinism. Every op is deterministic given its seeds: `shuffle` draws from a seeded PRNG (`Random`
 * of runtime/random.ts) that is re-seeded per iteration (epoch) from `(seed, iteration index)` as
 * tf.data's `reshuffle_each_iteration`, and `interleave` uses tf.data's deterministic cycle order.
 * Without an op seed, `shuffle` derives one from the global seed of `setRandomSeed` (tf.random.set_seed)
 * and the op's creation index; the support server sets the global seed in every worker before calling
 * `inputFn`.
 *
 * Skipping. Iterators support a fast `skip(n)`: `fromTensorSlices`, `range`, `map`, `batch`, `take`,
 * `skip`, `shard` and `repeat` skip without materialising elements (so `map` functions are, as in
 * tf.data, assumed pure: a skipped element is never passed to the map function). `shard` and resuming
 * at a global step rely on this.
 */
import { UserError } from '../../runtime/errors.ts';
import { Random, mixSeeds } from '../../runtime/random.ts';
import {
  DONE,
  batchIterator,
  filterIterator,
  indexIterator,
  interleaveIterator,
  iterableIterator,
  mapIterator,
  repeatIterator,
  shardIterator,
  shuffleIterator,
  skipIterator,
  takeIterator,
  type Iter,
} from './iterators.ts';
import type { DatasetNode, DatasetOptions } from './options.ts';
import { readAhead } from './read-ahead.ts';
import { nextOpSeed } from './seed.ts';
import { sliceStructure, stackElements, type Batched, type Sliced } from './structure.ts';
import { describeValue } from './tensor.ts';

/** @throws UserError naming the op and argument unless `n` is an integer ≥ `min` (or Infinity if allowed). */
function checkCount(op: string, name: string, n: number, { min = 0, allowInfinity = false } = {}): void {
  if (allowInfinity && n === Infinity) return;
  if (!Number.isInteger(n) || n < min) throw new UserError(`Dataset.${op}: ${name} must be an integer ≥ ${min} (got ${n})`);
}

/** A count where −1 means "all" (take, skip). */
function countOrAll(count: number): number {
  return count === -1 ? Infinity : count;
}

/**
 * A lazily evaluated, re-iterable sequence of elements (tf.data.Dataset). Each `for await` (or each epoch
 * of `repeat`) starts a fresh iteration of the whole pipeline. Methods return new datasets; the receiver
 * is unchanged.
 */
export class Dataset<T> implements AsyncIterable<T> {
  /** @internal use the static constructors. */
  constructor(
    /** The op that made this dataset and its inputs (used for auto-sharding decisions). */
    readonly node: DatasetNode,
    private readonly factory: () => Iter<T>,
  ) {}

  private derive<U>(op: string, args: Record<string, unknown>, factory: () => Iter<U>): Dataset<U> {
    return new Dataset<U>({ op, args, inputs: [this.node] }, factory);
  }

  /** @internal a fresh iterator with skip support (used by ops and the support server). */
  iterator(): Iter<T> {
    return this.factory();
  }

  /** Iterates the dataset once (a new iteration each call); `break` releases the pipeline's resources. */
  [Symbol.asyncIterator](): AsyncIterator<T> {
    const it = this.factory();
    return {
      next: () => it.next() as Promise<IteratorResult<T>>,
      return: async () => {
        await it.return();
        return DONE as IteratorResult<T>;
      },
    };
  }

  /** Collects every element (tfjs-data `toArray`). Never returns for an infinite dataset. */
  async toArray(): Promise<T[]> {
    const out: T[] = [];
    for await (const x of this) out.push(x);
    return out;
  }

  // ---- sources ------------------------------------------------------------------------------------

  /**
   * tf.data.Dataset.from_tensor_slices: element i is slice i along the first dimension of every leaf.
   * Leaves: TensorData `[n, ...]` → TensorData `[...]` (a view, no copy); typed array of length n →
   * scalar TensorData `[]` of its dtype; plain array of length n → its i-th entry. A top-level array is a
   * list of elements. Dicts nest.
   * @throws UserError if leaves disagree on n (naming both paths) or a leaf is of another type.
   */
  static fromTensorSlices<S>(slices: S): Dataset<Sliced<S>> {
    const { n, slice } = sliceStructure(slices);
    return new Dataset<Sliced<S>>({ op: 'fromTensorSlices', args: { length: n }, inputs: [] }, () => indexIterator(n, (i) => slice(i) as Sliced<S>));
  }

  /**
   * tf.data.Dataset.from_generator: `generator()` is called anew for every iteration; it may return a
   * sync or async iterable. Errors thrown by the generator propagate to the consumer.
   * @throws UserError if `generator` is not a function, or (during iteration) returns no iterable.
   */
  static fromGenerator<T>(generator: () => Iterable<T> | AsyncIterable<T>): Dataset<T> {
    if (typeof generator !== 'function') throw new UserError(`Dataset.fromGenerator: expected a function returning an iterable (got ${describeValue(generator)})`);
    return new Dataset<T>({ op: 'fromGenerator', args: {}, inputs: [] }, () =>
      iterableIterator(generator, (src) => {
        throw new UserError(`Dataset.fromGenerator: the generator function returned ${describeValue(src)}, not an iterable`);
      }),
    );
  }

  /**
   * tf.data.Dataset.range: numbers start, start+step, … up to (excluding) stop. `range(n)` is 0…n−1.
   * @throws UserError if step is 0 or a bound is not finite.
   */
  static range(start: number, stop?: number, step = 1): Dataset<number> {
    if (stop === undefined) [start, stop] = [0, start];
    if (!Number.isFinite(start) || !Number.isFinite(stop) || !Number.isFinite(step) || step === 0)
      throw new UserError(`Dataset.range: invalid arguments (start ${start}, stop ${stop}, step ${step})`);
    const n = Math.max(0, Math.ceil((stop - start) / step));
    const s0 = start;
    return new Dataset<number>({ op: 'range', args: { start, stop, step }, inputs: [] }, () => indexIterator(n, (i) => s0 + step * i));
  }

  // ---- transformations ----------------------------------------------------------------------------

  /**
   * tf.data map: applies `fn` to every element (sync or async). With `numParallelCalls` > 1, up to that
   * many async calls run at once; output order is always the input order. `fn` must be pure: skipped
   * elements (shard, skip, resume) are not passed to it.
   */
  map<U>(fn: (x: T) => U | Promise<U>, options: { numParallelCalls?: number } = {}): Dataset<U> {
    if (typeof fn !== 'function') throw new UserError(`Dataset.map: expected a function (got ${describeValue(fn)})`);
    const k = options.numParallelCalls ?? 1;
    checkCount('map', 'numParallelCalls', k, { min: 1 });
    return this.derive<U>('map', { numParallelCalls: k }, () => (k === 1 ? mapIterator(this.factory(), fn) : readAhead(this.factory(), k, fn, false)));
  }

  /** tf.data filter: keeps the elements for which `predicate` returns true (sync or async). */
  filter(predicate: (x: T) => boolean | Promise<boolean>): Dataset<T> {
    if (typeof predicate !== 'function') throw new UserError(`Dataset.filter: expected a function (got ${describeValue(predicate)})`);
    return this.derive<T>('filter', {}, () => filterIterator(this.factory(), predicate));
  }

  /**
   * tf.data shuffle: a buffer of `bufferSize` elements; each output is drawn uniformly from the buffer and
   * its slot refilled from upstream. With `reshuffleEachIteration` (default true, as tf.data) iteration e
   * (e.g. epoch e of a following `repeat`) uses seed `(seed, e)`: a different order per epoch, the same
   * sequence of orders for the same seed. Without `seed`: derived from `setRandomSeed`'s global seed
   * and this op's creation index, or random if no global seed is set.
   */
  shuffle(bufferSize: number, options: { seed?: number; reshuffleEachIteration?: boolean } = {}): Dataset<T> {
    checkCount('shuffle', 'bufferSize', bufferSize, { min: 1 });
    const reshuffle = options.reshuffleEachIteration ?? true;
    if (options.seed !== undefined && !Number.isFinite(options.seed))
      throw new UserError(`Dataset.shuffle: seed must be a finite number (got ${options.seed})`);
    const seed = options.seed ?? nextOpSeed();
    let iteration = 0;
    return this.derive<T>('shuffle', { bufferSize, seed, reshuffleEachIteration: reshuffle }, () =>
      shuffleIterator(this.factory(), bufferSize, new Random(mixSeeds(seed, reshuffle ? iteration++ : 0))),
    );
  }

  /**
   * tf.data batch: stacks `batchSize` consecutive elements into one (see `stackElements` in
   * structure.ts): every leaf gets a leading dimension of the batch size and its own contiguous buffer.
   * The last batch may be smaller unless `dropRemainder`.
   * @throws UserError (during iteration) if the elements of a batch differ in structure, shape or dtype.
   */
  batch(batchSize: number, options: { dropRemainder?: boolean } = {}): Dataset<Batched<T>> {
    checkCount('batch', 'batchSize', batchSize, { min: 1 });
    const drop = options.dropRemainder ?? false;
    return this.derive<Batched<T>>('batch', { batchSize, dropRemainder: drop }, () =>
      batchIterator(this.factory(), batchSize, drop, (elems) => stackElements(elems) as Batched<T>),
    );
  }

  /**
   * tf.data repeat: iterates the dataset `count` times (default: forever), each pass a new iteration (so a
   * preceding shuffle reshuffles). Repeating an empty dataset yields nothing.
   */
  repeat(count?: number): Dataset<T> {
    const times = count === undefined || count === -1 ? Infinity : count;
    checkCount('repeat', 'count', times, { allowInfinity: true });
    return this.derive<T>('repeat', { count: times }, () => repeatIterator(() => this.factory(), times));
  }

  /**
   * tf.data prefetch: keeps up to `bufferSize` elements computed ahead of the consumer (started when the
   * iteration starts). Errors are delivered in order, when the failing element would have been consumed.
   */
  prefetch(bufferSize: number): Dataset<T> {
    checkCount('prefetch', 'bufferSize', bufferSize, { min: 1 });
    return this.derive<T>('prefetch', { bufferSize }, () => readAhead(this.factory(), bufferSize, (x) => x, true));
  }

  /**
   * tf.data shard: keeps elements `index`, `index + numShards`, `index + 2·numShards`, … The shards
   * `0 … numShards−1` are disjoint and together hold every element exactly once. Skipped elements are
   * passed over lazily (see the module doc), so sharding early in the pipeline is cheap.
   * @throws UserError unless `0 ≤ index < numShards` are integers.
   */
  shard(numShards: number, index: number): Dataset<T> {
    checkCount('shard', 'numShards', numShards, { min: 1 });
    checkCount('shard', 'index', index);
    if (index >= numShards) throw new UserError(`Dataset.shard: index ${index} must be < numShards ${numShards}`);
    return this.derive<T>('shard', { numShards, index }, () => shardIterator(this.factory(), numShards, index));
  }

  /**
   * tf.data interleave (deterministic): maps each input element to a dataset with `fn` and cycles through
   * `cycleLength` of them at a time, taking `blockLength` (default 1) consecutive elements from each. A
   * slot whose dataset ends is refilled with the next input element's dataset when the cycle reaches it
   * (tf.data's InterleaveDataset order). Typical use: `files.interleave(f => TFRecordDataset(f), {cycleLength: 4})`.
   * @throws UserError if `fn` is not a function, or (during iteration) returns something other than a Dataset.
   */
  interleave<U>(fn: (x: T) => Dataset<U> | Promise<Dataset<U>>, options: { cycleLength: number; blockLength?: number }): Dataset<U> {
    if (typeof fn !== 'function') throw new UserError(`Dataset.interleave: expected a function returning a Dataset (got ${describeValue(fn)})`);
    const cycleLength = options?.cycleLength;
    const blockLength = options?.blockLength ?? 1;
    checkCount('interleave', 'cycleLength', cycleLength, { min: 1 });
    checkCount('interleave', 'blockLength', blockLength, { min: 1 });
    const open = async (x: T): Promise<Iter<U>> => {
      const ds = await fn(x);
      if (!(ds instanceof Dataset) && !(ds && typeof (ds as Dataset<U>).iterator === 'function'))
        throw new UserError(`Dataset.interleave: the function returned ${describeValue(ds)}, not a Dataset`);
      return ds.iterator();
    };
    return this.derive<U>('interleave', { cycleLength, blockLength }, () => interleaveIterator(this.factory(), open, cycleLength, blockLength));
  }

  /** tf.data take: the first `count` elements (all if the dataset is shorter; −1 = all). */
  take(count: number): Dataset<T> {
    const n = countOrAll(count);
    checkCount('take', 'count', n, { allowInfinity: true });
    return this.derive<T>('take', { count: n }, () => takeIterator(this.factory(), n));
  }

  /** tf.data skip: drops the first `count` elements (−1 = all). */
  skip(count: number): Dataset<T> {
    const n = countOrAll(count);
    checkCount('skip', 'count', n, { allowInfinity: true });
    return this.derive<T>('skip', { count: n }, () => skipIterator(this.factory(), n));
  }

  /**
   * tf.data.Dataset.with_options: attaches {@link DatasetOptions} (later calls override earlier ones).
   * @throws UserError for an unknown `autoShardPolicy`.
   */
  withOptions(options: DatasetOptions): Dataset<T> {
    const policy = options.autoShardPolicy;
    if (policy !== undefined && !['AUTO', 'DATA', 'OFF'].includes(policy))
      throw new UserError(`Dataset.withOptions: autoShardPolicy must be 'AUTO', 'DATA' or 'OFF' (got ${String(policy)})`);
    return new Dataset<T>({ op: 'options', args: {}, inputs: [this.node], options: { ...options } }, this.factory);
  }
}
