/**
 * The IDX file format of the MNIST database (Y. LeCun, C. Cortes, C. Burges, "THE MNIST DATABASE of
 * handwritten digits", http://yann.lecun.com/exdb/mnist/, section "FILE FORMATS FOR THE MNIST DATABASE"):
 *
 * ```
 * magic   4 bytes: 0x00 0x00 <type> <ndims>     type 0x08 ubyte, 0x09 byte, 0x0B short, 0x0C int,
 *                                                0x0D float, 0x0E double
 * dims    ndims × uint32, big-endian
 * data    product(dims) values of <type>, big-endian, row-major
 * ```
 * So the magic number read as a big-endian uint32 is 2051 (0x803) for MNIST images (ubyte, 3 dims) and
 * 2049 (0x801) for labels (ubyte, 1 dim). Files may be gzipped (as distributed): detected by the gzip
 * magic bytes 1f 8b.
 */
import fs from 'node:fs';
import zlib from 'node:zlib';
import { UserError } from '../../../runtime/errors.ts';
import type { TensorData } from '../../../runtime/batch.ts';
import { formatShape, shapeSize } from '../tensor.ts';

/** IDX element types by type code, with their size in bytes. */
const IDX_TYPES: Record<number, { name: string; bytes: number }> = {
  0x08: { name: 'ubyte', bytes: 1 },
  0x09: { name: 'byte', bytes: 1 },
  0x0b: { name: 'short', bytes: 2 },
  0x0c: { name: 'int', bytes: 4 },
  0x0d: { name: 'float', bytes: 4 },
  0x0e: { name: 'double', bytes: 8 },
};

/** A decoded IDX file: the tensor, its IDX type name and the magic number. */
export interface IdxFile {
  /** ubyte → uint8; byte, short, int → int32; float, double → float32. */
  tensor: TensorData;
  /** 'ubyte' | 'byte' | 'short' | 'int' | 'float' | 'double'. */
  type: string;
  /** The first 4 bytes as a big-endian uint32 (2051 for MNIST images, 2049 for labels). */
  magic: number;
}

/** True if the bytes start with the gzip magic 1f 8b (RFC 1952 §2.3.1). */
export function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/**
 * Reads a file, gunzipping it if it starts with the gzip magic.
 * @throws UserError naming the file if it cannot be read or its gzip stream is corrupt or truncated.
 */
export function readMaybeGzipped(file: string): Uint8Array {
  let raw: Buffer;
  try {
    raw = fs.readFileSync(file);
  } catch (e: any) {
    throw new UserError(`${file}: cannot read (${e.code ?? e.message})`);
  }
  if (!isGzip(raw)) return raw;
  try {
    return zlib.gunzipSync(raw);
  } catch (e: any) {
    throw new UserError(`${file}: corrupt or truncated gzip data (${e.code ?? e.message})`);
  }
}

/**
 * Decodes IDX bytes (see the module doc).
 * @param bytes  the (already gunzipped) file content.
 * @param file   named in errors.
 * @throws UserError naming the file for a bad magic (non-zero first bytes, unknown type code, 0 dims), a
 *   header shorter than declared, or data shorter/longer than `product(dims) × size`.
 */
export function decodeIdx(bytes: Uint8Array, file: string): IdxFile {
  if (bytes.length < 4) throw new UserError(`${file}: not an IDX file: ${bytes.length} bytes, shorter than the 4-byte magic number`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = view.getUint32(0, false);
  const typeCode = bytes[2];
  const ndims = bytes[3];
  const type = IDX_TYPES[typeCode];
  if (bytes[0] !== 0 || bytes[1] !== 0 || !type || ndims === 0)
    throw new UserError(
      `${file}: not an IDX file: magic number ${magic} (0x${magic.toString(16).padStart(8, '0')}); expected 0x0000TTDD ` +
        `with a known type TT and DD ≥ 1 dimensions (MNIST images 2051, labels 2049)`,
    );
  const headerBytes = 4 + 4 * ndims;
  if (bytes.length < headerBytes)
    throw new UserError(`${file}: truncated IDX file: the header declares ${ndims} dimensions (${headerBytes} bytes) but the file has ${bytes.length} bytes`);
  const shape: number[] = [];
  for (let i = 0; i < ndims; i++) shape.push(view.getUint32(4 + 4 * i, false));
  const count = shapeSize(shape);
  const expected = headerBytes + count * type.bytes;
  if (bytes.length < expected)
    throw new UserError(
      `${file}: truncated IDX file: header declares ${formatShape(shape)} ${type.name} values (${expected} bytes in all) but the file has ${bytes.length} bytes`,
    );
  if (bytes.length > expected)
    throw new UserError(`${file}: malformed IDX file: ${bytes.length - expected} bytes after the ${formatShape(shape)} ${type.name} values the header declares`);
  let tensor: TensorData;
  const off = headerBytes;
  switch (typeCode) {
    case 0x08:
      tensor = { data: new Uint8Array(bytes.subarray(off, off + count)), shape, dtype: 'uint8' };
      break;
    case 0x0d:
    case 0x0e: {
      const out = new Float32Array(count);
      const f64 = typeCode === 0x0e;
      for (let i = 0; i < count; i++) out[i] = f64 ? view.getFloat64(off + 8 * i, false) : view.getFloat32(off + 4 * i, false);
      tensor = { data: out, shape, dtype: 'float32' };
      break;
    }
    default: {
      const out = new Int32Array(count);
      for (let i = 0; i < count; i++)
        out[i] = typeCode === 0x09 ? view.getInt8(off + i) : typeCode === 0x0b ? view.getInt16(off + 2 * i, false) : view.getInt32(off + 4 * i, false);
      tensor = { data: out, shape, dtype: 'int32' };
    }
  }
  return { tensor, type: type.name, magic };
}

/**
 * Reads an IDX file (optionally gzipped).
 * @throws UserError naming the file: missing/unreadable, corrupt gzip, or any {@link decodeIdx} error.
 */
export function readIdx(file: string): IdxFile {
  return decodeIdx(readMaybeGzipped(file), file);
}

/**
 * Encodes a uint8 tensor as IDX bytes (type ubyte; magic `0x0000 08 <rank>`): used by tests and tools that
 * write MNIST-format fixtures.
 */
export function encodeIdxUint8(t: TensorData): Uint8Array {
  if (t.dtype !== 'uint8') throw new UserError(`encodeIdxUint8: expected a uint8 tensor (got ${t.dtype})`);
  const header = 4 + 4 * t.shape.length;
  const out = new Uint8Array(header + t.data.length);
  const view = new DataView(out.buffer);
  out[2] = 0x08;
  out[3] = t.shape.length;
  t.shape.forEach((d, i) => view.setUint32(4 + 4 * i, d, false));
  out.set(t.data, header);
  return out;
}
