/**
 * Helpers shared by the kernels: error messages that name the node, shape checks, and a few composite
 * tensor operations that avoid slow or missing wasm kernels.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { GraphNode } from '../graph.ts';

/**
 * `tf.tidy` for any result type: tensors reachable from the returned value (also inside objects and arrays,
 * next to nulls and plain data) are kept, every other tensor created inside `fn` is disposed. `fn` must be
 * synchronous.
 */
export function tidy<T>(fn: () => T): T {
  return tf.tidy(fn as unknown as () => tf.TensorContainer) as unknown as T;
}

/** Error raised by a kernel; its message starts with `node '<name>' (<op>):`. */
export class KernelError extends Error {
  override name = 'KernelError';
  /** @param node the node at fault. @param message what was wrong and what was expected. */
  constructor(node: Pick<GraphNode, 'name' | 'op'>, message: string) {
    super(`node '${node.name}' (${node.op}): ${message}`);
  }
}

/** `[a, b, c]` for messages. */
export function fmtShape(shape: readonly (number | null)[]): string {
  return `[${shape.map((d) => (d === null ? 'batch' : String(d))).join(', ')}]`;
}

/**
 * Checks a tensor's rank.
 * @param what   e.g. `'input'`, used in the message.
 * @param rank   the expected rank, or `[min, max]`.
 * @param layout layout description for the message, e.g. `'[batch, h, w, c]'`.
 * @throws KernelError naming the node, the expected layout and the actual shape.
 */
export function expectRank(
  node: GraphNode,
  t: tf.Tensor,
  what: string,
  rank: number | [number, number],
  layout: string,
): void {
  const [lo, hi] = typeof rank === 'number' ? [rank, rank] : rank;
  if (t.rank < lo || t.rank > hi) {
    throw new KernelError(node, `${what} must be ${layout} (rank ${lo === hi ? lo : `${lo}..${hi}`}), got shape ${fmtShape(t.shape)}`);
  }
}

/**
 * Checks a tensor's exact shape.
 * @throws KernelError naming the node, the expected and the actual shape.
 */
export function expectShape(node: GraphNode, t: tf.Tensor, what: string, shape: readonly number[]): void {
  if (t.rank !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
    throw new KernelError(node, `${what} must have shape ${fmtShape(shape)}, got ${fmtShape(t.shape)}`);
  }
}

/** Checks the number of inputs and parameters a node passes.
 * @throws KernelError when the counts differ. */
export function expectArity(node: GraphNode, inputs: readonly unknown[], nIn: number | [number, number], params: readonly unknown[], nParams: number): void {
  const [lo, hi] = typeof nIn === 'number' ? [nIn, nIn] : nIn;
  if (inputs.length < lo || inputs.length > hi) {
    throw new KernelError(node, `expected ${lo === hi ? lo : `${lo}..${hi}`} input(s), got ${inputs.length}`);
  }
  if (params.length !== nParams) {
    throw new KernelError(node, `expected ${nParams} parameter(s) (${node.params.join(', ') || 'none'}), got ${params.length}`);
  }
}

/** Product of the dimensions after the first (elements per sample of a `[batch, …]` tensor). */
export function perSample(t: tf.Tensor): number {
  let n = 1;
  for (let i = 1; i < t.rank; i++) n *= t.shape[i];
  return n;
}

/**
 * Sums a gradient over the axes that broadcasting added or stretched, so it takes `shape` (NumPy broadcast
 * rules, as tfjs' `getReductionAxes`). Returns `g` itself when the shapes already match.
 */
export function unbroadcast(g: tf.Tensor, shape: readonly number[]): tf.Tensor {
  if (g.rank === shape.length && g.shape.every((d, i) => d === shape[i])) return g;
  return tidy(() => {
    const lead = g.rank - shape.length;
    const axes: number[] = [];
    for (let i = 0; i < g.rank; i++) {
      if (i < lead || (shape[i - lead] === 1 && g.shape[i] !== 1)) axes.push(i);
    }
    const s = axes.length ? tf.sum(g, axes, true) : g;
    return tf.reshape(s, shape as number[]);
  });
}

/**
 * Plain 2-D matrix product `a · b` of `[m, k]` and `[k, n]`. On wasm only the untransposed product runs on
 * XNNPACK (transpose flags fall back to a scalar loop ~10× slower, see the notes), so transposes are explicit.
 * @param ta transpose `a` first (`a` is then `[k, m]`).
 * @param tb transpose `b` first (`b` is then `[n, k]`).
 */
export function matMulT(a: tf.Tensor2D, b: tf.Tensor2D, ta = false, tb = false): tf.Tensor2D {
  return tidy(() => tf.matMul(ta ? tf.transpose(a) : a, tb ? tf.transpose(b) : b));
}

/** Normalises a possibly negative axis for a tensor of rank `rank`.
 * @throws KernelError if it is out of range. */
export function normAxis(node: GraphNode, axis: number, rank: number): number {
  const a = axis < 0 ? axis + rank : axis;
  if (!Number.isInteger(a) || a < 0 || a >= rank) throw new KernelError(node, `axis ${axis} is out of range for rank ${rank}`);
  return a;
}

/** The divisor of n closest to √n from below (1 for primes). */
function blockSize(n: number): number {
  for (let b = Math.floor(Math.sqrt(n)); b > 1; b--) if (n % b === 0) return b;
  return 1;
}

/**
 * Σ over the rows of a `[rows, cols]` matrix as `[cols]`.
 *
 * On wasm the obvious forms are slow for large inputs: `Sum` over axis 0 transposes first (~34 ms for
 * 36,864 × 64), and `ones[1, rows] · t` makes XNNPACK pack `t` as a weight matrix on every call (~21 ms).
 * An average pool over rows (XNNPACK `AvgPool` with a `[b, 1]` window on `[rows/b, b, 1, cols]`) reads each
 * element once (< 1 ms). It is done in two levels — blocks of b ≈ √rows rows, then the block sums — which
 * also makes the float32 sum more accurate than one sequential pass (error ∝ √b + √(rows/b) instead of √rows
 * roundings). Rows without a useful divisor are zero-padded to a multiple of ⌈√rows⌉. Small inputs use `Sum`.
 */
export function sumRows(t: tf.Tensor2D): tf.Tensor1D {
  const [rows, cols] = t.shape;
  if (rows * cols <= 16384 || rows < 64) return tf.sum(t, 0) as tf.Tensor1D;
  return tidy(() => {
    let x: tf.Tensor2D = t;
    let n = rows;
    let b = blockSize(n);
    if (b * b * 16 < n) {
      b = Math.ceil(Math.sqrt(n));
      const padded = Math.ceil(n / b) * b;
      x = tf.pad(x, [[0, padded - n], [0, 0]]);
      n = padded;
    }
    const blockMeans = tf.avgPool(tf.reshape(x, [n / b, b, 1, cols]) as tf.Tensor4D, [b, 1], 1, 'valid');
    const blockSums = tf.reshape(tf.mul(blockMeans, b), [n / b, cols]) as tf.Tensor2D;
    return sumRows(blockSums);
  });
}

/** Σ over every axis but the last: `[…, c]` → `[c]` (see {@link sumRows}). */
export function sumToLast(t: tf.Tensor): tf.Tensor1D {
  const c = t.shape[t.rank - 1];
  return tidy(() => sumRows(tf.reshape(t, [-1, c])));
}

/**
 * `t` broadcast to `shape` (NumPy rules). wasm's `BroadcastTo` runs the `Tile` kernel, ~50× slower than a
 * broadcasting add (115 ms against 2.3 ms for `[64, 128, 1]` → `[64, 128, 256]`, `README.md`), so this adds zeros.
 */
export function broadcastTo(t: tf.Tensor, shape: readonly number[]): tf.Tensor {
  if (t.rank === shape.length && t.shape.every((d, i) => d === shape[i])) return t;
  return tidy(() => tf.add(tf.zeros(shape as number[], t.dtype), t));
}

/**
 * Rows `table[idx[i]]` of a `[rows, cols]` table: `[idx.length, cols]`. Uses the wasm `GatherNd` kernel, which
 * is ~30× faster than `GatherV2` (`tf.gather`) for row gathers (2.5 ms against 71 ms for 8,192 rows of 256,
 * `README.md`). Indices must be in range (callers check).
 */
export function gatherRows(table: tf.Tensor, idx: tf.Tensor1D): tf.Tensor2D {
  return tidy(() => tf.gatherND(table, tf.reshape(idx, [-1, 1])) as tf.Tensor2D);
}

/** The gradient of {@link gatherRows}: `d[v] = Σ_{i: idx_i = v} g_i`, `[rows, cols]` (wasm `ScatterNd` sums
 * duplicate indices sequentially; tfjs' own gather gradient needs `UnsortedSegmentSum`, which wasm lacks). */
export function scatterRows(idx: tf.Tensor1D, g: tf.Tensor, rows: number): tf.Tensor2D {
  const cols = g.size / Math.max(1, idx.size);
  return tidy(() => tf.scatterND(tf.reshape(idx, [-1, 1]), tf.reshape(g, [-1, cols]), [rows, cols]) as tf.Tensor2D);
}
