/**
 * Tensor ops on the symbolic tensors of `modelFn` (`import { ops } from 'csrun'`), with tfjs names, argument
 * orders and broadcasting: `ops.matMul(a, b, transposeA, transposeB)`, `ops.add(a, b)`, `ops.softmax(x, axis)`, …
 * Each call traces one node of the Graph IR (ops `add`, `sub`, `mul`, `div`, `where`, `sqrt`, `rsqrt`,
 * `softmax`, `sum`, `mean`, `matMul`, `reshape`, `transpose`, `slice`, `concatenate`, `gather`; `split` traces
 * one `slice` per part), named like a Keras layer (`mat_mul`, `mat_mul_1`, …). On free tensors of
 * `layers.input()` the calls are recorded for a functional `Model`, as layer calls are.
 *
 * Rules that come from the batch axis (axis 0, `None`), which the wafer splits over data-parallel replicas:
 * - the batch axis stays axis 0: `reshape` keeps it (`-1` or `null` first), `transpose` keeps `perm[0] = 0`,
 *   `slice` keeps all of it, `concat`, `split`, `gather` and `softmax` work on other axes;
 * - broadcasting aligns batch axes: tensor operands have the same rank, each axis equal or 1 (NumPy rules
 *   otherwise); numbers broadcast anywhere (they become finite constants of the node);
 * - a `sum` or `mean` over the batch axis yields a tensor without one: per replica it is a partial result
 *   (a mean divides by the global batch), so it may only be added, subtracted, scaled by a number, reduced
 *   again, or returned as the loss.
 * Arithmetic takes float32 tensors; int32 tensors can be reshaped, transposed, sliced, concatenated, gathered,
 * used as gather indices or as a `where` condition (`ops.where(mask, 1, 0)` makes a float mask).
 * tfjs defaults that would act on the batch axis differ: `concat`/`split` default to axis −1, `gather` to axis 1.
 *
 * Every shape problem is a UserError naming the op, the node and the shapes (matMul: both shapes and the inner
 * dimensions; softmax: the axis and the rank).
 */
import { UserError } from '../errors.ts';
import type { BinaryAttrs, DType, OpAttrs, OpName, Shape } from '../graph.ts';
import { Layer, type LayerSpec } from '../layers/base.ts';
import { SymbolicTensor, formatShape } from '../symbolic.ts';

/** A tensor operand: a symbolic tensor or a number (a constant). */
export type Operand = SymbolicTensor | number;

type Fail = (message: string) => never;

/** One op call, traced like a layer call (a new instance per call; it has no weights). */
class TensorOp<K extends OpName> extends Layer {
  readonly className: string;
  readonly baseName: string;
  protected override readonly arity: number | 'many';
  constructor(
    private readonly fn: string,
    baseName: string,
    nInputs: number,
    private readonly build: (xs: SymbolicTensor[], fail: Fail) => Omit<LayerSpec<K>, 'weights'>,
  ) {
    super({});
    this.className = fn;
    this.baseName = baseName;
    this.arity = nInputs === 1 ? 1 : 'many';
  }
  protected override label(): string {
    return `ops.${this.fn} (node '${this.displayName()}')`;
  }
  protected spec(xs: SymbolicTensor[]): LayerSpec<K> {
    return { ...this.build(xs, (m) => this.fail(m)), weights: [] };
  }
}

/** Traces one op call. */
function trace<K extends OpName>(fn: string, baseName: string, inputs: SymbolicTensor[], build: (xs: SymbolicTensor[], fail: Fail) => Omit<LayerSpec<K>, 'weights'>): SymbolicTensor {
  return new TensorOp<K>(fn, baseName, inputs.length, build).apply(inputs.length === 1 ? inputs[0] : inputs);
}

/** True for tensors with the batch axis (every traced tensor but batch reductions and losses). */
function hasBatch(t: SymbolicTensor): boolean {
  return t.rank > 0 && t.shape[0] === null;
}

function tensorArg(fn: string, name: string, x: unknown): SymbolicTensor {
  if (!(x instanceof SymbolicTensor)) throw new UserError(`ops.${fn}: ${name} must be a tensor of modelFn (or of layers.input()), got ${describe(x)}`);
  return x;
}

function describe(x: unknown): string {
  if (x === null || x === undefined) return String(x);
  if (Array.isArray(x)) return 'an array';
  return typeof x === 'object' ? 'an object' : `${typeof x} ${String(x)}`;
}

function operandArg(fn: string, name: string, x: unknown): Operand {
  if (typeof x === 'number') {
    if (!Number.isFinite(x)) throw new UserError(`ops.${fn}: ${name} must be finite, got ${x} (use a large finite value such as -1e9 for masks)`);
    return x;
  }
  return tensorArg(fn, name, x);
}

function requireFloat(fail: Fail, xs: SymbolicTensor[]): void {
  for (const x of xs) if (x.dtype !== 'float32') fail(`arithmetic needs float32 tensors, got ${x.dtype} ${x} (an int32 tensor can be reshaped, sliced, gathered or used as a where condition: ops.where(mask, 1, 0) is a float mask)`);
}

function requireBatch(fail: Fail, xs: SymbolicTensor[]): void {
  for (const x of xs) {
    if (!hasBatch(x)) fail(`input ${x} has no batch axis (it was reduced over the batch); such a tensor can only be added, subtracted, multiplied or divided by a number, reduced again or used as the loss`);
  }
}

/** The broadcast shape of tensors with aligned batch axes (same rank; each axis equal or 1). */
function broadcast(fail: Fail, xs: SymbolicTensor[]): Shape {
  const ranked = xs.filter((x) => x.rank > 0);
  if (ranked.length === 0) return [];
  const list = xs.map((x) => x.toString()).join(' and ');
  const rank = ranked[0].rank;
  if (ranked.some((x) => x.rank !== rank)) {
    fail(`shapes ${list} have different ranks; csrun aligns the batch axes, so tensor operands need the same rank (add axes of size 1 with ops.reshape)`);
  }
  const out: Shape = ranked[0].shape.slice();
  for (const x of ranked) {
    x.shape.forEach((d, i) => {
      const o = out[i];
      if (d === o || d === 1) return;
      if (o === 1) out[i] = d;
      else fail(`shapes ${list} do not broadcast (axis ${i}: ${d ?? 'None'} vs ${o ?? 'None'}; each axis must be equal or 1)`);
    });
  }
  return out;
}

/** A non-negative axis; `what` describes the valid range for the message. */
function axisArg(fail: Fail, axis: number, x: SymbolicTensor, allowBatch: boolean): number {
  const r = x.rank;
  const a = Number.isInteger(axis) && axis < 0 ? axis + r : axis;
  if (!Number.isInteger(a) || a < 0 || a >= r) fail(`axis ${axis} is out of range for a tensor of rank ${r} ${x} (valid: ${-r}…${r - 1}${allowBatch ? '' : ', not 0 (the batch axis)'})`);
  if (!allowBatch && a === 0) fail(`axis ${axis} is the batch axis of ${x}; this op works on the other axes`);
  return a;
}

function dimOf(x: SymbolicTensor, axis: number): number {
  return x.shape[axis] as number;
}

function staticDims(fail: Fail, x: SymbolicTensor): void {
  if (x.shape.slice(1).some((d) => d === null)) fail(`input ${x} has unknown dimensions besides the batch`);
}

// ------------------------------------------------------------------ element-wise

function binary(fn: string, op: 'add' | 'sub' | 'mul' | 'div', a: unknown, b: unknown): SymbolicTensor {
  const [A, B] = [operandArg(fn, 'a', a), operandArg(fn, 'b', b)];
  if (typeof A === 'number' && typeof B === 'number') throw new UserError(`ops.${fn}: at least one operand must be a tensor, got two numbers`);
  const tensors = [A, B].filter((t): t is SymbolicTensor => t instanceof SymbolicTensor);
  const attrs: BinaryAttrs = {};
  if (typeof A === 'number') attrs.a = A;
  if (typeof B === 'number') attrs.b = B;
  return trace<typeof op>(fn, snake(fn), tensors, (xs, fail) => {
    requireFloat(fail, xs);
    const partial = xs.filter((x) => !hasBatch(x));
    if (partial.length > 0) {
      const linear = op === 'add' || op === 'sub' ? partial.length === xs.length : xs.length === 1 && (op === 'mul' || attrs.b !== undefined);
      if (!linear) requireBatch(fail, xs);
    }
    return { op, attrs, out: { shape: broadcast(fail, xs), dtype: 'float32' } };
  });
}

/** `a + b` element-wise with broadcasting (tf.add); either may be a number. @throws UserError for shapes that do not broadcast. */
export function add(a: Operand, b: Operand): SymbolicTensor {
  return binary('add', 'add', a, b);
}
/** `a − b` element-wise with broadcasting (tf.sub); either may be a number. @throws UserError for shapes that do not broadcast. */
export function sub(a: Operand, b: Operand): SymbolicTensor {
  return binary('sub', 'sub', a, b);
}
/** `a · b` element-wise with broadcasting (tf.mul); either may be a number. @throws UserError for shapes that do not broadcast. */
export function mul(a: Operand, b: Operand): SymbolicTensor {
  return binary('mul', 'mul', a, b);
}
/** `a / b` element-wise with broadcasting (tf.div); either may be a number. @throws UserError for shapes that do not broadcast. */
export function div(a: Operand, b: Operand): SymbolicTensor {
  return binary('div', 'div', a, b);
}

/**
 * `condition ? x : y` element-wise with broadcasting (tf.where). The condition is a float32 or int32 tensor
 * whose nonzero entries select x (tfjs takes a bool tensor; the IR has no bool type); x and y are float32
 * tensors or numbers, e.g. `ops.where(mask, scores, -1e9)`. Output float32 of the broadcast shape.
 * @throws UserError for shapes that do not broadcast or non-finite numbers.
 */
export function where(condition: SymbolicTensor, x: Operand, y: Operand): SymbolicTensor {
  const c = tensorArg('where', 'condition', condition);
  const [X, Y] = [operandArg('where', 'x', x), operandArg('where', 'y', y)];
  const tensors = [X, Y].filter((t): t is SymbolicTensor => t instanceof SymbolicTensor);
  const attrs: OpAttrs['where'] = {};
  if (typeof X === 'number') attrs.x = X;
  if (typeof Y === 'number') attrs.y = Y;
  return trace<'where'>('where', 'where', [c, ...tensors], (xs, fail) => {
    requireBatch(fail, xs);
    requireFloat(fail, xs.slice(1));
    return { op: 'where', attrs, out: { shape: broadcast(fail, xs), dtype: 'float32' } };
  });
}

function unary(fn: 'sqrt' | 'rsqrt', x: SymbolicTensor): SymbolicTensor {
  return trace<typeof fn>(fn, fn, [tensorArg(fn, 'x', x)], ([t], fail) => {
    requireFloat(fail, [t]);
    requireBatch(fail, [t]);
    return { op: fn, attrs: {}, out: { shape: t.shape, dtype: 'float32' } };
  });
}

/** `√x` element-wise (tf.sqrt). */
export function sqrt(x: SymbolicTensor): SymbolicTensor {
  return unary('sqrt', x);
}
/** `1/√x` element-wise (tf.rsqrt). */
export function rsqrt(x: SymbolicTensor): SymbolicTensor {
  return unary('rsqrt', x);
}

/**
 * Softmax along `axis` (tf.softmax(logits, dim); default −1), any axis but the batch axis.
 * @throws UserError naming the axis and the rank when the axis is out of range or is the batch axis.
 */
export function softmax(logits: SymbolicTensor, axis = -1): SymbolicTensor {
  return trace<'softmax'>('softmax', 'softmax', [tensorArg('softmax', 'logits', logits)], ([x], fail) => {
    requireFloat(fail, [x]);
    requireBatch(fail, [x]);
    return { op: 'softmax', attrs: { axis: axisArg(fail, axis, x, false) }, out: { shape: x.shape, dtype: 'float32' } };
  });
}

// ------------------------------------------------------------------ reductions

function reduce(fn: 'sum' | 'mean', x: SymbolicTensor, axis: number | number[] | undefined, keepDims: boolean): SymbolicTensor {
  return trace<typeof fn>(fn, fn, [tensorArg(fn, 'x', x)], ([t], fail) => {
    requireFloat(fail, [t]);
    const list = axis === undefined ? t.shape.map((_, i) => i) : Array.isArray(axis) ? axis : [axis];
    const axes = list.map((a) => axisArg(fail, a, t, true));
    if (new Set(axes).size !== axes.length) fail(`axis ${JSON.stringify(axis)} names an axis twice`);
    axes.sort((p, q) => p - q);
    const shape = keepDims ? t.shape.map((d, i) => (axes.includes(i) ? 1 : d)) : t.shape.filter((_, i) => !axes.includes(i));
    return { op: fn, attrs: { axis: axes, keepDims }, out: { shape, dtype: 'float32' } };
  });
}

/**
 * Σ over `axis` (tf.sum; all axes when omitted), keeping them as size 1 with `keepDims`. Over the batch axis
 * the result has no batch axis (see the module comment).
 * @throws UserError for an axis out of range or named twice.
 */
export function sum(x: SymbolicTensor, axis?: number | number[], keepDims = false): SymbolicTensor {
  return reduce('sum', x, axis, keepDims);
}
/**
 * Mean over `axis` (tf.mean; all axes when omitted). Over the batch axis it divides by the global batch, so
 * `ops.mean(x)` of per-element losses is the batch mean (see the module comment).
 * @throws UserError for an axis out of range or named twice.
 */
export function mean(x: SymbolicTensor, axis?: number | number[], keepDims = false): SymbolicTensor {
  return reduce('mean', x, axis, keepDims);
}

// ------------------------------------------------------------------ matMul

/**
 * Batched matrix product (tf.matMul) on the last two axes: a `[batch, …, m, k]` (`[…, k, m]` with transposeA)
 * and b `[batch, …, k, n]` (`[…, n, k]` with transposeB) → `[batch, …, m, n]`; the axes between batch and the
 * matrix axes broadcast (equal or 1). The batch axis is never a matrix axis, so both need rank ≥ 3.
 * @throws UserError naming both shapes when the inner dimensions differ, the ranks differ or are < 3.
 */
export function matMul(a: SymbolicTensor, b: SymbolicTensor, transposeA = false, transposeB = false): SymbolicTensor {
  const A = tensorArg('matMul', 'a', a);
  const B = tensorArg('matMul', 'b', b);
  return trace<'matMul'>('matMul', 'mat_mul', [A, B], ([x, y], fail) => {
    requireFloat(fail, [x, y]);
    requireBatch(fail, [x, y]);
    const both = `a ${x}${transposeA ? 'ᵀ' : ''} and b ${y}${transposeB ? 'ᵀ' : ''}`;
    if (x.rank < 3 || x.rank !== y.rank) fail(`${both} must have the same rank ≥ 3 ([batch, …, rows, columns]; the batch axis cannot be a matrix axis)`);
    staticDims(fail, x);
    staticDims(fail, y);
    const r = x.rank;
    const [m, ka] = transposeA ? [dimOf(x, r - 1), dimOf(x, r - 2)] : [dimOf(x, r - 2), dimOf(x, r - 1)];
    const [kb, n] = transposeB ? [dimOf(y, r - 1), dimOf(y, r - 2)] : [dimOf(y, r - 2), dimOf(y, r - 1)];
    if (ka !== kb) fail(`inner dimensions differ: ${both} (${ka} vs ${kb})`);
    const lead = x.shape.slice(1, -2).map((d, i) => {
      const e = y.shape[1 + i];
      if (d !== e && d !== 1 && e !== 1) fail(`${both} have leading axes that do not broadcast (axis ${i + 1}: ${d} vs ${e})`);
      return Math.max(d as number, e as number);
    });
    return { op: 'matMul', attrs: { transposeA, transposeB }, out: { shape: [null, ...lead, m, n], dtype: 'float32' } };
  });
}

// ------------------------------------------------------------------ shape ops

/**
 * Reshape (tf.reshape) to `shape`, which includes the batch axis as `-1` or `null` first; one other entry may
 * be −1 (inferred).
 * @throws UserError when the batch axis would move or the sizes do not match.
 */
export function reshape(x: SymbolicTensor, shape: (number | null)[]): SymbolicTensor {
  return trace<'reshape'>('reshape', 'reshape', [tensorArg('reshape', 'x', x)], ([t], fail) => {
    requireBatch(fail, [t]);
    staticDims(fail, t);
    if (!Array.isArray(shape) || shape.length === 0 || !(shape[0] === -1 || shape[0] === null)) {
      fail(`shape ${JSON.stringify(shape)} must start with -1 or null for the batch axis (the batch stays axis 0)`);
    }
    const rest = shape.slice(1);
    if (!rest.every((d) => Number.isInteger(d) && ((d as number) > 0 || d === -1)) || rest.filter((d) => d === -1).length > 1) {
      fail(`shape ${JSON.stringify(shape)}: after the batch axis, positive integers and at most one -1`);
    }
    const n = t.shape.slice(1).reduce<number>((p, d) => p * (d as number), 1);
    const known = (rest as number[]).filter((d) => d > 0).reduce((p, d) => p * d, 1);
    const target = (rest as number[]).map((d) => (d === -1 ? n / known : d));
    if (!target.every(Number.isInteger) || target.reduce((p, d) => p * d, 1) !== n) fail(`cannot reshape ${t} (${n} values per sample) to ${formatShape([null, ...rest])}`);
    return { op: 'reshape', attrs: { targetShape: target }, out: { shape: [null, ...target], dtype: t.dtype } };
  });
}

/**
 * Permutes the axes (tf.transpose): `y.shape[i] = x.shape[perm[i]]`; `perm[0]` must be 0 (the batch axis
 * stays first), so unlike tfjs there is no default reversal.
 * @throws UserError when perm is missing, not a permutation, or moves the batch axis.
 */
export function transpose(x: SymbolicTensor, perm: number[]): SymbolicTensor {
  return trace<'transpose'>('transpose', 'transpose', [tensorArg('transpose', 'x', x)], ([t], fail) => {
    requireBatch(fail, [t]);
    const ok = Array.isArray(perm) && perm.length === t.rank && [...perm].sort((p, q) => p - q).every((p, i) => p === i);
    if (!ok) fail(`perm ${JSON.stringify(perm)} must be a permutation of the ${t.rank} axes of ${t}`);
    if (perm[0] !== 0) fail(`perm ${JSON.stringify(perm)} moves the batch axis; perm[0] must be 0`);
    return { op: 'transpose', attrs: { perm: perm.slice() }, out: { shape: perm.map((p) => t.shape[p]), dtype: t.dtype } };
  });
}

/**
 * The sub-tensor starting at `begin` of `size` (tf.slice; missing trailing entries: begin 0, size −1 = to the
 * end). The batch axis is taken whole: `begin[0] = 0`, `size[0] = -1`.
 * @throws UserError when the slice leaves the tensor or cuts the batch axis.
 */
export function slice(x: SymbolicTensor, begin: number | number[], size?: number | number[]): SymbolicTensor {
  const b0 = typeof begin === 'number' ? [begin] : begin;
  const s0 = size === undefined ? [] : typeof size === 'number' ? [size] : size;
  return sliceAs('slice', 'slice', tensorArg('slice', 'x', x), b0, s0);
}

function sliceAs(fn: string, base: string, x: SymbolicTensor, begin0: number[], size0: (number | null)[]): SymbolicTensor {
  return trace<'slice'>(fn, base, [x], ([t], fail) => {
    requireBatch(fail, [t]);
    staticDims(fail, t);
    const what = `begin ${JSON.stringify(begin0)}, size ${JSON.stringify(size0)}`;
    if (!Array.isArray(begin0) || begin0.length > t.rank || !Array.isArray(size0) || size0.length > t.rank) fail(`${what} must have at most one entry per axis of ${t}`);
    const begin = t.shape.map((_, i) => begin0[i] ?? 0);
    const size = t.shape.map((_, i) => (size0[i] === undefined || size0[i] === null ? -1 : (size0[i] as number)));
    if (begin[0] !== 0 || size[0] !== -1) fail(`${what} cuts the batch axis of ${t}; begin[0] must be 0 and size[0] -1`);
    const resolved = size.map((s, i) => (i === 0 ? -1 : s === -1 ? dimOf(t, i) - begin[i] : s));
    for (let i = 1; i < t.rank; i++) {
      const d = dimOf(t, i);
      if (!Number.isInteger(begin[i]) || !Number.isInteger(resolved[i]) || begin[i] < 0 || resolved[i] < 1 || begin[i] + resolved[i] > d) {
        fail(`${what} leaves ${t} on axis ${i} (begin ${begin[i]}, size ${resolved[i]}, dimension ${d})`);
      }
    }
    return { op: 'slice', attrs: { begin, size: resolved }, out: { shape: [null, ...resolved.slice(1)], dtype: t.dtype } };
  });
}

/**
 * Splits along `axis` (tf.split; default −1 here, tfjs' 0 is the batch axis) into `numOrSizeSplits` equal parts
 * or parts of the given sizes (one may be −1). Traces one `slice` node per part.
 * @throws UserError when the parts do not add up to the axis.
 */
export function split(x: SymbolicTensor, numOrSizeSplits: number | number[], axis = -1): SymbolicTensor[] {
  const t = tensorArg('split', 'x', x);
  const fail: Fail = (m) => {
    throw new UserError(`ops.split: ${m}`);
  };
  const a = axisArg(fail, axis, t, false);
  const d = dimOf(t, a);
  let sizes: number[];
  if (typeof numOrSizeSplits === 'number') {
    if (!Number.isInteger(numOrSizeSplits) || numOrSizeSplits < 1 || d % numOrSizeSplits !== 0) fail(`cannot split axis ${a} of ${t} (size ${d}) into ${numOrSizeSplits} equal parts`);
    sizes = Array.from({ length: numOrSizeSplits }, () => d / numOrSizeSplits);
  } else {
    const known = numOrSizeSplits.filter((s) => s !== -1).reduce((p, s) => p + s, 0);
    sizes = numOrSizeSplits.map((s) => (s === -1 ? d - known : s));
    if (numOrSizeSplits.filter((s) => s === -1).length > 1 || sizes.some((s) => !Number.isInteger(s) || s < 1) || sizes.reduce((p, s) => p + s, 0) !== d) {
      fail(`sizes ${JSON.stringify(numOrSizeSplits)} do not add up to axis ${a} of ${t} (size ${d})`);
    }
  }
  let offset = 0;
  return sizes.map((s) => {
    const begin = t.shape.map((_, i) => (i === a ? offset : 0));
    const size = t.shape.map((_, i) => (i === a ? s : -1));
    offset += s;
    return sliceAs('split', 'split', t, begin, size);
  });
}

/**
 * Joins tensors along `axis` (tf.concat; default −1 here, tfjs' 0 is the batch axis): same rank and dtype,
 * equal on every other axis. One tensor is returned as it is.
 * @throws UserError for mismatched shapes or the batch axis.
 */
export function concat(tensors: SymbolicTensor[], axis = -1): SymbolicTensor {
  if (!Array.isArray(tensors) || tensors.length === 0) throw new UserError('ops.concat: needs a non-empty list of tensors');
  const ts = tensors.map((t, i) => tensorArg('concat', `tensors[${i}]`, t));
  if (ts.length === 1) return ts[0];
  return trace<'concatenate'>('concat', 'concat', ts, (xs, fail) => {
    requireBatch(fail, xs);
    const list = xs.map((x) => x.toString()).join(', ');
    if (xs.some((x) => x.rank !== xs[0].rank || x.dtype !== xs[0].dtype)) fail(`tensors ${list} must have the same rank and dtype`);
    const a = axisArg(fail, axis, xs[0], false);
    for (const x of xs) if (x.shape.some((d, i) => i !== a && d !== xs[0].shape[i])) fail(`tensors ${list} must match on every axis but ${a}`);
    const shape = xs[0].shape.slice();
    shape[a] = xs.reduce((p, x) => p + dimOf(x, a), 0);
    return { op: 'concatenate', attrs: { axis: a }, out: { shape, dtype: xs[0].dtype } };
  });
}

/**
 * Gathers entries along `axis` (tf.gather; default 1 here, tfjs' 0 is the batch axis). `indices` is a list of
 * numbers (the same entries of every sample, tf.gather with batchDims 0) or an int32 tensor `[batch, …]`
 * (per-sample indices, tf.gather with batchDims 1). Out-of-range tensor indices fail at run time.
 * @throws UserError for a bad axis, non-integer or out-of-range constant indices, or float indices.
 */
export function gather(x: SymbolicTensor, indices: SymbolicTensor | number[], axis = 1): SymbolicTensor {
  const t = tensorArg('gather', 'x', x);
  if (Array.isArray(indices)) {
    const list = indices.slice();
    return trace<'gather'>('gather', 'gather', [t], ([u], fail) => {
      requireBatch(fail, [u]);
      staticDims(fail, u);
      const a = axisArg(fail, axis, u, false);
      const d = dimOf(u, a);
      const bad = list.findIndex((i) => !Number.isInteger(i) || i < 0 || i >= d);
      if (list.length === 0 || bad >= 0) fail(`indices ${JSON.stringify(list)} must be a non-empty list of integers in [0, ${d}) (axis ${a} of ${u})`);
      const shape = u.shape.slice();
      shape[a] = list.length;
      return { op: 'gather', attrs: { axis: a, indices: list }, out: { shape, dtype: u.dtype } };
    });
  }
  const idx = tensorArg('gather', 'indices', indices);
  return trace<'gather'>('gather', 'gather', [t, idx], ([u, i], fail) => {
    requireBatch(fail, [u, i]);
    staticDims(fail, u);
    staticDims(fail, i);
    if (i.dtype !== 'int32') fail(`indices must be int32, got ${i.dtype} ${i}`);
    const a = axisArg(fail, axis, u, false);
    const shape: Shape = [...u.shape.slice(0, a), ...i.shape.slice(1), ...u.shape.slice(a + 1)];
    return { op: 'gather', attrs: { axis: a }, out: { shape, dtype: u.dtype as DType } };
  });
}

/** `matMul` → `mat_mul` (Keras-style node names). */
function snake(fn: string): string {
  return fn.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}
