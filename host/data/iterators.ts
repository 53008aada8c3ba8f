/**
 * The iterators behind `Dataset`'s sources and transformations (as tfjs-data's lazy iterators):
 * each takes its upstream iterator(s) and the op's checked arguments, and implements the pipeline
 * protocol {@link Iter}, including a fast `skip(n)` wherever elements can be passed over without
 * materialising them. Argument checking and lineage live in dataset.ts; the read-ahead iterator of
 * `prefetch` and parallel `map` in read-ahead.ts.
 */
import type { Random } from '../../runtime/random.ts';

/** One step of an iterator. */
export type Result<T> = IteratorResult<T, undefined>;
/** The end of a sequence. */
export const DONE: Result<never> = Object.freeze({ done: true, value: undefined }) as Result<never>;

/**
 * The iterator protocol inside a pipeline. `next` after the end keeps returning done. `skip(n)` advances
 * past up to n elements and resolves to how many it skipped (fewer only at the end). `return` releases
 * resources and is idempotent.
 */
export interface Iter<T> {
  next(): Promise<Result<T>>;
  skip(n: number): Promise<number>;
  return(): Promise<void>;
}

/** skip(n) by calling next() n times. */
export async function skipByNext<T>(it: { next(): Promise<Result<T>> }, n: number): Promise<number> {
  let k = 0;
  while (k < n) {
    const r = await it.next();
    if (r.done) break;
    k++;
  }
  return k;
}

/**
 * Reads upstream elements into `into` until it holds `n`.
 * @returns true if upstream ended first.
 */
async function pullInto<T>(up: Iter<T>, into: T[], n: number): Promise<boolean> {
  while (into.length < n) {
    const r = await up.next();
    if (r.done) return true;
    into.push(r.value);
  }
  return false;
}

/** Elements `at(0) … at(n−1)` of an indexable source (fromTensorSlices, range); skips in O(1). */
export function indexIterator<T>(n: number, at: (i: number) => T): Iter<T> {
  let i = 0;
  return {
    next: async () => (i < n ? { done: false, value: at(i++) } : DONE),
    skip: async (k) => {
      const s = Math.max(0, Math.min(k, n - i));
      i += s;
      return s;
    },
    return: async () => {
      i = n;
    },
  };
}

/**
 * The elements of the (sync or async) iterable `open()` returns, opened at the first `next()`.
 * @param check called with what `open()` returned when it is not an iterable; it must throw.
 */
export function iterableIterator<T>(open: () => Iterable<T> | AsyncIterable<T>, check: (got: unknown) => never): Iter<T> {
  let it: Iterator<T> | AsyncIterator<T> | undefined;
  let finished = false;
  const self: Iter<T> = {
    next: async () => {
      if (finished) return DONE;
      if (!it) {
        const src = open();
        if (src && typeof (src as AsyncIterable<T>)[Symbol.asyncIterator] === 'function') it = (src as AsyncIterable<T>)[Symbol.asyncIterator]();
        else if (src && typeof (src as Iterable<T>)[Symbol.iterator] === 'function') it = (src as Iterable<T>)[Symbol.iterator]();
        else check(src);
      }
      const r = await it!.next();
      if (r.done) {
        finished = true;
        return DONE;
      }
      return { done: false, value: r.value };
    },
    skip: (k) => skipByNext(self, k),
    return: async () => {
      if (!finished && it?.return) {
        finished = true;
        await it.return();
      }
      finished = true;
    },
  };
  return self;
}

/** `fn` applied to every element, one call at a time; skips without calling `fn`. */
export function mapIterator<T, U>(up: Iter<T>, fn: (x: T) => U | Promise<U>): Iter<U> {
  return {
    next: async () => {
      const r = await up.next();
      return r.done ? DONE : { done: false, value: await fn(r.value) };
    },
    skip: (n) => up.skip(n),
    return: () => up.return(),
  };
}

/** The elements for which `predicate` holds. */
export function filterIterator<T>(up: Iter<T>, predicate: (x: T) => boolean | Promise<boolean>): Iter<T> {
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
}

/**
 * tf.data's shuffle buffer: fills `bufferSize` elements, then each output is drawn uniformly from the
 * buffer with `rng.nextInt` and its slot refilled from upstream (at the end, the last slot moves in).
 */
export function shuffleIterator<T>(up: Iter<T>, bufferSize: number, rng: Random): Iter<T> {
  const buf: T[] = [];
  let upDone = false;
  let filled = false;
  const self: Iter<T> = {
    next: async () => {
      if (!filled) {
        filled = true;
        upDone = await pullInto(up, buf, bufferSize);
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
}

/**
 * Groups of `batchSize` consecutive elements, combined by `stack` (the last group may be smaller unless
 * `dropRemainder`). Skipping n batches skips `n · batchSize` elements upstream.
 */
export function batchIterator<T, B>(up: Iter<T>, batchSize: number, dropRemainder: boolean, stack: (elems: T[]) => B): Iter<B> {
  let done = false;
  return {
    next: async () => {
      if (done) return DONE;
      const elems: T[] = [];
      done = await pullInto(up, elems, batchSize);
      if (elems.length === 0 || (dropRemainder && elems.length < batchSize)) return DONE;
      return { done: false, value: stack(elems) };
    },
    skip: async (n) => {
      if (done || n <= 0) return 0;
      const m = await up.skip(n * batchSize);
      if (m < n * batchSize) done = true;
      return dropRemainder ? Math.floor(m / batchSize) : Math.ceil(m / batchSize);
    },
    return: async () => {
      done = true;
      await up.return();
    },
  };
}

/**
 * `times` passes (Infinity: forever), each a fresh iterator from `open()`; stops early after a pass that
 * produced nothing (repeating an empty dataset yields nothing).
 */
export function repeatIterator<T>(open: () => Iter<T>, times: number): Iter<T> {
  let epoch = 0;
  let cur: Iter<T> | undefined = times > 0 ? open() : undefined;
  let producedThisEpoch = false;
  const nextEpoch = async (): Promise<boolean> => {
    await cur!.return();
    epoch++;
    if (epoch >= times || !producedThisEpoch) {
      cur = undefined;
      return false;
    }
    producedThisEpoch = false;
    cur = open();
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
}

/** Upstream elements `index`, `index + numShards`, …, reached with upstream `skip`. */
export function shardIterator<T>(up: Iter<T>, numShards: number, index: number): Iter<T> {
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
}

/**
 * tf.data's deterministic interleave: cycles through `cycleLength` iterators opened by `open(x)` on
 * consecutive input elements, `blockLength` elements from each; a slot whose iterator ends is refilled
 * from the next input element when the cycle reaches it.
 */
export function interleaveIterator<T, U>(input: Iter<T>, open: (x: T) => Promise<Iter<U>>, cycleLength: number, blockLength: number): Iter<U> {
  const slots: (Iter<U> | null)[] = new Array(cycleLength).fill(null);
  let ci = 0;
  let bi = 0;
  let openSlots = 0;
  let endOfInput = false;
  const advance = () => {
    bi = 0;
    ci = (ci + 1) % cycleLength;
  };
  const self: Iter<U> = {
    next: async () => {
      while (!endOfInput || openSlots > 0) {
        const cur = slots[ci];
        if (cur) {
          const r = await cur.next();
          if (!r.done) {
            if (++bi === blockLength) advance();
            return r;
          }
          await cur.return();
          slots[ci] = null;
          openSlots--;
          advance();
        } else if (!endOfInput) {
          const x = await input.next();
          if (x.done) endOfInput = true;
          else {
            slots[ci] = await open(x.value);
            openSlots++;
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
      openSlots = 0;
      await Promise.all(its.map((s) => s.return()));
      await input.return();
    },
  };
  return self;
}

/** The first `count` elements (Infinity: all). */
export function takeIterator<T>(up: Iter<T>, count: number): Iter<T> {
  let left = count;
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
}

/** All but the first `count` elements (Infinity: none), passed over at the first `next` or `skip`. */
export function skipIterator<T>(up: Iter<T>, count: number): Iter<T> {
  let pending = count;
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
}
