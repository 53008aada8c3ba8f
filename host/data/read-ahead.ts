/**
 * The read-ahead iterator behind `Dataset.prefetch` and `Dataset.map` with `numParallelCalls` > 1.
 */
import { DONE, type Iter, type Result } from './iterators.ts';

/**
 * An iterator that keeps up to `depth` elements of `up` in flight ahead of the consumer (parallel map,
 * prefetch): upstream calls are serialised, `transform` calls may overlap, order is preserved and an error
 * is delivered when the failing element would have been consumed. `eager` starts reading before the first
 * `next()` and refills the buffer as soon as an element is taken (prefetch); otherwise at most `depth` calls
 * are in flight, the consumed one included (parallel map).
 */
export function readAhead<T, U>(up: Iter<T>, depth: number, transform: (x: T) => U | Promise<U>, eager: boolean): Iter<U> {
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
