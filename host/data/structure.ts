/**
 * Element structures of a `Dataset`: slicing a structure of tensors into elements
 * (`fromTensorSlices`) and stacking elements into a batch (`batch`).
 *
 * An element is a (nested) structure of plain objects, arrays (tuples) and leaves. Leaves are
 * {@link TensorData}, typed arrays (`Float32Array`, `Int32Array`, `Uint8Array`: a 1-D tensor of that
 * dtype), JS numbers (float32 scalars), strings, `null` / `undefined`. Stacking n elements gives every
 * tensor leaf a new leading dimension n and a fresh `ArrayBuffer` of its own, so that batches can be
 * transferred between threads without copying.
 */
import { UserError } from '../../runtime/errors.ts';
import type { TensorData, TypedArray } from '../../runtime/batch.ts';
import { asTensorData, describeValue, formatShape, isArrayView, isPlainObject, isTensorData, shapeSize, typedArrayClass } from './tensor.ts';

/** Element type of `Dataset.fromTensorSlices(s)`. */
export type Sliced<S> = S extends TensorData | TypedArray
  ? TensorData
  : S extends readonly (infer E)[]
    ? E
    : S extends Record<string, unknown>
      ? { [K in keyof S]: Sliced<S[K]> }
      : never;

/** Type of a batch of elements of type T (see `Dataset.batch`). */
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

/** A leaf that `fromTensorSlices` slices: its structure path and leading dimension. */
interface SlicedLeaf {
  path: string;
  n: number;
}

/**
 * Slices a structure along the first dimension of every leaf (see `Dataset.fromTensorSlices`).
 * @returns the number of elements and `slice(i)`, element i (tensor slices are views, no copies).
 * @throws UserError if the structure has no leaves, leaves disagree on the leading dimension (naming both
 *   paths), a tensor is a scalar or inconsistent, or a leaf is of another type.
 */
export function sliceStructure(s: unknown): { n: number; slice: (i: number) => unknown } {
  const leaves: SlicedLeaf[] = [];
  const slice = compileSlicer(s, '', leaves);
  if (leaves.length === 0) throw new UserError('Dataset.fromTensorSlices: the structure has no tensors to slice');
  const n = leaves[0].n;
  const bad = leaves.find((l) => l.n !== n);
  if (bad)
    throw new UserError(
      `Dataset.fromTensorSlices: leading dimensions differ: '${leaves[0].path || '(root)'}' has ${n} elements, '${bad.path || '(root)'}' has ${bad.n}`,
    );
  return { n, slice };
}

/** Compiles a fromTensorSlices structure into `slice(i)`, recording every leaf in `leaves`. */
function compileSlicer(s: unknown, path: string, leaves: SlicedLeaf[]): (i: number) => unknown {
  const where = `Dataset.fromTensorSlices: '${path || '(root)'}'`;
  if (isTensorData(s) || isArrayView(s)) {
    const t = asTensorData(s, where);
    const { data, dtype } = t;
    if (!isTensorData(s)) {
      leaves.push({ path, n: data.length });
      return (i) => ({ data: data.subarray(i, i + 1), shape: [], dtype });
    }
    if (t.shape.length === 0) throw new UserError(`${where} is a scalar; slices need a leading dimension`);
    const rest = t.shape.slice(1);
    const size = shapeSize(rest);
    leaves.push({ path, n: t.shape[0] });
    return (i) => ({ data: data.subarray(i * size, (i + 1) * size), shape: rest.slice(), dtype });
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
  throw new UserError(`${where} is ${describeValue(s)}; expected a TensorData, a typed array, an array or a dict of these`);
}

/**
 * Stacks n elements of one structure into a batch (see `Dataset.batch`).
 * @throws UserError naming the structure path and both shapes when elements differ in structure, shape or dtype.
 */
export function stackElements(elems: readonly unknown[], path = ''): unknown {
  const n = elems.length;
  const first = elems[0];
  const where = path || '(element)';
  const mismatch = (i: number, what: string) =>
    new UserError(`Dataset.batch: cannot batch element ${i} with element 0 at '${where}': ${what}; elements of a batch must have equal structure, shapes and dtypes`);
  if (isTensorData(first) || isArrayView(first)) {
    const leaf = `Dataset.batch: '${where}'`;
    const t0 = asTensorData(first, leaf);
    const size = t0.data.length;
    const Ctor = typedArrayClass(t0.dtype);
    const out = new Ctor(n * size);
    for (let i = 0; i < n; i++) {
      const e = elems[i];
      if (!(isTensorData(e) || isArrayView(e))) throw mismatch(i, `${describeValue(e)} vs ${describeValue(first)}`);
      const t = i === 0 ? t0 : asTensorData(e, leaf);
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
