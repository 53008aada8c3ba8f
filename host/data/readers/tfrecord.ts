/**
 * TFRecord files: record framing (reader and writer) and `TFRecordDataset`.
 *
 * Framing of each record (tensorflow/core/lib/io/record_writer.h; TensorFlow guide "TFRecord and
 * tf.train.Example", section "TFRecords format details"):
 * ```
 * uint64 length                       little-endian
 * uint32 masked_crc32c(length)        of the 8 length bytes
 * byte   data[length]
 * uint32 masked_crc32c(data)
 * ```
 * `masked_crc32c(x) = ((c >>> 15) | (c << 17)) + 0xa282ead8` (mod 2³²) with `c = crc32c(x)`, the
 * Castagnoli CRC (tensorflow/core/lib/hash/crc32c.h, `Mask`). CRC32C comes from the `crc-32` package
 * (`crc-32/crc32c`). Files may be GZIP- or ZLIB-compressed as a whole (tf.io.TFRecordOptions
 * compression_type). TensorBoard event files use the same framing.
 */
import fs from 'node:fs';
import zlib from 'node:zlib';
import type { Readable, Writable } from 'node:stream';
import CRC32C from 'crc-32/crc32c';
import { UserError } from '../../../runtime/errors.ts';
import { Dataset } from '../dataset.ts';

/** Whole-file compression of a TFRecord file (tf's `compression_type`): '' (none), 'GZIP' or 'ZLIB'. */
export type CompressionType = '' | 'GZIP' | 'ZLIB';

const MASK_DELTA = 0xa282ead8;

/** CRC-32C (Castagnoli) of `data` as an unsigned 32-bit integer. */
export function crc32c(data: Uint8Array): number {
  return CRC32C.buf(data) >>> 0;
}

/** TensorFlow's masked CRC-32C of `data` (see the module doc), unsigned 32-bit. */
export function maskedCrc32c(data: Uint8Array): number {
  const c = crc32c(data);
  return ((((c >>> 15) | (c << 17)) >>> 0) + MASK_DELTA) >>> 0;
}

/**
 * Frames one record: `length (u64 LE) | masked crc of length | data | masked crc of data`.
 * @returns a new buffer of `data.length + 16` bytes.
 */
export function encodeRecord(data: Uint8Array): Uint8Array {
  const out = new Uint8Array(data.length + 16);
  const view = new DataView(out.buffer);
  view.setUint32(0, data.length >>> 0, true);
  view.setUint32(4, Math.floor(data.length / 4294967296), true);
  view.setUint32(8, maskedCrc32c(out.subarray(0, 8)), true);
  out.set(data, 12);
  view.setUint32(12 + data.length, maskedCrc32c(data), true);
  return out;
}

/** Result of {@link decodeRecordAt}: the record's data and the offset just past it. */
export interface DecodedRecord {
  data: Uint8Array;
  next: number;
}

/**
 * Decodes the record starting at `offset` of `buf`.
 * @param where  names the file (and stream kind) in errors.
 * @param index  the record's index, named in errors.
 * @param baseOffset  byte offset of `buf[0]` in the file, for messages.
 * @returns the record (data copied), or `null` if `buf` ends before the record does (the caller may
 *   append more bytes and retry).
 * @throws UserError naming the file, record index and byte offset on a length or data CRC mismatch, or a
 *   length too large to be real (> 2³¹ bytes).
 */
export function decodeRecordAt(buf: Uint8Array, offset: number, where: string, index: number, baseOffset = 0, verify = true): DecodedRecord | null {
  if (buf.length - offset < 12) return null;
  const view = new DataView(buf.buffer, buf.byteOffset + offset, buf.length - offset);
  const lo = view.getUint32(0, true);
  const hi = view.getUint32(4, true);
  const at = `${where}: record ${index} (byte offset ${baseOffset + offset})`;
  if (verify) {
    const stored = view.getUint32(8, true);
    const computed = maskedCrc32c(buf.subarray(offset, offset + 8));
    if (stored !== computed)
      throw new UserError(`${at}: corrupted TFRecord: length CRC32C mismatch (stored 0x${hex(stored)}, computed 0x${hex(computed)})`);
  }
  if (hi !== 0 || lo > 0x7fffffff) throw new UserError(`${at}: corrupted TFRecord: implausible record length ${hi * 4294967296 + lo}`);
  const len = lo;
  if (buf.length - offset < 16 + len) return null;
  const data = new Uint8Array(buf.subarray(offset + 12, offset + 12 + len));
  if (verify) {
    const stored = view.getUint32(12 + len, true);
    const computed = maskedCrc32c(data);
    if (stored !== computed)
      throw new UserError(`${at}: corrupted TFRecord: data CRC32C mismatch (stored 0x${hex(stored)}, computed 0x${hex(computed)})`);
  }
  return { data, next: offset + 16 + len };
}

function hex(x: number): string {
  return x.toString(16).padStart(8, '0');
}

/**
 * Decodes every record of an in-memory TFRecord stream (uncompressed).
 * @throws UserError naming `where` on a CRC mismatch or a truncated last record.
 */
export function* decodeRecords(buf: Uint8Array, where = 'TFRecord data', verify = true): Generator<Uint8Array> {
  let p = 0;
  let k = 0;
  while (p < buf.length) {
    const r = decodeRecordAt(buf, p, where, k, 0, verify);
    if (!r) throw truncated(where, k, p, buf.length - p);
    yield r.data;
    p = r.next;
    k++;
  }
}

function truncated(where: string, index: number, offset: number, left: number): UserError {
  return new UserError(`${where}: truncated TFRecord: record ${index} at byte offset ${offset} is cut off (${left} bytes left in the file)`);
}

/** The compression of `file`: the explicit option, else 'GZIP' for names ending in `.gz`, else none. */
export function compressionFor(file: string, compressionType?: CompressionType): CompressionType {
  if (compressionType !== undefined) {
    if (!['', 'GZIP', 'ZLIB'].includes(compressionType))
      throw new UserError(`TFRecord compressionType must be '', 'GZIP' or 'ZLIB' (got '${String(compressionType)}')`);
    return compressionType;
  }
  return file.endsWith('.gz') ? 'GZIP' : '';
}

/** Options of {@link readTFRecords} / {@link TFRecordDataset}. */
export interface TFRecordReadOptions {
  /** '' | 'GZIP' | 'ZLIB'; default: GZIP for `*.gz` names, else none. */
  compressionType?: CompressionType;
  /** Verify the CRCs (default true). */
  verify?: boolean;
  /** Read buffer size in bytes (default 1 MiB). */
  bufferSize?: number;
}

/**
 * Streams the records of one TFRecord file (each a fresh Uint8Array), verifying both CRCs.
 * @throws UserError naming the file: cannot open, corrupt compressed stream, CRC mismatch (record index and
 *   offset named), or a truncated last record.
 */
export async function* readTFRecords(file: string, options: TFRecordReadOptions = {}): AsyncGenerator<Uint8Array> {
  const compression = compressionFor(file, options.compressionType);
  const verify = options.verify ?? true;
  try {
    await fs.promises.access(file, fs.constants.R_OK);
  } catch (e: any) {
    throw new UserError(`${file}: cannot open TFRecord file (${e.code ?? e.message})`);
  }
  const src = fs.createReadStream(file, { highWaterMark: options.bufferSize ?? 1 << 20 });
  let stream: Readable = src;
  if (compression) {
    const z = compression === 'GZIP' ? zlib.createGunzip() : zlib.createInflate();
    src.on('error', (e) => z.destroy(e));
    stream = src.pipe(z);
  }
  const where = compression ? `${file} (${compression}-decompressed)` : file;
  let buf: Uint8Array = new Uint8Array(0);
  let base = 0;
  let k = 0;
  try {
    for await (const chunk of stream) {
      buf = buf.length ? Buffer.concat([buf, chunk as Buffer]) : (chunk as Buffer);
      let p = 0;
      for (;;) {
        const r = decodeRecordAt(buf, p, where, k, base, verify);
        if (!r) break;
        yield r.data;
        p = r.next;
        k++;
      }
      buf = buf.subarray(p);
      base += p;
    }
  } catch (e: any) {
    if (e instanceof UserError) throw e;
    throw new UserError(`${where}: cannot read TFRecord file (${e.code ?? e.message})`);
  } finally {
    stream.destroy();
    src.destroy();
  }
  if (buf.length > 0) throw truncated(where, k, base, buf.length);
}

/**
 * tf.data.TFRecordDataset: the records of the files in order, file after file (each element a Uint8Array,
 * typically a serialised tf.train.Example for {@link parseSingleExample}).
 * @param filenames one path, a list, or a Dataset of paths (e.g. a sharded file list).
 * @throws UserError during iteration as {@link readTFRecords}.
 */
export function TFRecordDataset(filenames: string | string[] | Dataset<string>, options: TFRecordReadOptions = {}): Dataset<Uint8Array> {
  const files: Dataset<string> =
    filenames instanceof Dataset ? filenames : Dataset.fromTensorSlices(typeof filenames === 'string' ? [filenames] : filenames.slice());
  const perFile = (f: string) => {
    if (typeof f !== 'string') throw new UserError(`TFRecordDataset: file names must be strings (got ${typeof f})`);
    return Dataset.fromGenerator(() => readTFRecords(f, options));
  };
  return files.interleave(perFile, { cycleLength: 1 });
}

/** Options of {@link TFRecordWriter}. */
export interface TFRecordWriterOptions {
  /** '' | 'GZIP' | 'ZLIB'; default: GZIP for `*.gz` names, else none. */
  compressionType?: CompressionType;
}

/**
 * tf.io.TFRecordWriter: appends framed records to a new file (truncating an existing one).
 * `write` buffers; `close` flushes and resolves once the file is complete on disk.
 */
export class TFRecordWriter {
  private readonly out: Writable;
  private readonly file: fs.WriteStream;
  private error: Error | undefined;
  private closed = false;
  /** Records written so far. */
  count = 0;

  /** @throws UserError (from {@link close}) naming the path if the file cannot be written. */
  constructor(
    readonly path: string,
    options: TFRecordWriterOptions = {},
  ) {
    const compression = compressionFor(path, options.compressionType);
    this.file = fs.createWriteStream(path);
    this.file.on('error', (e) => (this.error ??= e));
    if (compression) {
      const z = compression === 'GZIP' ? zlib.createGzip() : zlib.createDeflate();
      z.on('error', (e) => (this.error ??= e));
      z.pipe(this.file);
      this.out = z;
    } else this.out = this.file;
  }

  /** Appends one record. @throws UserError if the writer is closed. */
  write(record: Uint8Array): void {
    if (this.closed) throw new UserError(`${this.path}: TFRecordWriter.write after close()`);
    this.out.write(encodeRecord(record));
    this.count++;
  }

  /** Flushes and closes the file. @throws UserError naming the path on any write error. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await new Promise<void>((resolve) => {
      if (this.error) return resolve();
      this.file.once('close', resolve);
      this.file.once('error', () => resolve());
      this.out.end();
    });
    if (this.error) throw new UserError(`${this.path}: cannot write TFRecord file (${(this.error as NodeJS.ErrnoException).code ?? this.error.message})`);
  }
}

/**
 * Writes records to a TFRecord file (see {@link TFRecordWriter}).
 * @returns the number of records written.
 */
export async function writeTFRecordFile(path: string, records: Iterable<Uint8Array> | AsyncIterable<Uint8Array>, options: TFRecordWriterOptions = {}): Promise<number> {
  const w = new TFRecordWriter(path, options);
  try {
    for await (const r of records) w.write(r);
  } finally {
    await w.close();
  }
  return w.count;
}
