/**
 * Checkpoints: `model.ckpt-<step>.safetensors` files and the JSON `checkpoint` index of a model_dir.
 *
 * File format: safetensors (https://github.com/huggingface/safetensors#format): an 8-byte little-endian
 * header length N, N bytes of JSON header `{ name: { dtype, shape, data_offsets: [begin, end] }, …,
 * "__metadata__": { string: string } }` padded with spaces to a multiple of 8, then the raw little-endian
 * tensor bytes (offsets relative to the start of that byte buffer). Python's `safetensors.numpy.load_file`
 * reads it. Tensors: every parameter by its graph name (F32), optimizer slots as `<param>/<slot>` (F32),
 * and `global_step` (I64 scalar, as TensorFlow's global_step variable). The metadata carries
 * `format: csrun-ckpt-1`, the global step and `crc32c`, the CRC-32C of the tensor bytes, so that a
 * truncated or corrupted file is detected and never silently used.
 *
 * Writes are atomic: temp file in the same directory, fsync, rename, fsync of the directory; the index is
 * replaced the same way only after the checkpoint file is in place, so a crash at any moment leaves the
 * previous checkpoint valid and latest.
 */
import fs from 'node:fs';
import path from 'node:path';
import crc32c from 'crc-32/crc32c';
import { UserError } from './errors.ts';
import { ensureDir, withFsErrors, writeFileAtomic } from './fs.ts';

/** A tensor stored in a checkpoint. */
export interface StoredTensor {
  dtype: 'F32' | 'I64' | 'I32';
  shape: number[];
  data: Float32Array | BigInt64Array | Int32Array;
}

/** Contents of one checkpoint. */
export interface Checkpoint {
  globalStep: number;
  /** Tensors by name (parameters, optimizer slots); `global_step` is added on write. */
  tensors: Record<string, StoredTensor>;
  /** Extra string metadata (e.g. optimizer name, graph hash). */
  metadata?: Record<string, string>;
}

const FORMAT = 'csrun-ckpt-1';
const BYTES: Record<StoredTensor['dtype'], number> = { F32: 4, I64: 8, I32: 4 };

/** File name of the checkpoint index in a model_dir (TensorFlow's name). */
export const CHECKPOINT_INDEX = 'checkpoint';

/** `model.ckpt-<step>.safetensors` */
export function checkpointFileName(step: number): string {
  return `model.ckpt-${step}.safetensors`;
}

/**
 * Serialises a checkpoint to safetensors bytes: its tensors plus `global_step` (I64 scalar), and
 * `__metadata__` with the format, step and the CRC-32C of the tensor data.
 * @throws Error if a tensor's data length does not match its shape.
 */
export function encodeCheckpoint(ckpt: Checkpoint): Uint8Array {
  const tensors: Record<string, StoredTensor> = {
    ...ckpt.tensors,
    global_step: { dtype: 'I64', shape: [], data: BigInt64Array.of(BigInt(ckpt.globalStep)) },
  };
  return encodeSafetensors(tensors, (body) => ({ ...(ckpt.metadata ?? {}), format: FORMAT, global_step: String(ckpt.globalStep), crc32c: String(crc32c.buf(body) >>> 0) }));
}

/**
 * Serialises tensors in the safetensors layout (huggingface/safetensors README, "Format"): an unsigned
 * 64-bit little-endian header length N, N bytes of JSON `{ <name>: { dtype, shape, data_offsets: [begin, end] },
 * __metadata__?: { string: string } }` (padded with spaces to a multiple of 8), then the raw little-endian
 * tensor bytes, offsets relative to the data's start. Tensors are stored in sorted name order.
 * @param metadata string map for `__metadata__`, computed from the data bytes (e.g. a checksum); none if absent.
 * @throws Error if a tensor's data length does not match its shape.
 */
export function encodeSafetensors(tensors: Record<string, StoredTensor>, metadata?: (body: Uint8Array) => Record<string, string>): Uint8Array {
  const names = Object.keys(tensors).sort();
  const header: Record<string, unknown> = {};
  let offset = 0;
  for (const name of names) {
    const t = tensors[name];
    const n = t.shape.reduce((a, b) => a * b, 1);
    if (t.data.length !== n) throw new Error(`tensor '${name}': ${t.data.length} values for shape [${t.shape}]`);
    const bytes = n * BYTES[t.dtype];
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  const body = new Uint8Array(offset);
  for (const name of names) {
    const t = tensors[name];
    const [b] = (header[name] as { data_offsets: number[] }).data_offsets;
    body.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), b);
  }
  if (metadata) header.__metadata__ = metadata(body);
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (Buffer.byteLength(json) % 8)) % 8);
  const jsonBytes = Buffer.from(json);
  const out = new Uint8Array(8 + jsonBytes.length + body.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(jsonBytes.length), true);
  out.set(jsonBytes, 8);
  out.set(body, 8 + jsonBytes.length);
  return out;
}

/**
 * Parses and verifies safetensors bytes.
 * @param where file name for error messages.
 * @throws UserError naming `where` if the file is truncated, its header is malformed, offsets are out of
 *   range or the CRC-32C of the tensor bytes does not match.
 */
export function decodeCheckpoint(bytes: Uint8Array, where: string): Checkpoint {
  const bad = (why: string): never => {
    throw new UserError(`${where}: corrupted or truncated checkpoint (${why})`);
  };
  if (bytes.length < 8) bad(`${bytes.length} bytes`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = Number(dv.getBigUint64(0, true));
  if (8 + n > bytes.length) bad(`header of ${n} bytes but file has ${bytes.length}`);
  let header: Record<string, any>;
  try {
    header = JSON.parse(Buffer.from(bytes.subarray(8, 8 + n)).toString('utf8'));
  } catch {
    return bad('header is not JSON');
  }
  const meta = (header.__metadata__ ?? {}) as Record<string, string>;
  if (meta.format !== FORMAT) bad(`format '${meta.format}', expected '${FORMAT}'`);
  const body = bytes.subarray(8 + n);
  let end = 0;
  for (const [name, h] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    end = Math.max(end, h?.data_offsets?.[1] ?? Infinity);
  }
  if (end !== body.length) bad(`tensor data ends at byte ${end} but the file holds ${body.length}`);
  if (String(crc32c.buf(body) >>> 0) !== meta.crc32c) bad('CRC-32C of the tensor data does not match');
  const tensors: Record<string, StoredTensor> = {};
  let globalStep = Number(meta.global_step);
  for (const [name, h] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const dtype = h.dtype as StoredTensor['dtype'];
    if (!(dtype in BYTES)) bad(`tensor '${name}' has unsupported dtype ${h.dtype}`);
    const [b, e] = h.data_offsets as [number, number];
    const count = (h.shape as number[]).reduce((x, y) => x * y, 1);
    if (e - b !== count * BYTES[dtype]) bad(`tensor '${name}' has ${e - b} bytes for shape [${h.shape}]`);
    const copy = Uint8Array.from(body.subarray(b, e)).buffer; // a copy (Buffer.slice would share memory)
    const data = dtype === 'F32' ? new Float32Array(copy) : dtype === 'I32' ? new Int32Array(copy) : new BigInt64Array(copy);
    if (name === 'global_step') globalStep = Number((data as BigInt64Array)[0]);
    else tensors[name] = { dtype, shape: h.shape, data };
  }
  const { format: _f, crc32c: _c, global_step: _g, ...metadata } = meta;
  return { globalStep, tensors, metadata };
}

/** The JSON `checkpoint` index (TensorFlow's keys): latest checkpoint and all kept ones, oldest first. */
export interface CheckpointIndex {
  model_checkpoint_path: string;
  all_model_checkpoint_paths: string[];
}

/** Reads `<modelDir>/checkpoint`; undefined when there is none. @throws UserError if it is malformed. */
export function readIndex(modelDir: string): CheckpointIndex | undefined {
  const f = path.join(modelDir, CHECKPOINT_INDEX);
  if (!fs.existsSync(f)) return undefined;
  try {
    const idx = JSON.parse(fs.readFileSync(f, 'utf8')) as CheckpointIndex;
    if (typeof idx.model_checkpoint_path !== 'string' || !Array.isArray(idx.all_model_checkpoint_paths)) throw new Error('missing keys');
    return idx;
  } catch (e: any) {
    throw new UserError(`${f}: malformed checkpoint index (${e.message})`);
  }
}

/**
 * Replaces `<modelDir>/checkpoint` atomically.
 * @throws UserError naming the file for a full disk or a read-only model_dir (the old index is then unchanged).
 */
export function writeIndex(modelDir: string, index: CheckpointIndex): void {
  writeFileAtomic(path.join(modelDir, CHECKPOINT_INDEX), JSON.stringify(index, null, 2) + '\n', 'writing checkpoint index');
}

/** The global step of a checkpoint file name `model.ckpt-<step>.safetensors`; undefined for other names. */
export function checkpointStepOf(name: string): number | undefined {
  const m = /^model\.ckpt-(\d+)\.safetensors$/.exec(path.basename(name));
  return m ? Number(m[1]) : undefined;
}

/** Absolute path of the latest checkpoint of a model_dir, if any. */
export function latestCheckpoint(modelDir: string): string | undefined {
  const idx = readIndex(modelDir);
  return idx ? path.resolve(modelDir, idx.model_checkpoint_path) : undefined;
}

/**
 * Reads and verifies a checkpoint file.
 * @throws UserError naming the file if it is missing, truncated or corrupted.
 */
export function readCheckpoint(file: string): Checkpoint {
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(file);
  } catch (e: any) {
    throw new UserError(`${file}: cannot read checkpoint (${e.code ?? e.message})`);
  }
  return decodeCheckpoint(bytes, file);
}

/**
 * Writes a checkpoint atomically, makes it the latest in the index and deletes the oldest ones beyond
 * `keepMax` (0 keeps all), except those named in `keep` (file names, e.g. the best checkpoint of
 * keep_best_checkpoint), which stay in the index. Old checkpoints are deleted only after the new one and the
 * index are in place.
 * @returns the absolute path written.
 * @throws UserError naming the file for a full disk, a read-only model_dir or one that is a file; the
 *   previous checkpoint and index are then unchanged.
 */
export function saveCheckpoint(modelDir: string, ckpt: Checkpoint, keepMax: number, keep: readonly string[] = []): string {
  ensureDir(modelDir, 'creating model_dir');
  const name = checkpointFileName(ckpt.globalStep);
  const file = path.join(modelDir, name);
  writeFileAtomic(file, encodeCheckpoint(ckpt), 'writing checkpoint');
  const prev = readIndex(modelDir)?.all_model_checkpoint_paths ?? [];
  let all = [...prev.filter((p) => p !== name), name];
  const removed = (keepMax > 0 && all.length > keepMax ? all.slice(0, all.length - keepMax) : []).filter((p) => !keep.includes(path.basename(p)));
  all = all.filter((p) => !removed.includes(p));
  writeIndex(modelDir, { model_checkpoint_path: name, all_model_checkpoint_paths: all });
  for (const r of removed) withFsErrors(path.resolve(modelDir, r), 'removing old checkpoint', () => fs.rmSync(path.resolve(modelDir, r), { force: true }));
  return file;
}
