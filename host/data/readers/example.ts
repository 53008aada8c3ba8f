/**
 * `tf.train.Example` protocol buffers: a small hand-written encoder/decoder and tf.io.parse_single_example
 * with `FixedLenFeature` specs.
 *
 * Messages (tensorflow/core/example/example.proto and feature.proto):
 * ```
 * message Example   { Features features = 1; }
 * message Features  { map<string, Feature> feature = 1; }      // map entry: key = 1, value = 2
 * message Feature   { oneof kind { BytesList bytes_list = 1; FloatList float_list = 2; Int64List int64_list = 3; } }
 * message BytesList { repeated bytes value = 1; }
 * message FloatList { repeated float value = 1 [packed = true]; }
 * message Int64List { repeated int64 value = 1 [packed = true]; }
 * ```
 * Wire format (protobuf encoding guide): tag = (field << 3) | wire type; wire types 0 varint, 1 fixed64,
 * 2 length-delimited, 5 fixed32; int64 is a two's-complement varint (10 bytes when negative); floats are
 * little-endian IEEE-754 fixed32. The decoder accepts packed and unpacked repeated scalars and skips
 * unknown fields, as protobuf parsers must.
 */
import { UserError } from '../../../runtime/errors.ts';
import type { TensorData } from '../../../runtime/batch.ts';
import { formatShape, shapeSize } from '../tensor.ts';

/** One feature of an Example: exactly one of the three lists. int64 values are JS numbers (exact to ±2⁵³). */
export type Feature = { bytesList: Uint8Array[] } | { floatList: Float32Array | number[] } | { int64List: number[] };
/** A decoded Example: feature name → {@link Feature}. */
export type ExampleFeatures = Record<string, Feature>;

// ---- writer ---------------------------------------------------------------------------------------

class ProtoWriter {
  private buf = new Uint8Array(256);
  len = 0;
  private ensure(n: number) {
    if (this.len + n <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < this.len + n) cap *= 2;
    const b = new Uint8Array(cap);
    b.set(this.buf.subarray(0, this.len));
    this.buf = b;
  }
  /** Unsigned varint of a non-negative integer ≤ 2⁵³. */
  uvarint(v: number) {
    this.ensure(10);
    while (v >= 0x80) {
      this.buf[this.len++] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
    this.buf[this.len++] = v;
  }
  /** int64 varint: negative values as 64-bit two's complement (10 bytes). */
  int64(v: number) {
    if (!Number.isSafeInteger(v)) throw new UserError(`tf.Example int64 value ${v} is not a safe integer`);
    if (v >= 0) return this.uvarint(v);
    let x = BigInt.asUintN(64, BigInt(v));
    this.ensure(10);
    while (x >= 0x80n) {
      this.buf[this.len++] = Number(x & 0x7fn) | 0x80;
      x >>= 7n;
    }
    this.buf[this.len++] = Number(x);
  }
  tag(field: number, wire: number) {
    this.uvarint((field << 3) | wire);
  }
  bytes(field: number, b: Uint8Array) {
    this.tag(field, 2);
    this.uvarint(b.length);
    this.ensure(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
  }
  packedFloats(field: number, vals: ArrayLike<number>) {
    this.tag(field, 2);
    this.uvarint(vals.length * 4);
    this.ensure(vals.length * 4);
    const view = new DataView(this.buf.buffer, this.len, vals.length * 4);
    for (let i = 0; i < vals.length; i++) view.setFloat32(4 * i, vals[i], true);
    this.len += vals.length * 4;
  }
  finish(): Uint8Array {
    return this.buf.slice(0, this.len);
  }
}

/**
 * Serialises a tf.train.Example (the bytes `example.SerializeToString()` gives, up to map order).
 * @param features name → `{ floatList }` | `{ int64List }` | `{ bytesList }`.
 * @throws UserError for a feature with no or several lists, or a non-integer int64 value.
 */
export function encodeExample(features: ExampleFeatures): Uint8Array {
  const ex = new ProtoWriter();
  const featuresMsg = new ProtoWriter();
  for (const [key, f] of Object.entries(features)) {
    const feat = new ProtoWriter();
    const kinds = Object.keys(f);
    if (kinds.length !== 1) throw new UserError(`encodeExample: feature '${key}' must have exactly one of bytesList, floatList, int64List (got ${kinds.join(', ') || 'none'})`);
    if ('bytesList' in f) {
      const l = new ProtoWriter();
      for (const b of f.bytesList) l.bytes(1, b);
      feat.bytes(1, l.finish());
    } else if ('floatList' in f) {
      const l = new ProtoWriter();
      if (f.floatList.length) l.packedFloats(1, f.floatList);
      feat.bytes(2, l.finish());
    } else if ('int64List' in f) {
      const l = new ProtoWriter();
      if (f.int64List.length) {
        const inner = new ProtoWriter();
        for (const v of f.int64List) inner.int64(v);
        l.bytes(1, inner.finish());
      }
      feat.bytes(3, l.finish());
    } else throw new UserError(`encodeExample: feature '${key}' has an unknown kind '${kinds[0]}'`);
    const entry = new ProtoWriter();
    entry.bytes(1, new TextEncoder().encode(key));
    entry.bytes(2, feat.finish());
    featuresMsg.bytes(1, entry.finish());
  }
  ex.bytes(1, featuresMsg.finish());
  return ex.finish();
}

// ---- reader ---------------------------------------------------------------------------------------

class ProtoReader {
  pos: number;
  private readonly view: DataView;
  constructor(
    readonly buf: Uint8Array,
    start = 0,
    readonly end = buf.length,
  ) {
    this.pos = start;
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }
  private fail(what: string): never {
    throw new UserError(`malformed tf.Example protobuf: ${what} at byte ${this.pos}`);
  }
  /** Varint as a JS number (unsigned interpretation, exact to 2⁵³). */
  uvarint(): number {
    let result = 0;
    let mul = 1;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) this.fail('truncated varint');
      const b = this.buf[this.pos++];
      result += (b & 0x7f) * mul;
      if (b < 0x80) return result;
      mul *= 128;
    }
    this.fail('varint longer than 10 bytes');
  }
  /** int64 varint (two's complement) as a JS number. */
  int64(): number {
    const start = this.pos;
    let x = 0n;
    let shift = 0n;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) this.fail('truncated varint');
      const b = this.buf[this.pos++];
      x |= BigInt(b & 0x7f) << shift;
      if (b < 0x80) {
        // Fast path for small non-negative values (1–4 bytes).
        if (this.pos - start <= 4) return Number(x);
        return Number(BigInt.asIntN(64, x));
      }
      shift += 7n;
    }
    this.fail('varint longer than 10 bytes');
  }
  /**
   * Skips to the next length-delimited field numbered `field` (other fields are skipped) and returns a
   * reader over its bytes; undefined at the end of this message.
   */
  nextLengthDelimited(field: number): ProtoReader | undefined {
    while (this.pos < this.end) {
      const tag = this.uvarint();
      if (tag >>> 3 === field && (tag & 7) === 2) {
        const [s, e] = this.lengthDelimited();
        return new ProtoReader(this.buf, s, e);
      }
      this.skip(tag & 7);
    }
    return undefined;
  }
  lengthDelimited(): [number, number] {
    const n = this.uvarint();
    const s = this.pos;
    if (s + n > this.end) this.fail(`length ${n} past the end of the message`);
    this.pos = s + n;
    return [s, s + n];
  }
  float32(): number {
    if (this.pos + 4 > this.end) this.fail('truncated float');
    const v = this.view.getFloat32(this.pos, true);
    this.pos += 4;
    return v;
  }
  skip(wire: number) {
    switch (wire) {
      case 0:
        this.uvarint();
        break;
      case 1:
        this.pos += 8;
        break;
      case 2:
        this.lengthDelimited();
        break;
      case 5:
        this.pos += 4;
        break;
      default:
        this.fail(`unsupported wire type ${wire}`);
    }
    if (this.pos > this.end) this.fail('field past the end of the message');
  }
}

function decodeFeature(r: ProtoReader, s: number, e: number): Feature | undefined {
  const f = new ProtoReader(r.buf, s, e);
  let out: Feature | undefined;
  while (f.pos < f.end) {
    const tag = f.uvarint();
    const field = tag >>> 3;
    const wire = tag & 7;
    if (wire !== 2 || field < 1 || field > 3) {
      f.skip(wire);
      continue;
    }
    const [ls, le] = f.lengthDelimited();
    const l = new ProtoReader(r.buf, ls, le);
    if (field === 1) {
      const vals: Uint8Array[] = [];
      for (let b; (b = l.nextLengthDelimited(1)); ) vals.push(new Uint8Array(r.buf.subarray(b.pos, b.end)));
      out = { bytesList: vals };
    } else if (field === 2) {
      // Packed runs and unpacked values may both occur (and repeat); concatenate them in order.
      const pieces: Float32Array[] = [];
      while (l.pos < l.end) {
        const t = l.uvarint();
        if (t >>> 3 === 1 && (t & 7) === 2) {
          const [ps, pe] = l.lengthDelimited();
          if ((pe - ps) % 4) throw new UserError(`malformed tf.Example protobuf: packed float list of ${pe - ps} bytes`);
          const p = new ProtoReader(r.buf, ps, pe);
          const run = new Float32Array((pe - ps) / 4);
          for (let i = 0; i < run.length; i++) run[i] = p.float32();
          pieces.push(run);
        } else if (t >>> 3 === 1 && (t & 7) === 5) pieces.push(Float32Array.of(l.float32()));
        else l.skip(t & 7);
      }
      let floats: Float32Array;
      if (pieces.length === 1) floats = pieces[0];
      else {
        floats = new Float32Array(pieces.reduce((a, p) => a + p.length, 0));
        let o = 0;
        for (const p of pieces) floats.set(p, (o += p.length) - p.length);
      }
      out = { floatList: floats };
    } else {
      const vals: number[] = [];
      while (l.pos < l.end) {
        const t = l.uvarint();
        if (t >>> 3 === 1 && (t & 7) === 2) {
          const [ps, pe] = l.lengthDelimited();
          const p = new ProtoReader(r.buf, ps, pe);
          while (p.pos < p.end) vals.push(p.int64());
        } else if (t >>> 3 === 1 && (t & 7) === 0) vals.push(l.int64());
        else l.skip(t & 7);
      }
      out = { int64List: vals };
    }
  }
  return out;
}

/**
 * Parses a serialised tf.train.Example.
 * @returns name → feature; float lists as Float32Array, int64 lists as numbers, bytes as copies. A feature
 *   entry with no list set decodes as an empty float list (what TensorFlow reads as a missing value).
 * @throws UserError "malformed tf.Example protobuf …" for truncated or inconsistent bytes.
 */
export function decodeExample(bytes: Uint8Array): ExampleFeatures {
  const r = new ProtoReader(bytes);
  const out: ExampleFeatures = {};
  const dec = new TextDecoder('utf-8', { fatal: false });
  // Example { Features features = 1 }, Features { map<string, Feature> feature = 1 } (map entries: key = 1, value = 2).
  for (let features; (features = r.nextLengthDelimited(1)); ) {
    for (let er; (er = features.nextLengthDelimited(1)); ) {
      let key = '';
      let feature: Feature | undefined;
      while (er.pos < er.end) {
        const et = er.uvarint();
        if (et >>> 3 === 1 && (et & 7) === 2) {
          const [ks, ke] = er.lengthDelimited();
          key = dec.decode(bytes.subarray(ks, ke));
        } else if (et >>> 3 === 2 && (et & 7) === 2) {
          const [vs, ve] = er.lengthDelimited();
          feature = decodeFeature(er, vs, ve);
        } else er.skip(et & 7);
      }
      out[key] = feature ?? { floatList: new Float32Array(0) };
    }
  }
  return out;
}

// ---- parse_single_example ---------------------------------------------------------------------------

/** dtypes of {@link FixedLenFeature}: tf.float32, tf.int64 (parsed into int32 tensors), tf.string (bytes). */
export type FeatureDType = 'float32' | 'int64' | 'string';

/** A tf.io.FixedLenFeature spec (see {@link FixedLenFeature}). */
export interface FixedLenFeatureSpec {
  kind: 'FixedLenFeature';
  shape: number[];
  dtype: FeatureDType;
  defaultValue?: number | number[] | Uint8Array | Uint8Array[];
}

/**
 * tf.io.FixedLenFeature(shape, dtype, default_value): a feature with exactly `product(shape)` values.
 * @param shape         per-example shape, e.g. `[28, 28]`, `[1]`, `[]` (scalar).
 * @param dtype         'float32' | 'int64' | 'string'.
 * @param defaultValue  used when the feature is absent: a scalar (broadcast), a full list, or bytes.
 */
export function FixedLenFeature(shape: number[], dtype: FeatureDType, defaultValue?: FixedLenFeatureSpec['defaultValue']): FixedLenFeatureSpec {
  if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0))
    throw new UserError(`FixedLenFeature: shape must be a list of non-negative integers (got ${JSON.stringify(shape)})`);
  if (!['float32', 'int64', 'string'].includes(dtype)) throw new UserError(`FixedLenFeature: dtype must be 'float32', 'int64' or 'string' (got '${dtype}')`);
  return { kind: 'FixedLenFeature', shape: shape.slice(), dtype, defaultValue };
}

/** Value of a parsed feature: numeric features as TensorData (int64 → int32); strings as bytes (`[]`) or a flat list of bytes. */
export type ParsedFeature = TensorData | Uint8Array | Uint8Array[];

const LIST_NAME = { bytesList: 'bytes_list', floatList: 'float_list', int64List: 'int64_list' } as const;
const WANT_LIST = { float32: 'floatList', int64: 'int64List', string: 'bytesList' } as const;

/**
 * tf.io.parse_single_example with FixedLenFeature specs.
 * @param serialized  a serialised tf.train.Example (e.g. a TFRecord record).
 * @param spec        name → {@link FixedLenFeature} (undefined entries are ignored).
 * @returns name → float32 TensorData of `shape` | int32 TensorData of `shape` (int64 values must fit in
 *   int32) | for strings: a Uint8Array when `shape` is `[]`, else a flat list of `product(shape)` Uint8Arrays.
 * @throws UserError naming the feature: absent without default, stored as another list type, wrong number
 *   of values for the shape, or an int64 outside the int32 range; and for malformed protobuf bytes.
 */
export function parseSingleExample(serialized: Uint8Array, spec: Readonly<Record<string, FixedLenFeatureSpec | undefined>>): Record<string, ParsedFeature> {
  const ex = decodeExample(serialized);
  const out: Record<string, ParsedFeature> = {};
  for (const [name, s] of Object.entries(spec)) {
    if (s === undefined) continue;
    if (!s || s.kind !== 'FixedLenFeature') throw new UserError(`parseSingleExample: spec of '${name}' is not a FixedLenFeature(...)`);
    const n = shapeSize(s.shape);
    const want = WANT_LIST[s.dtype];
    const f = ex[name];
    let values: ArrayLike<number> | Uint8Array[];
    if (!f || listLength(f) === 0) {
      if (s.defaultValue === undefined)
        throw new UserError(`parseSingleExample: feature '${name}' is missing from the example and its FixedLenFeature has no defaultValue`);
      values = expandDefault(name, s, n);
    } else {
      const kind = Object.keys(f)[0] as keyof typeof LIST_NAME;
      if (kind !== want)
        throw new UserError(`parseSingleExample: feature '${name}' is stored as a ${LIST_NAME[kind]} but its FixedLenFeature has dtype ${s.dtype} (needs a ${LIST_NAME[want]})`);
      values = (f as Record<string, ArrayLike<number> | Uint8Array[]>)[kind];
    }
    if (values.length !== n)
      throw new UserError(
        `parseSingleExample: feature '${name}' has ${values.length} values but FixedLenFeature(${formatShape(s.shape)}) needs ${n}`,
      );
    if (s.dtype === 'float32') {
      const v = values as ArrayLike<number>;
      out[name] = { data: v instanceof Float32Array ? v : Float32Array.from(v), shape: s.shape.slice(), dtype: 'float32' };
    } else if (s.dtype === 'int64') {
      const v = values as ArrayLike<number>;
      const data = new Int32Array(n);
      for (let i = 0; i < n; i++) {
        if (v[i] > 2147483647 || v[i] < -2147483648)
          throw new UserError(`parseSingleExample: int64 feature '${name}' value ${v[i]} does not fit in int32 (the wafer's integer type)`);
        data[i] = v[i];
      }
      out[name] = { data, shape: s.shape.slice(), dtype: 'int32' };
    } else {
      const v = values as Uint8Array[];
      out[name] = s.shape.length === 0 ? v[0] : v.slice();
    }
  }
  return out;
}

function listLength(f: Feature): number {
  if ('bytesList' in f) return f.bytesList.length;
  if ('floatList' in f) return f.floatList.length;
  return f.int64List.length;
}

function expandDefault(name: string, s: FixedLenFeatureSpec, n: number): ArrayLike<number> | Uint8Array[] {
  const d = s.defaultValue!;
  if (s.dtype === 'string') {
    if (d instanceof Uint8Array) return new Array(n).fill(d);
    if (Array.isArray(d) && d.every((x) => x instanceof Uint8Array)) return d as Uint8Array[];
    throw new UserError(`parseSingleExample: defaultValue of string feature '${name}' must be a Uint8Array or a list of them`);
  }
  if (typeof d === 'number') return new Array(n).fill(d);
  if (Array.isArray(d) && d.every((x) => typeof x === 'number')) return d as number[];
  throw new UserError(`parseSingleExample: defaultValue of ${s.dtype} feature '${name}' must be a number or a list of numbers`);
}

/**
 * tf.io.decode_raw: reinterprets bytes as a vector of `outType` values.
 * @param littleEndian byte order of multi-byte types (default true, as tf.io.decode_raw).
 * @throws UserError if the byte length is not a multiple of the element size.
 */
export function decodeRaw(bytes: Uint8Array, outType: 'uint8' | 'int32' | 'float32', littleEndian = true): TensorData {
  if (outType === 'uint8') return { data: new Uint8Array(bytes), shape: [bytes.length], dtype: 'uint8' };
  if (bytes.length % 4) throw new UserError(`decodeRaw: ${bytes.length} bytes is not a multiple of 4 (the size of ${outType})`);
  const n = bytes.length / 4;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (outType === 'int32') {
    const out = new Int32Array(n);
    for (let i = 0; i < n; i++) out[i] = view.getInt32(4 * i, littleEndian);
    return { data: out, shape: [n], dtype: 'int32' };
  }
  if (outType === 'float32') {
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = view.getFloat32(4 * i, littleEndian);
    return { data: out, shape: [n], dtype: 'float32' };
  }
  throw new UserError(`decodeRaw: outType must be 'uint8', 'int32' or 'float32' (got '${String(outType)}')`);
}
