/**
 * Seeded random numbers, the one home of csrun's randomness: counter-based streams for the wafer
 * (initializers, dropout) and a sequential generator for input pipelines (`Dataset.shuffle`, user
 * augmentations). No dependencies, so input workers can import it without loading tfjs.
 *
 * Counter-based streams. Every random value is a pure function of a key and a counter, so results never
 * depend on call order, on how a batch is split across data-parallel replicas, or on where a run was
 * resumed:
 *
 *   key    = chain of {@link mixKey} over the identifying integers (seed, step, node, sample, …)
 *   bits_i = hash32(key ^ hash32(i))              (i = element counter inside the stream)
 *   u_i    = (bits_i >>> 8) · 2⁻²⁴ ∈ [0, 1)       (24 random bits, exact in float32)
 *
 * `hash32` is the "lowbias32" integer finaliser of C. Wellons ("Prospecting for Hash Functions", 2018),
 * a bijection on 32-bit integers with near-ideal avalanche (bias ≈ 0.17 ‰). Hashing the counter before
 * mixing in the key keeps streams of different keys from being shifted copies of one sequence.
 * Integers outside 32 bits are folded in 32-bit halves, so any safe integer is a valid key part.
 *
 * Sequential generator. {@link Random} is mulberry32 (T. Ettinger, 2017), seeded through
 * {@link mixSeeds} (MurmurHash3's fmix32 finaliser). Its streams, and so every shuffle order, are pinned
 * by test/host/data/dataset.test.ts: changing either function changes users' input orders.
 */

/**
 * The xorshift-multiply finaliser family `x ^= x >>> 16; x *= m1; x ^= x >>> s; x *= m2; x ^= x >>> 16`
 * (Wellons 2018 searches this family; MurmurHash3's fmix32 and lowbias32 are members).
 * @returns an unsigned 32-bit integer.
 */
function xorshiftMultiply(x: number, m1: number, s: number, m2: number): number {
  x ^= x >>> 16;
  x = Math.imul(x, m1);
  x ^= x >>> s;
  x = Math.imul(x, m2);
  x ^= x >>> 16;
  return x >>> 0;
}

/** Golden-ratio increment used to separate key parts (⌊2³²/φ⌋). */
const GOLDEN = 0x9e3779b9;
const TWO_POW_M24 = 1 / 16777216;
const TWO_PI = 2 * Math.PI;

/**
 * lowbias32 integer hash (Wellons 2018): a bijection on uint32.
 * @param x any number; only its low 32 bits are used.
 * @returns an unsigned 32-bit integer.
 */
export function hash32(x: number): number {
  return xorshiftMultiply(x | 0, 0x7feb352d, 15, 0x846ca68b);
}

/**
 * Mixes one integer into a 32-bit key. Any safe integer (negative included) is accepted: the high and low
 * 32-bit halves are mixed separately.
 * @param key   current key (uint32).
 * @param value integer to mix in.
 * @returns the new key (uint32).
 * @throws RangeError if `value` is not a safe integer.
 */
export function mixKey(key: number, value: number): number {
  if (!Number.isSafeInteger(value)) throw new RangeError(`random key part must be a safe integer, got ${value}`);
  const lo = value | 0;
  const hi = Math.floor(value / 4294967296) | 0;
  let k = hash32((key ^ hash32(lo + GOLDEN)) >>> 0);
  if (hi !== 0) k = hash32((k ^ hash32(hi + 2 * GOLDEN)) >>> 0);
  return k;
}

/**
 * A key from a list of integers, e.g. `streamKey(seed, step, nodeIndex, sampleIndex)`. The same list
 * always gives the same key; lists differing in any element or in length give unrelated keys.
 * @throws RangeError if a part is not a safe integer.
 */
export function streamKey(...parts: number[]): number {
  let k = hash32(parts.length * GOLDEN);
  for (const p of parts) k = mixKey(k, p);
  return k;
}

/** The 32 random bits of element `i` of the stream `key`. */
export function bitsAt(key: number, i: number): number {
  return hash32((key ^ hash32(i)) >>> 0);
}

/** Uniform float in [0, 1) (24-bit resolution, exactly representable in float32) of element `i` of `key`. */
export function uniformAt(key: number, i: number): number {
  return (bitsAt(key, i) >>> 8) * TWO_POW_M24;
}

/**
 * Fills `out` with uniform values in `[minval, maxval)`: `out[j] = minval + (maxval − minval) · u(key, offset + j)`.
 * @param key    stream key (see {@link streamKey}).
 * @param out    destination (its length is the number of values).
 * @param minval lower bound (inclusive), default 0.
 * @param maxval upper bound (exclusive), default 1.
 * @param offset counter of `out[0]` inside the stream, default 0.
 */
export function fillUniform(key: number, out: Float32Array, minval = 0, maxval = 1, offset = 0): Float32Array {
  const span = maxval - minval;
  for (let j = 0; j < out.length; j++) out[j] = minval + span * uniformAt(key, offset + j);
  return out;
}

/**
 * Standard normal value of element `i` of stream `key` (Box–Muller on the counter pair (2i, 2i+1):
 * z = √(−2 ln u₁) · cos(2π u₂) with u₁ ∈ (0, 1]).
 */
export function normalAt(key: number, i: number): number {
  const u1 = 1 - uniformAt(key, 2 * i);
  const u2 = uniformAt(key, 2 * i + 1);
  return Math.sqrt(-2 * Math.log(u1)) * Math.cos(TWO_PI * u2);
}

/**
 * Fills `out` with normal values `mean + stddev · z`.
 * @param key stream key; element j uses counter `offset + j`.
 */
export function fillNormal(key: number, out: Float32Array, mean = 0, stddev = 1, offset = 0): Float32Array {
  for (let j = 0; j < out.length; j++) out[j] = mean + stddev * normalAt(key, offset + j);
  return out;
}

/**
 * Fills `out` with a normal distribution truncated to ±2 standard deviations (as TF's
 * `truncated_normal`): values outside are redrawn from the sub-stream `mixKey(key, attempt)`.
 * @param key stream key; element j uses counter `offset + j` in each attempt's sub-stream.
 */
export function fillTruncatedNormal(key: number, out: Float32Array, mean = 0, stddev = 1, offset = 0): Float32Array {
  for (let j = 0; j < out.length; j++) {
    let z = normalAt(key, offset + j);
    for (let attempt = 1; Math.abs(z) > 2; attempt++) z = normalAt(mixKey(key, attempt), offset + j);
    out[j] = mean + stddev * z;
  }
  return out;
}

/** Cache of hash32(e) for element counters 0..n−1 (the per-sample part of a dropout mask is reused). */
let counterHashes = new Uint32Array(0);
function counterHashTable(n: number): Uint32Array {
  if (counterHashes.length < n) {
    const t = new Uint32Array(Math.max(n, 2 * counterHashes.length));
    for (let i = 0; i < t.length; i++) t[i] = hash32(i);
    counterHashes = t;
  }
  return counterHashes;
}

/**
 * Inverted-dropout mask for a slice of a batch, keyed so that it does not depend on the replica split:
 * element `e` of global sample `s` is kept iff `uniformAt(mixKey(streamKey(seed, step, nodeIndex), s), e) ≥ rate`
 * (TF `dropout`: keep where `random_uniform ≥ rate`), and kept elements hold `1 / (1 − rate)`.
 *
 * @param seed        graph seed (`runconfig.seed`).
 * @param step        global training step.
 * @param nodeIndex   index of the dropout node in `graph.nodes`.
 * @param sampleOffset global index of the first sample of this slice.
 * @param samples     samples in this slice.
 * @param perSample   elements per sample.
 * @param rate        drop probability in [0, 1).
 * @returns Float32Array of `samples · perSample` values, each 0 or `1 / (1 − rate)`.
 * @throws RangeError if `rate` is outside [0, 1).
 */
export function dropoutMask(
  seed: number,
  step: number,
  nodeIndex: number,
  sampleOffset: number,
  samples: number,
  perSample: number,
  rate: number,
): Float32Array {
  if (!(rate >= 0 && rate < 1)) throw new RangeError(`dropout rate must be in [0, 1), got ${rate}`);
  const out = new Float32Array(samples * perSample);
  const scale = 1 / (1 - rate);
  // u ≥ rate  ⇔  (bits >>> 8) ≥ ceil(rate · 2²⁴)
  const threshold = Math.ceil(rate * 16777216);
  const table = counterHashTable(perSample);
  const base = streamKey(seed, step, nodeIndex);
  for (let s = 0; s < samples; s++) {
    const key = mixKey(base, sampleOffset + s);
    const o = s * perSample;
    for (let e = 0; e < perSample; e++) {
      if (hash32((key ^ table[e]) >>> 0) >>> 8 >= threshold) out[o + e] = scale;
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------
// Sequential generator (input pipelines)

/** MurmurHash3's 32-bit finaliser fmix32 (A. Appleby, MurmurHash3, 2011). */
function fmix32(h: number): number {
  return xorshiftMultiply(h, 0x85ebca6b, 13, 0xc2b2ae35);
}

/**
 * Mixes numbers (any finite values, truncated to integers; beyond 32 bits both halves count) into one
 * 32-bit seed, e.g. `mixSeeds(seed, epoch)` for the shuffle order of an epoch. The same list always gives
 * the same seed.
 * @returns an unsigned 32-bit integer.
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
 * A seeded sequential 32-bit PRNG (mulberry32, state seeded with `mixSeeds(seed)`): `nextUint32()` in
 * [0, 2³²), `nextInt(n)` uniform in [0, n), `nextFloat()` in [0, 1). Used by `Dataset.shuffle`; public
 * (`import { Random } from 'csrun'`) so that user `map` functions can draw reproducible augmentations.
 */
export class Random {
  private state: number;
  /** @param seed any finite number (see {@link mixSeeds}). */
  constructor(seed: number) {
    this.state = mixSeeds(seed) | 0;
  }
  /** A uniform 32-bit unsigned integer. */
  nextUint32(): number {
    const a = (this.state = (this.state + 0x6d2b79f5) | 0);
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return (t ^ (t >>> 14)) >>> 0;
  }
  /** A uniform integer in [0, n) for 1 ≤ n ≤ 2³². */
  nextInt(n: number): number {
    return Math.floor((this.nextUint32() / 4294967296) * n);
  }
  /** A uniform float in [0, 1) (32-bit resolution). */
  nextFloat(): number {
    return this.nextUint32() / 4294967296;
  }
}
