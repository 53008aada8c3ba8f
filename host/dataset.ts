/**
 * The input pipeline API of csrun, named after `tf.data`: {@link Dataset} (`fromTensorSlices`,
 * `fromGenerator`, `range`, `map`, `filter`, `shuffle`, `batch`, `repeat`, `prefetch`, `shard`,
 * `interleave`, `take`, `skip`), the element/batch format the wafer executor consumes
 * ({@link TensorData}, {@link Batch}) and the user's {@link InputFn} signature.
 *
 * Element structures. An element is a (nested) structure of plain objects, arrays (tuples) and leaves.
 * Leaves are {@link TensorData}, typed arrays (`Float32Array`, `Int32Array`, `Uint8Array`: a 1-D tensor of
 * that dtype), JS numbers (float32 scalars), strings, `null` / `undefined`. `batch(n)` stacks the leaves
 * of `n` elements into contiguous typed arrays with a new leading dimension `n` — every batched leaf owns
 * a fresh `ArrayBuffer`, so batches can be transferred between threads without copying.
 *
 * Determinism. Every op is deterministic given its seeds: `shuffle` draws from a seeded PRNG that is
 * re-seeded per iteration (epoch) from `(seed, iteration index)` as tf.data's `reshuffle_each_iteration`,
 * and `interleave` uses tf.data's deterministic cycle order. Without an op seed, `shuffle` derives one
 * from the global seed of {@link setRandomSeed} (tf.random.set_seed) and the op's creation index; the
 * support server sets the global seed in every worker before calling `inputFn`.
 *
 * Skipping. Iterators support a fast `skip(n)`: `fromTensorSlices`, `range`, `map`, `batch`, `take`,
 * `skip`, `shard` and `repeat` skip without materialising elements (so `map` functions are, as in
 * tf.data, assumed pure: a skipped element is never passed to the map function). `shard` and resuming
 * at a global step rely on this.
 */
import { UserError } from '../runtime/errors.ts';
import type { Mode } from '../runtime/graph.ts';
import type { Params } from '../runtime/params.ts';

// ---------------------------------------------------------------------------------------------------
// Tensors and batches

/** Element types of {@link TensorData}. */
export type TensorDType = 'float32' | 'int32' | 'uint8';
/** The typed arrays that back {@link TensorData}. */
export type TypedArray = Float32Array | Int32Array | Uint8Array;

/**
 * A dense tensor in row-major (C) order: `data.length === product(shape)`; `shape` `[]` is a scalar.
 * `dtype` matches the array class (float32 ↔ Float32Array, int32 ↔ Int32Array, uint8 ↔ Uint8Array).
 * This is the format the wafer executor consumes; it is structured-clonable and its buffer transferable.
 */
export interface TensorData {
  data: TypedArray;
  shape: number[];
  dtype: TensorDType;
}

/**
 * One batch as the executor consumes it: features a dict of named tensors, labels one tensor (absent in
 * PREDICT), batch dimension first on every tensor (MNIST: `features.image` `[batch, 28, 28, 1]` float32
 * in [0, 1], `labels` `[batch]` int32).
 */
export interface Batch {
  features: Record<string, TensorData>;
  labels?: TensorData;
}

/**
 * tf.distribute.InputContext: which of the support server's input pipelines (workers) calls `inputFn`.
 * An inputFn that reads all data itself should keep shard `inputPipelineId` of `numInputPipelines`
 * (`ds.shard(ctx.numInputPipelines, ctx.inputPipelineId)`); if it does not, the support server shards
 * the returned dataset's batches itself (see {@link DatasetOptions.autoShardPolicy}).
 */
export interface InputContext {
  /** Number of input pipelines (support-server workers), ≥ 1. */
  numInputPipelines: number;
  /** This pipeline's index in `[0, numInputPipelines)`. */
  inputPipelineId: number;
}

/**
 * The user's input function (`export function inputFn` in data.ts), as Cerebras' `input_fn(params, mode)`:
 * returns a Dataset of batches `{ features, labels }` (a `[features, labels]` tuple is accepted too).
 * @param params  the effective params (snake_case sections as in params.yaml).
 * @param mode    'train' | 'eval' | 'infer'.
 * @param context which input pipeline this is (given by the support server; absent when called directly).
 */
export type InputFn = (
  params: Params,
  mode: Mode,
  context?: InputContext,
) => Dataset<Batch> | Promise<Dataset<Batch>>;

/** The typed-array class of a dtype. */
export function typedArrayClass(dtype: TensorDType): Float32ArrayConstructor | Int32ArrayConstructor | Uint8ArrayConstructor {
  switch (dtype) {
    case 'float32':
      return Float32Array;
    case 'int32':
      return Int32Array;
    case 'uint8':
      return Uint8Array;
    default:
      throw new UserError(`unknown tensor dtype '${String(dtype)}'; expected float32, int32 or uint8`);
  }
}

/** The dtype of a typed array, or undefined if it is not one of Float32Array, Int32Array, Uint8Array(Clamped). */
export function dtypeOfArray(a: unknown): TensorDType | undefined {
  if (a instanceof Float32Array) return 'float32';
  if (a instanceof Int32Array) return 'int32';
  if (a instanceof Uint8Array || a instanceof Uint8ClampedArray) return 'uint8';
  return undefined;
}

/** True for any typed-array view (not DataView). */
function isArrayView(x: unknown): x is ArrayBufferView & ArrayLike<number> {
  return ArrayBuffer.isView(x) && !(x instanceof DataView);
}

/** Number of elements of a shape (1 for the scalar shape `[]`). */
export function shapeSize(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** `[a, b, c]` for messages. */
export function formatShape(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}

/** True if `x` looks like a {@link TensorData} (a typed-array `data`, an array `shape`, a string `dtype`). */
export function isTensorData(x: unknown): x is TensorData {
  return (
    typeof x === 'object' &&
    x !== null &&
    isArrayView((x as TensorData).data) &&
    Array.isArray((x as TensorData).shape) &&
    typeof (x as TensorData).dtype === 'string'
  );
}

/**
 * Builds a {@link TensorData} from a typed array and a shape.
 * @param data   Float32Array / Int32Array / Uint8Array, row-major.
 * @param shape  dimensions; defaults to `[data.length]`.
 * @throws UserError if `data.length` differs from the product of `shape`, or `data` is another array type.
 */
export function tensorData(data: TypedArray, shape: number[] = [data.length]): TensorData {
  const dtype = dtypeOfArray(data);
  if (!dtype) throw new UserError(`tensorData: data must be a Float32Array, Int32Array or Uint8Array (got ${describeValue(data)})`);
  if (!shape.every((d) => Number.isInteger(d) && d >= 0)) throw new UserError(`tensorData: invalid shape ${formatShape(shape)}`);
  if (shapeSize(shape) !== data.length)
    throw new UserError(`tensorData: shape ${formatShape(shape)} holds ${shapeSize(shape)} values but data has ${data.length}`);
  return { data, shape, dtype };
}

/** A short description of a value's type for error messages. */
export function describeValue(x: unknown): string {
  if (x === null) return 'null';
  if (x === undefined) return 'undefined';
  if (isTensorData(x)) return `a ${x.dtype} tensor of shape ${formatShape(x.shape)}`;
  if (isArrayView(x)) return `a ${x.constructor.name} of length ${(x as ArrayLike<number>).length}`;
  if (Array.isArray(x)) return `an array of length ${x.length}`;
  if (typeof x === 'object') return `an object with keys {${Object.keys(x).join(', ')}}`;
  return `${typeof x} ${String(x).slice(0, 40)}`;
}

function isPlainObject(x: unknown): x is Record<string, unknown> {
  if (typeof x !== 'object' || x === null) return false;
  const proto = Object.getPrototypeOf(x);
  return proto === Object.prototype || proto === null;
}

// ---------------------------------------------------------------------------------------------------
// Seeds and the PRNG

let globalSeed: number | undefined;
let opSeedCounter = 0;

/**
 * tf.random.set_seed: sets the global seed from which ops created afterwards without an explicit seed
 * (`shuffle()` without `{ seed }`) derive theirs, deterministically from the op's creation index.
 * `undefined` clears it (ops without a seed are then seeded randomly).
 */
export function setRandomSeed(seed: number | undefined): void {
  if (seed !== undefined && !Number.isFinite(seed)) throw new UserError(`setRandomSeed: seed must be a finite number (got ${seed})`);
  globalSeed = seed;
  opSeedCounter = 0;
}

/** The global seed set by {@link setRandomSeed}, if any. */
export function getRandomSeed(): number | undefined {
  return globalSeed;
}

/** MurmurHash3's 32-bit finaliser. */
function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * Mixes numbers (any finite values; integers beyond 32 bits use both halves) into one 32-bit seed.
 * Exported for readers and tests that derive per-shard or per-epoch seeds.
 */
export function mixSeeds(...xs: number[]): number {
  let h = 0x9e3779b9;
  for (const x of xs) {
    const t = Math.trunc(x);
    const lo = t >>> 0;
    const hi = Math.floor(t / 4294967296) >>> 0;
    h = fmix32((h ^ fmix32(lo + 0x6a09e667)) + 0x3c6ef372);
    h = fmix32((h ^ fmix32(hi + 0xbb67ae85)) + 0xa54ff53a);
  }
  return h >>> 0;
}

/**
 * A seeded 32-bit PRNG (mulberry32): `nextUint32()` in [0, 2³²), `nextInt(n)` uniform in [0, n).
 * Used by `shuffle`; exported so that user `map` functions can draw reproducible augmentations.
 */
export class Random {
  private state: number;
  constructor(seed: number) {
    this.state = mixSeeds(seed) | 0;
  }
  /** A uniform 32-bit unsigned integer. */
  nextUint32(): number {
    let a = (this.state = (this.state + 0x6d2b79f5) | 0);
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return (t ^ (t >>> 14)) >>> 0;
  }
  /** A uniform integer in [0, n) for 1 ≤ n ≤ 2³². */
  nextInt(n: number): number {
    return Math.floor((this.nextUint32() / 4294967296) * n);
  }
  /** A uniform float in [0, 1). */
  nextFloat(): number {
    return this.nextUint32() / 4294967296;
  }
}

// ---------------------------------------------------------------------------------------------------
// Iterators

type Result<T> = IteratorResult<T, undefined>;
const DONE: Result<never> = Object.freeze({ done: true, value: undefined }) as Result<never>;

/**
 * The iterator protocol inside a pipeline. `next` after the end keeps returning done. `skip(n)` advances
 * past up to n elements and resolves to how many it skipped (fewer only at the end). `return` releases
 * resources and is idempotent.
 */
interface Iter<T> {
  next(): Promise<Result<T>>;
  skip(n: number): Promise<number>;
  return(): Promise<void>;
}

/** skip(n) by calling next() n times. */
async function skipByNext<T>(it: { next(): Promise<Result<T>> }, n: number): Promise<number> {
  let k = 0;
  while (k < n) {
    const r = await it.next();
    if (r.done) break;
    k++;
  }
  return k;
}

function checkCount(op: string, name: string, n: number, { min = 0, allowInfinity = false } = {}): void {
  if (allowInfinity && n === Infinity) return;
  if (!Number.isInteger(n) || n < min) throw new UserError(`Dataset.${op}: ${name} must be an integer ≥ ${min} (got ${n})`);
}

// ---------------------------------------------------------------------------------------------------
// Slicing and stacking

/** Element type of `Dataset.fromTensorSlices(s)`. */
export type Sliced<S> = S extends TensorData | TypedArray
  ? TensorData
  : S extends readonly (infer E)[]
    ? E
    : S extends Record<string, unknown>
      ? { [K in keyof S]: Sliced<S[K]> }
      : never;

/** Type of a batch of elements of type T (see {@link Dataset.batch}). */
export type Batched<T> = T extends TensorData | TypedArray | number
  ? TensorData
  : T extends string
    ? string[]
    : T extends null | undefined
      ? T
      : T extends readonly unknown[]
        ? { [K in keyof T]: Batched<T[K]> }
        : T extends object
          ? { [K in keyof T]: Batched<T[K]> }
          : never;

interface SliceLeaf {
  kind: 'tensor' | 'list';
  length: number;
  slice(i: number): unknown;
}

/** Compiles a fromTensorSlices structure into a slicer; returns [n, slice(i)]. */
function compileSlicer(s: unknown, path: string, leaves: { path: string; n: number }[]): (i: number) => unknown {
  if (isTensorData(s)) {
    if (s.shape.length === 0) throw new UserError(`Dataset.fromTensorSlices: '${path || '(root)'}' is a scalar; slices need a leading dimension`);
    if (s.data.length !== shapeSize(s.shape))
      throw new UserError(`Dataset.fromTensorSlices: '${path || '(root)'}' has shape ${formatShape(s.shape)} but ${s.data.length} values`);
    const rest = s.shape.slice(1);
    const size = shapeSize(rest);
    const data = s.data;
    const dtype = s.dtype;
    leaves.push({ path, n: s.shape[0] });
    return (i) => ({ data: data.subarray(i * size, (i + 1) * size), shape: rest.slice(), dtype });
  }
  if (isArrayView(s)) {
    const dtype = dtypeOfArray(s);
    if (!dtype) throw new UserError(`Dataset.fromTensorSlices: '${path || '(root)'}' is a ${s.constructor.name}; use Float32Array, Int32Array or Uint8Array`);
    const data = s as unknown as TypedArray;
    leaves.push({ path, n: data.length });
    return (i) => ({ data: data.subarray(i, i + 1), shape: [], dtype });
  }
  if (Array.isArray(s)) {
    leaves.push({ path, n: s.length });
    return (i) => s[i];
  }
  if (isPlainObject(s)) {
    const keys = Object.keys(s);
    const fns = keys.map((k) => compileSlicer(s[k], path ? `${path}.${k}` : k, leaves));
    return (i) => {
      const out: Record<string, unknown> = {};
      for (let j = 0; j < keys.length; j++) out[keys[j]] = fns[j](i);
      return out;
    };
  }
  throw new UserError(
    `Dataset.fromTensorSlices: '${path || '(root)'}' is ${describeValue(s)}; expected a TensorData, a typed array, an array or a dict of these`,
  );
}

/**
 * Stacks n elements of one structure into a batch (see {@link Dataset.batch}).
 * @throws UserError naming the structure path and both shapes when elements differ in structure, shape or dtype.
 */
export function stackElements(elems: readonly unknown[], path = ''): unknown {
  const n = elems.length;
  const first = elems[0];
  const where = path || '(element)';
  const mismatch = (i: number, what: string) =>
    new UserError(`Dataset.batch: cannot batch element ${i} with element 0 at '${where}': ${what}; elements of a batch must have equal structure, shapes and dtypes`);
  if (isTensorData(first) || isArrayView(first)) {
    const t0 = asTensor(first, where);
    const size = t0.data.length;
    const Ctor = typedArrayClass(t0.dtype);
    const out = new Ctor(n * size);
    for (let i = 0; i < n; i++) {
      const e = elems[i];
      if (!(isTensorData(e) || isArrayView(e))) throw mismatch(i, `${describeValue(e)} vs ${describeValue(first)}`);
      const t = i === 0 ? t0 : asTensor(e, where);
      if (t.dtype !== t0.dtype) throw mismatch(i, `dtype ${t.dtype} vs ${t0.dtype}`);
      if (t.shape.length !== t0.shape.length || t.shape.some((d, j) => d !== t0.shape[j]))
        throw mismatch(i, `shape ${formatShape(t.shape)} vs ${formatShape(t0.shape)}`);
      out.set(t.data, i * size);
    }
    return { data: out, shape: [n, ...t0.shape], dtype: t0.dtype } satisfies TensorData;
  }
  if (typeof first === 'number') {
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      const e = elems[i];
      if (typeof e !== 'number') throw mismatch(i, `${describeValue(e)} vs a number`);
      out[i] = e;
    }
    return { data: out, shape: [n], dtype: 'float32' } satisfies TensorData;
  }
  if (typeof first === 'string') {
    for (let i = 0; i < n; i++) if (typeof elems[i] !== 'string') throw mismatch(i, `${describeValue(elems[i])} vs a string`);
    return elems.slice();
  }
  if (first === null || first === undefined) {
    for (let i = 0; i < n; i++) if (elems[i] !== first) throw mismatch(i, `${describeValue(elems[i])} vs ${describeValue(first)}`);
    return first;
  }
  if (Array.isArray(first)) {
    for (let i = 0; i < n; i++) {
      const e = elems[i];
      if (!Array.isArray(e) || e.length !== first.length) throw mismatch(i, `${describeValue(e)} vs ${describeValue(first)}`);
    }
    return first.map((_, j) => stackElements(elems.map((e) => (e as unknown[])[j]), `${path}[${j}]`));
  }
  if (isPlainObject(first)) {
    const keys = Object.keys(first);
    for (let i = 0; i < n; i++) {
      const e = elems[i];
      if (!isPlainObject(e)) throw mismatch(i, `${describeValue(e)} vs ${describeValue(first)}`);
      const ek = Object.keys(e);
      if (ek.length !== keys.length || keys.some((k) => !(k in e))) throw mismatch(i, `keys {${ek.join(', ')}} vs {${keys.join(', ')}}`);
    }
    const out: Record<string, unknown> = {};
    for (const k of keys) out[k] = stackElements(elems.map((e) => (e as Record<string, unknown>)[k]), path ? `${path}.${k}` : k);
    return out;
  }
  throw new UserError(`Dataset.batch: cannot batch ${describeValue(first)} at '${where}'; leaves must be TensorData, typed arrays, numbers or strings`);
}

function asTensor(x: unknown, where: string): TensorData {
  if (isTensorData(x)) {
    const dt = dtypeOfArray(x.data);
    if (dt !== x.dtype) throw new UserError(`'${where}': tensor dtype '${x.dtype}' does not match its ${x.data.constructor.name}`);
    if (x.data.length !== shapeSize(x.shape))
      throw new UserError(`'${where}': tensor of shape ${formatShape(x.shape)} holds ${x.data.length} values instead of ${shapeSize(x.shape)}`);
    return x;
  }
  const dtype = dtypeOfArray(x);
  if (!dtype) throw new UserError(`'${where}': ${describeValue(x)} is not supported; use Float32Array, Int32Array or Uint8Array`);
  const v = x as ArrayBufferView & { length: number };
  const a: TypedArray = v instanceof Uint8ClampedArray ? new Uint8Array(v.buffer, v.byteOffset, v.length) : (v as TypedArray);
  return { data: a, shape: [a.length], dtype };
}

// ---------------------------------------------------------------------------------------------------
// Options and lineage

/**
 * tf.data.Options (the part csrun uses), attached with {@link Dataset.withOptions}.
 * `autoShardPolicy` (tf.data.experimental.AutoShardPolicy) tells the support server how to split the
 * dataset across its N input workers when `inputFn` was given an {@link InputContext}:
 * - `'AUTO'` (default): if the pipeline already contains `shard(N, i)` for this worker, leave it; else
 *   behave as `'DATA'`.
 * - `'DATA'`: every worker builds the whole pipeline and keeps batches i, i+N, i+2N, … (the merged order
 *   is then the same for every N; upstream work that cannot be skipped lazily is repeated per worker).
 * - `'OFF'`: no sharding; every worker's batches are used as they are (the inputFn must shard itself).
 */
export interface DatasetOptions {
  autoShardPolicy?: 'AUTO' | 'DATA' | 'OFF';
}

/** One node of a dataset's lineage (the op that made it and its input datasets). */
export interface DatasetNode {
  op: string;
  args: Record<string, unknown>;
  inputs: DatasetNode[];
  options?: DatasetOptions;
}

/** Calls `visit` on every node of a lineage (depth first, inputs after the node). */
export function walkLineage(node: DatasetNode, visit: (n: DatasetNode) => void): void {
  visit(node);
  for (const i of node.inputs) walkLineage(i, visit);
}

/** The options in effect for a dataset: options set closer to the output override upstream ones. */
export function datasetOptions(ds: Dataset<unknown>): DatasetOptions {
  const chain: DatasetOptions[] = [];
  walkLineage(ds.node, (n) => {
    if (n.options) chain.push(n.options);
  });
  return Object.assign({}, ...chain.reverse());
}

// ---------------------------------------------------------------------------------------------------
// Dataset

/**
 * A lazily evaluated, re-iterable sequence of elements (tf.data.Dataset). Each `for await` (or each epoch
 * of `repeat`) starts a fresh iteration of the whole pipeline. Methods return new datasets; the receiver
 * is unchanged.
 */
/**
 * An iterator that keeps up to `depth` elements of `up` in flight ahead of the consumer (parallel map,
 * prefetch): upstream calls are serialised, `transform` calls may overlap, order is preserved and an error
 * is delivered when the failing element would have been consumed. `eager` starts reading before the first
 * `next()` and refills the buffer as soon as an element is taken (prefetch); otherwise at most `depth` calls
 * are in flight, the consumed one included (parallel map).
 */
function readAhead<T, U>(up: Iter<T>, depth: number, transform: (x: T) => U | Promise<U>, eager: boolean): Iter<U> {
  let chain: Promise<unknown> = Promise.resolve();
  let upDone = false;
  let closed = false;
  const queue: Promise<Result<U>>[] = [];
  const fill = () => {
    while (!upDone && !closed && queue.length < depth) {
      const r = chain.then(() => (upDone || closed ? DONE : up.next()));
      chain = r.then(
        (x) => {
          if (x.done) upDone = true;
        },
        () => {
          upDone = true;
        },
      );
      const p = r.then(async (x): Promise<Result<U>> => (x.done ? DONE : { done: false, value: await transform(x.value) }));
      p.catch(() => {});
      queue.push(p);
    }
  };
  if (eager) fill();
  return {
    next: async () => {
      fill();
      const p = queue.shift();
      if (!p) return DONE;
      if (eager) {
        // A buffer: refill at once, `depth` elements stay ready besides the one being consumed.
        fill();
        return p;
      }
      // Parallel calls: the element being consumed still counts against `depth` until it is done.
      const r = await p;
      fill();
      return r;
    },
    skip: async (n) => {
      let s = 0;
      while (s < n && queue.length) {
        const r = await queue.shift()!;
        if (r.done) return s;
        s++;
      }
      if (s < n && !upDone) {
        const p = chain.then(() => up.skip(n - s));
        chain = p.catch(() => {});
        const m = await p;
        if (m < n - s) upDone = true;
        s += m;
      }
      if (eager) fill();
      return s;
    },
    return: async () => {
      closed = true;
      queue.length = 0;
      await chain;
      await up.return();
    },
  };
}

export class Dataset<T> implements AsyncIterable<T> {
  /** @internal use the static constructors. */
  constructor(
    /** The op that made this dataset and its inputs (used for auto-sharding decisions). */
    readonly node: DatasetNode,
    private readonly factory: () => Iter<T>,
  ) {}

  private derive<U>(op: string, args: Record<string, unknown>, factory: () => Iter<U>, extraInputs: DatasetNode[] = []): Dataset<U> {
    return new Dataset<U>({ op, args, inputs: [this.node, ...extraInputs] }, factory);
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
    const leaves: { path: string; n: number }[] = [];
    const slice = compileSlicer(slices, '', leaves);
    if (leaves.length === 0) throw new UserError('Dataset.fromTensorSlices: the structure has no tensors to slice');
    const n = leaves[0].n;
    const bad = leaves.find((l) => l.n !== n);
    if (bad)
      throw new UserError(
        `Dataset.fromTensorSlices: leading dimensions differ: '${leaves[0].path || '(root)'}' has ${n} elements, '${bad.path || '(root)'}' has ${bad.n}`,
      );
    return new Dataset<Sliced<S>>({ op: 'fromTensorSlices', args: { length: n }, inputs: [] }, () => {
      let i = 0;
      return {
        next: async () => (i < n ? { done: false, value: slice(i++) as Sliced<S> } : DONE),
        skip: async (k) => {
          const s = Math.max(0, Math.min(k, n - i));
          i += s;
          return s;
        },
        return: async () => {
          i = n;
        },
      };
    });
  }

  /**
   * tf.data.Dataset.from_generator: `generator()` is called anew for every iteration; it may return a
   * sync or async iterable. Errors thrown by the generator propagate to the consumer.
   */
  static fromGenerator<T>(generator: () => Iterable<T> | AsyncIterable<T>): Dataset<T> {
    if (typeof generator !== 'function') throw new UserError(`Dataset.fromGenerator: expected a function returning an iterable (got ${describeValue(generator)})`);
    return new Dataset<T>({ op: 'fromGenerator', args: {}, inputs: [] }, () => {
      let it: Iterator<T> | AsyncIterator<T> | undefined;
      let finished = false;
      const self = {
        next: async (): Promise<Result<T>> => {
          if (finished) return DONE;
          if (!it) {
            const src = generator();
            if (src && typeof (src as AsyncIterable<T>)[Symbol.asyncIterator] === 'function') it = (src as AsyncIterable<T>)[Symbol.asyncIterator]();
            else if (src && typeof (src as Iterable<T>)[Symbol.iterator] === 'function') it = (src as Iterable<T>)[Symbol.iterator]();
            else throw new UserError(`Dataset.fromGenerator: the generator function returned ${describeValue(src)}, not an iterable`);
          }
          const r = await it.next();
          if (r.done) {
            finished = true;
            return DONE;
          }
          return { done: false, value: r.value };
        },
        skip: (k: number) => skipByNext(self, k),
        return: async () => {
          if (!finished && it?.return) {
            finished = true;
            await it.return();
          }
          finished = true;
        },
      };
      return self;
    });
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
    return new Dataset<number>({ op: 'range', args: { start, stop, step }, inputs: [] }, () => {
      let i = 0;
      return {
        next: async () => (i < n ? { done: false, value: s0 + step * i++ } : DONE),
        skip: async (k) => {
          const s = Math.max(0, Math.min(k, n - i));
          i += s;
          return s;
        },
        return: async () => {
          i = n;
        },
      };
    });
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
    return this.derive<U>('map', { numParallelCalls: k }, () => {
      const up = this.factory();
      if (k === 1) {
        return {
          next: async () => {
            const r = await up.next();
            return r.done ? DONE : { done: false, value: await fn(r.value) };
          },
          skip: (n) => up.skip(n),
          return: () => up.return(),
        };
      }
      return readAhead(up, k, fn, false);
    });
  }

  /** tf.data filter: keeps the elements for which `predicate` returns true (sync or async). */
  filter(predicate: (x: T) => boolean | Promise<boolean>): Dataset<T> {
    if (typeof predicate !== 'function') throw new UserError(`Dataset.filter: expected a function (got ${describeValue(predicate)})`);
    return this.derive<T>('filter', {}, () => {
      const up = this.factory();
      const self: Iter<T> = {
        next: async () => {
          for (;;) {
            const r = await up.next();
            if (r.done) return DONE;
            if (await predicate(r.value)) return r;
          }
        },
        skip: (n) => skipByNext(self, n),
        return: () => up.return(),
      };
      return self;
    });
  }

  /**
   * tf.data shuffle: a buffer of `bufferSize` elements; each output is drawn uniformly from the buffer and
   * its slot refilled from upstream. With `reshuffleEachIteration` (default true, as tf.data) iteration e
   * (e.g. epoch e of a following `repeat`) uses seed `(seed, e)`: a different order per epoch, the same
   * sequence of orders for the same seed. Without `seed`: derived from {@link setRandomSeed}'s global seed
   * and this op's creation index, or random if no global seed is set.
   */
  shuffle(bufferSize: number, options: { seed?: number; reshuffleEachIteration?: boolean } = {}): Dataset<T> {
    checkCount('shuffle', 'bufferSize', bufferSize, { min: 1 });
    const reshuffle = options.reshuffleEachIteration ?? true;
    let seed: number;
    if (options.seed !== undefined) {
      if (!Number.isFinite(options.seed)) throw new UserError(`Dataset.shuffle: seed must be a finite number (got ${options.seed})`);
      seed = options.seed;
    } else if (globalSeed !== undefined) seed = mixSeeds(globalSeed, opSeedCounter++);
    else seed = Math.floor(Math.random() * 4294967296);
    let iteration = 0;
    return this.derive<T>('shuffle', { bufferSize, seed, reshuffleEachIteration: reshuffle }, () => {
      const rng = new Random(mixSeeds(seed, reshuffle ? iteration++ : 0));
      const up = this.factory();
      const buf: T[] = [];
      let upDone = false;
      let filled = false;
      const self: Iter<T> = {
        next: async () => {
          if (!filled) {
            filled = true;
            while (buf.length < bufferSize) {
              const r = await up.next();
              if (r.done) {
                upDone = true;
                break;
              }
              buf.push(r.value);
            }
          }
          if (buf.length === 0) return DONE;
          const j = rng.nextInt(buf.length);
          const out = buf[j];
          const r = upDone ? DONE : await up.next();
          if (r.done) {
            upDone = true;
            buf[j] = buf[buf.length - 1];
            buf.pop();
          } else buf[j] = r.value;
          return { done: false, value: out };
        },
        skip: (n) => skipByNext(self, n),
        return: async () => {
          buf.length = 0;
          upDone = true;
          await up.return();
        },
      };
      return self;
    });
  }

  /**
   * tf.data batch: stacks `batchSize` consecutive elements into one (see {@link stackElements}): every
   * leaf gets a leading dimension of the batch size and its own contiguous buffer. The last batch may be
   * smaller unless `dropRemainder`.
   * @throws UserError (during iteration) if the elements of a batch differ in structure, shape or dtype.
   */
  batch(batchSize: number, options: { dropRemainder?: boolean } = {}): Dataset<Batched<T>> {
    checkCount('batch', 'batchSize', batchSize, { min: 1 });
    const drop = options.dropRemainder ?? false;
    return this.derive<Batched<T>>('batch', { batchSize, dropRemainder: drop }, () => {
      const up = this.factory();
      let done = false;
      return {
        next: async () => {
          if (done) return DONE;
          const elems: T[] = [];
          while (elems.length < batchSize) {
            const r = await up.next();
            if (r.done) {
              done = true;
              break;
            }
            elems.push(r.value);
          }
          if (elems.length === 0 || (drop && elems.length < batchSize)) return DONE;
          return { done: false, value: stackElements(elems) as Batched<T> };
        },
        skip: async (n) => {
          if (done || n <= 0) return 0;
          const m = await up.skip(n * batchSize);
          if (m < n * batchSize) done = true;
          return drop ? Math.floor(m / batchSize) : Math.ceil(m / batchSize);
        },
        return: async () => {
          done = true;
          await up.return();
        },
      };
    });
  }

  /**
   * tf.data repeat: iterates the dataset `count` times (default: forever), each pass a new iteration (so a
   * preceding shuffle reshuffles). Repeating an empty dataset yields nothing.
   */
  repeat(count?: number): Dataset<T> {
    const times = count === undefined || count === -1 ? Infinity : count;
    checkCount('repeat', 'count', times, { allowInfinity: true });
    return this.derive<T>('repeat', { count: times }, () => {
      let epoch = 0;
      let cur: Iter<T> | undefined = times > 0 ? this.factory() : undefined;
      let producedThisEpoch = false;
      const nextEpoch = async (): Promise<boolean> => {
        await cur!.return();
        epoch++;
        if (epoch >= times || !producedThisEpoch) {
          cur = undefined;
          return false;
        }
        producedThisEpoch = false;
        cur = this.factory();
        return true;
      };
      return {
        next: async () => {
          while (cur) {
            const r = await cur.next();
            if (!r.done) {
              producedThisEpoch = true;
              return r;
            }
            if (!(await nextEpoch())) break;
          }
          return DONE;
        },
        skip: async (n) => {
          let s = 0;
          while (cur && s < n) {
            const m = await cur.skip(n - s);
            if (m > 0) producedThisEpoch = true;
            s += m;
            if (s < n && !(await nextEpoch())) break;
          }
          return s;
        },
        return: async () => {
          const c = cur;
          cur = undefined;
          await c?.return();
        },
      };
    });
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
    return this.derive<T>('shard', { numShards, index }, () => {
      const up = this.factory();
      let pos = 0; // upstream elements consumed
      let j = 0; // shard elements produced or skipped
      let done = false;
      const seekTo = async (target: number): Promise<boolean> => {
        if (pos < target) {
          const m = await up.skip(target - pos);
          pos += m;
          if (pos < target) {
            done = true;
            return false;
          }
        }
        return true;
      };
      return {
        next: async () => {
          if (done) return DONE;
          if (!(await seekTo(index + j * numShards))) return DONE;
          const r = await up.next();
          if (r.done) {
            done = true;
            return DONE;
          }
          pos++;
          j++;
          return r;
        },
        skip: async (k) => {
          if (done || k <= 0) return 0;
          const target = index + (j + k) * numShards;
          const m = await up.skip(target - pos);
          pos += m;
          const covered = Math.min(k, Math.max(0, Math.ceil((pos - index) / numShards) - j));
          j += covered;
          if (covered < k) done = true;
          return covered;
        },
        return: async () => {
          done = true;
          await up.return();
        },
      };
    });
  }

  /**
   * tf.data interleave (deterministic): maps each input element to a dataset with `fn` and cycles through
   * `cycleLength` of them at a time, taking `blockLength` (default 1) consecutive elements from each. A
   * slot whose dataset ends is refilled with the next input element's dataset when the cycle reaches it
   * (tf.data's InterleaveDataset order). Typical use: `files.interleave(f => TFRecordDataset(f), {cycleLength: 4})`.
   */
  interleave<U>(fn: (x: T) => Dataset<U> | Promise<Dataset<U>>, options: { cycleLength: number; blockLength?: number }): Dataset<U> {
    if (typeof fn !== 'function') throw new UserError(`Dataset.interleave: expected a function returning a Dataset (got ${describeValue(fn)})`);
    const cycleLength = options?.cycleLength;
    const blockLength = options?.blockLength ?? 1;
    checkCount('interleave', 'cycleLength', cycleLength, { min: 1 });
    checkCount('interleave', 'blockLength', blockLength, { min: 1 });
    return this.derive<U>('interleave', { cycleLength, blockLength }, () => {
      const input = this.factory();
      const slots: (Iter<U> | null)[] = new Array(cycleLength).fill(null);
      let ci = 0;
      let bi = 0;
      let open = 0;
      let endOfInput = false;
      const advance = () => {
        bi = 0;
        ci = (ci + 1) % cycleLength;
      };
      const self: Iter<U> = {
        next: async () => {
          while (!endOfInput || open > 0) {
            const cur = slots[ci];
            if (cur) {
              const r = await cur.next();
              if (!r.done) {
                if (++bi === blockLength) advance();
                return r;
              }
              await cur.return();
              slots[ci] = null;
              open--;
              advance();
            } else if (!endOfInput) {
              const x = await input.next();
              if (x.done) endOfInput = true;
              else {
                const ds = await fn(x.value);
                if (!(ds instanceof Dataset) && !(ds && typeof (ds as Dataset<U>).iterator === 'function'))
                  throw new UserError(`Dataset.interleave: the function returned ${describeValue(ds)}, not a Dataset`);
                slots[ci] = ds.iterator();
                open++;
              }
            } else advance();
          }
          return DONE;
        },
        skip: (n) => skipByNext(self, n),
        return: async () => {
          endOfInput = true;
          const its = slots.filter((s): s is Iter<U> => s !== null);
          slots.fill(null);
          open = 0;
          await Promise.all(its.map((s) => s.return()));
          await input.return();
        },
      };
      return self;
    });
  }

  /** tf.data take: the first `count` elements (all if the dataset is shorter; −1 = all). */
  take(count: number): Dataset<T> {
    const n = count === -1 ? Infinity : count;
    checkCount('take', 'count', n, { allowInfinity: true });
    return this.derive<T>('take', { count: n }, () => {
      const up = this.factory();
      let left = n;
      return {
        next: async () => {
          if (left <= 0) return DONE;
          const r = await up.next();
          if (r.done) {
            left = 0;
            return DONE;
          }
          left--;
          return r;
        },
        skip: async (k) => {
          const want = Math.min(k, left);
          if (want <= 0) return 0;
          const m = await up.skip(want);
          left = m < want ? 0 : left - m;
          return m;
        },
        return: async () => {
          left = 0;
          await up.return();
        },
      };
    });
  }

  /** tf.data skip: drops the first `count` elements (−1 = all). */
  skip(count: number): Dataset<T> {
    const n = count === -1 ? Infinity : count;
    checkCount('skip', 'count', n, { allowInfinity: true });
    return this.derive<T>('skip', { count: n }, () => {
      const up = this.factory();
      let pending = n;
      const settle = async () => {
        if (pending > 0) {
          const p = pending;
          pending = 0;
          if (p === Infinity) {
            while (!(await up.next()).done);
          } else await up.skip(p);
        }
      };
      return {
        next: async () => {
          await settle();
          return up.next();
        },
        skip: async (k) => {
          await settle();
          return up.skip(k);
        },
        return: () => up.return(),
      };
    });
  }

  /** tf.data.Dataset.with_options: attaches {@link DatasetOptions} (later calls override earlier ones). */
  withOptions(options: DatasetOptions): Dataset<T> {
    const policy = options.autoShardPolicy;
    if (policy !== undefined && !['AUTO', 'DATA', 'OFF'].includes(policy))
      throw new UserError(`Dataset.withOptions: autoShardPolicy must be 'AUTO', 'DATA' or 'OFF' (got ${String(policy)})`);
    return new Dataset<T>({ op: 'options', args: {}, inputs: [this.node], options: { ...options } }, this.factory);
  }
}

/**
 * Whether the dataset's lineage contains `shard(numShards, index)` (the inputFn sharded itself by its
 * {@link InputContext}).
 */
export function hasShard(ds: Dataset<unknown>, numShards: number, index: number): boolean {
  let found = false;
  walkLineage(ds.node, (n) => {
    if (n.op === 'shard' && n.args.numShards === numShards && n.args.index === index) found = true;
  });
  return found;
}
