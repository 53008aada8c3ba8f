/**
 * Helpers for {@link TensorData} on the host side: dtypes of typed arrays, shape arithmetic, building and
 * checking tensors, and describing values in error messages. The types themselves live in
 * runtime/batch.ts, shared with the executor.
 */
import { UserError } from '../../runtime/errors.ts';
import type { TensorData, TensorDType, TypedArray } from '../../runtime/batch.ts';

/** The dtypes a {@link TensorData} may have. */
export const TENSOR_DTYPES: readonly TensorDType[] = ['float32', 'int32', 'uint8'];

/**
 * The typed-array class of a dtype.
 * @throws UserError for a dtype other than float32, int32, uint8.
 */
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
export function isArrayView(x: unknown): x is ArrayBufferView & ArrayLike<number> {
  return ArrayBuffer.isView(x) && !(x instanceof DataView);
}

/** True for a plain object (`{}` literal or `Object.create(null)`), the dicts of element structures. */
export function isPlainObject(x: unknown): x is Record<string, unknown> {
  if (typeof x !== 'object' || x === null) return false;
  const proto = Object.getPrototypeOf(x);
  return proto === Object.prototype || proto === null;
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

/**
 * A tensor leaf as a checked {@link TensorData}: a typed array becomes a 1-D tensor of its dtype (a
 * Uint8ClampedArray a uint8 view of the same bytes); a `{ data, shape, dtype }` object is returned as it is
 * once checked.
 * @param where names the leaf in errors (e.g. `"input worker 0/2, batch 5: features.image"`).
 * @throws UserError naming `where` if `x` is another kind of value or array, its dtype is not float32 /
 *   int32 / uint8 or does not match its array class, its shape is not a list of integers ≥ 0, or its data
 *   length differs from the product of its shape.
 */
export function asTensorData(x: unknown, where: string): TensorData {
  if (isArrayView(x)) {
    const dtype = dtypeOfArray(x);
    if (!dtype) throw new UserError(`${where} is a ${x.constructor.name}; tensors must be Float32Array, Int32Array or Uint8Array`);
    const a: TypedArray = x instanceof Uint8ClampedArray ? new Uint8Array(x.buffer, x.byteOffset, x.length) : (x as TypedArray);
    return { data: a, shape: [a.length], dtype };
  }
  if (typeof x !== 'object' || x === null || !('data' in x) || !('shape' in x))
    throw new UserError(`${where} is ${describeValue(x)}; expected a tensor { data, shape, dtype }`);
  const t = x as TensorData;
  if (!TENSOR_DTYPES.includes(t.dtype)) throw new UserError(`${where} has dtype '${String(t.dtype)}'; expected float32, int32 or uint8`);
  if (dtypeOfArray(t.data) !== t.dtype) throw new UserError(`${where} says dtype ${t.dtype} but holds a ${t.data?.constructor?.name ?? typeof t.data}`);
  if (!Array.isArray(t.shape) || !t.shape.every((d) => Number.isInteger(d) && d >= 0))
    throw new UserError(`${where} has an invalid shape ${JSON.stringify(t.shape)}`);
  if (t.data.length !== shapeSize(t.shape))
    throw new UserError(`${where} has shape ${formatShape(t.shape)} (${shapeSize(t.shape)} values) but holds ${t.data.length} values`);
  return t;
}

/** A short description of a value's type for error messages. */
export function describeValue(x: unknown): string {
  if (x === null) return 'null';
  if (x === undefined) return 'undefined';
  if (isTensorData(x)) return `a ${x.dtype} tensor of shape ${formatShape(x.shape)}`;
  if (isArrayView(x)) return `a ${x.constructor.name} of length ${x.length}`;
  if (Array.isArray(x)) return `an array of length ${x.length}`;
  if (typeof x === 'object') return `an object with keys {${Object.keys(x).join(', ')}}`;
  return `${typeof x} ${String(x).slice(0, 40)}`;
}

/** Nests a flat row-major list into `shape` (a scalar for shape []). */
function nest(flat: number[], shape: readonly number[]): unknown {
  if (shape.length === 0) return flat[0];
  if (shape.length === 1) return flat;
  const per = shapeSize(shape.slice(1));
  return Array.from({ length: shape[0] }, (_, i) => nest(flat.slice(i * per, (i + 1) * per), shape.slice(1)));
}

/**
 * One plain record per sample of a batch of named tensors `[rows, ...]`: `{ <name>: number or nested list
 * of the sample's shape }` (the lines of predictions.jsonl).
 */
export function sampleRecords(tensors: Record<string, TensorData>, rows: number): Record<string, unknown>[] {
  return Array.from({ length: rows }, (_, i) => {
    const rec: Record<string, unknown> = {};
    for (const [name, t] of Object.entries(tensors)) {
      const per = shapeSize(t.shape.slice(1));
      rec[name] = nest(Array.from(t.data.subarray(i * per, (i + 1) * per)), t.shape.slice(1));
    }
    return rec;
  });
}
