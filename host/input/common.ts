/**
 * What the support server's main thread and its input workers share: loading the user's data module,
 * turning what an inputFn's dataset yields into a {@link Batch} ready to transfer, and checking batches
 * against the stream's signature.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { UserError } from '../../runtime/errors.ts';
import type { Mode } from '../../runtime/graph.ts';
import type { Params } from '../../runtime/params.ts';
import type { Batch, TensorData, TensorDType } from '../../runtime/batch.ts';
import { Dataset } from '../data/dataset.ts';
import type { InputFn } from '../data/input.ts';
import { asTensorData, describeValue, formatShape } from '../data/tensor.ts';
import { displayPath, errorSummary, importUserModule } from '../user-module.ts';

export { displayPath, errorSummary };

/**
 * A data-module convention besides csrun's own `inputFn` export (e.g. ElasticDL's `dataset_fn`,
 * host/input/elasticdl.ts): the exports it recognises and how one becomes an {@link InputFn}. The list of
 * conventions is host/input/conventions.ts; the loader only knows this interface.
 */
export interface InputFnAdapter {
  /** Named in errors, e.g. 'ElasticDL'. */
  name: string;
  /** Export names tried in order when the module has no `inputFn`. */
  exports: readonly string[];
  /** Wraps the export found (`file` is the data module's absolute path). */
  adapt(fn: (...args: never[]) => unknown, file: string): InputFn;
}

/** The absolute file path of a data module given as a path or a file: URL. */
export function dataModulePath(dataModule: string): string {
  return dataModule.startsWith('file:') ? fileURLToPath(dataModule) : path.resolve(dataModule);
}

/**
 * Imports a data module and returns its input function.
 * @param dataModule   absolute path or file: URL of data.ts (TypeScript needs tsx registered, as the CLI,
 *   vitest and the worker bootstrap do).
 * @param exportName   the export to use (default 'inputFn'). If the module has no `inputFn`, the first
 *   export of an adapter's convention found is adapted (e.g. ElasticDL's `datasetFn`).
 * @param adapters     the other conventions accepted (host/input/conventions.ts INPUT_ADAPTERS).
 * @throws UserError naming the file if it does not exist, fails to load (message and location), or exports
 *   no such function.
 */
export async function loadInputFn(dataModule: string, exportName = 'inputFn', adapters: readonly InputFnAdapter[] = []): Promise<InputFn> {
  const file = dataModulePath(dataModule);
  const mod = await importUserModule(file, 'data module');
  const fn = mod[exportName];
  if (typeof fn === 'function') return fn as InputFn;
  const tried = exportName === 'inputFn' ? adapters : [];
  for (const a of tried) {
    for (const name of a.exports) {
      const d = mod[name];
      if (typeof d === 'function') return a.adapt(d as (...args: never[]) => unknown, file);
    }
  }
  const exported = Object.keys(mod).filter((k) => k !== 'default');
  throw new UserError(
    `${displayPath(file)}: does not export a function '${exportName}'` +
      tried.map((a) => ` (nor an ${a.name} ${a.exports.join(' / ')})`).join('') +
      `; it exports: ${exported.join(', ') || 'nothing'}`,
  );
}

// ---------------------------------------------------------------------------------------------------
// Batches

/** A checked batch tensor (see `asTensorData`), which must also have a batch dimension. */
function checkTensor(t: unknown, where: string): TensorData {
  const x = asTensorData(t, where);
  if (x.shape.length === 0) throw new UserError(`${where} is a scalar; every tensor of a batch needs the batch dimension first`);
  return x;
}

/**
 * Turns one element of an inputFn's dataset into a {@link Batch} whose tensors own their buffers.
 * Accepts `{ features, labels }`, `[features, labels]` or `[features]`; `features` a dict of tensors
 * (TensorData or typed arrays, rank ≥ 1). In mode 'infer' labels are dropped (PREDICT passes none).
 * Tensors that are views into a larger buffer, or share a buffer with another tensor, are copied.
 * @param where  names the producer in errors (e.g. "input worker 0/2 (data.ts), batch 5").
 * @returns the batch and the buffers to transfer.
 * @throws UserError naming `where` and the tensor for any structural problem, a data length that does
 *   not match the shape, or tensors whose batch dimensions differ.
 */
export function toTransferableBatch(element: unknown, mode: Mode, where: string): { batch: Batch; transfer: ArrayBuffer[] } {
  let features: unknown;
  let labels: unknown;
  if (Array.isArray(element)) {
    if (element.length < 1 || element.length > 2) throw new UserError(`${where}: a dataset element tuple must be [features, labels] (got ${element.length} entries)`);
    [features, labels] = element;
  } else if (typeof element === 'object' && element !== null && 'features' in element) {
    ({ features, labels } = element as { features: unknown; labels?: unknown });
  } else
    throw new UserError(
      `${where}: the dataset must yield batches { features: { name: tensor, ... }, labels: tensor } (got ${describeValue(element)})`,
    );
  if (typeof features !== 'object' || features === null || Array.isArray(features) || ArrayBuffer.isView(features) || 'data' in features)
    throw new UserError(`${where}: features must be a dict of named tensors, e.g. { image: ... } (got ${describeValue(features)})`);
  const keys = Object.keys(features);
  if (keys.length === 0) throw new UserError(`${where}: features is an empty dict`);
  const seen = new Set<ArrayBufferLike>();
  const transfer: ArrayBuffer[] = [];
  const own = (t: TensorData): TensorData => {
    let data = t.data;
    const buf = data.buffer;
    if (data.byteOffset !== 0 || data.byteLength !== buf.byteLength || seen.has(buf) || !(buf instanceof ArrayBuffer)) data = data.slice();
    seen.add(data.buffer);
    transfer.push(data.buffer as ArrayBuffer);
    return { data, shape: t.shape.slice(), dtype: t.dtype };
  };
  let batchSize: number | undefined;
  let first = '';
  const check = (t: TensorData, name: string) => {
    if (batchSize === undefined) {
      batchSize = t.shape[0];
      first = name;
    } else if (t.shape[0] !== batchSize)
      throw new UserError(`${where}: inconsistent batch dimension: ${first} has ${batchSize} rows but ${name} has shape ${formatShape(t.shape)}`);
  };
  const outFeatures: Record<string, TensorData> = {};
  for (const k of keys) {
    const t = checkTensor((features as Record<string, unknown>)[k], `${where}: features.${k}`);
    check(t, `features.${k}`);
    outFeatures[k] = own(t);
  }
  const batch: Batch = { features: outFeatures };
  if (mode !== 'infer' && labels !== undefined && labels !== null) {
    if (typeof labels === 'object' && !ArrayBuffer.isView(labels) && !('data' in labels))
      throw new UserError(`${where}: labels must be one tensor (got ${describeValue(labels)})`);
    const t = checkTensor(labels, `${where}: labels`);
    check(t, 'labels');
    batch.labels = own(t);
  }
  return { batch, transfer };
}

/**
 * tf.debugging.check_numerics on a batch: one pass over every float32 tensor (features and labels).
 * @param where names the producer and the batch (e.g. "input worker 0/2 (data.ts), batch 37").
 * @param inputFn the input function's export name, for the fix.
 * @throws UserError naming `where`, the tensor, the element (flat index and [i, j, …]) and the value on the
 *   first NaN or ±Inf.
 */
export function checkBatchNumerics(b: Batch, where: string, inputFn = 'inputFn'): void {
  const tensors: [string, TensorData][] = Object.entries(b.features).map(([k, t]) => [`features.${k}`, t]);
  if (b.labels) tensors.push(['labels', b.labels]);
  for (const [name, t] of tensors) {
    if (t.dtype !== 'float32') continue;
    const d = t.data as Float32Array;
    for (let i = 0; i < d.length; i++) {
      // x - x is 0 for every finite x and NaN for NaN and ±Inf: one comparison per element.
      if (d[i] - d[i] === 0) continue;
      const idx: number[] = [];
      for (let r = i, k = t.shape.length - 1; k >= 0; k--) {
        idx.unshift(r % t.shape[k]);
        r = Math.floor(r / t.shape[k]);
      }
      throw new UserError(
        `${where}: ${name}[${idx.join(', ')}] (element ${i}) is ${d[i]}: non-finite input trains to NaN weights; fix the data or ${inputFn} (runconfig.check_numerics: off skips this check)`,
      );
    }
  }
}

/** Per-sample shape and dtype of one tensor of a batch (the batch dimension removed). */
export interface TensorSpec {
  shape: number[];
  dtype: TensorDType;
}

/**
 * tf.data `element_spec` of the server's batches: per-sample shapes and dtypes (structurally an
 * `InputSignature` of runtime/api/estimator.ts when dtypes are float32/int32) plus the batch size.
 */
export interface BatchSpec {
  batchSize: number;
  features: Record<string, TensorSpec>;
  labels?: TensorSpec;
}

/** The {@link BatchSpec} of a batch. */
export function batchSpecOf(b: Batch): BatchSpec {
  const spec = (t: TensorData): TensorSpec => ({ shape: t.shape.slice(1), dtype: t.dtype });
  const features: Record<string, TensorSpec> = {};
  for (const [k, t] of Object.entries(b.features)) features[k] = spec(t);
  const first = Object.values(b.features)[0];
  return { batchSize: first.shape[0], features, ...(b.labels ? { labels: spec(b.labels) } : {}) };
}

/**
 * Checks a batch against the stream's spec (taken from its first batch).
 * @param options.allowLarger  accept batches with more rows than `spec.batchSize` (the server checks row
 *   counts per worker instead).
 * @throws UserError naming `where`, the tensor and both shapes/dtypes if keys, dtypes or per-sample
 *   shapes differ, or (unless allowLarger) the batch is larger than the first one.
 */
export function checkBatchAgainstSpec(b: Batch, spec: BatchSpec, where: string, options: { allowLarger?: boolean } = {}): void {
  const keys = Object.keys(b.features);
  const want = Object.keys(spec.features);
  if (keys.length !== want.length || want.some((k) => !(k in b.features)))
    throw new UserError(`${where}: inconsistent batch: features {${keys.join(', ')}} but the first batch had {${want.join(', ')}}`);
  const cmp = (t: TensorData | undefined, s: TensorSpec | undefined, name: string) => {
    if (!t && !s) return;
    if (!t || !s) throw new UserError(`${where}: inconsistent batch: ${name} is ${t ? 'present' : 'missing'} but was ${s ? 'present' : 'missing'} in the first batch`);
    const per = t.shape.slice(1);
    if (t.dtype !== s.dtype || per.length !== s.shape.length || per.some((d, i) => d !== s.shape[i]))
      throw new UserError(
        `${where}: inconsistent batch shape: ${name} is ${t.dtype} ${formatShape(t.shape)} but the first batch had ${s.dtype} ${formatShape([spec.batchSize, ...s.shape])}`,
      );
    if (!options.allowLarger && t.shape[0] > spec.batchSize)
      throw new UserError(`${where}: inconsistent batch shape: ${name} has ${t.shape[0]} rows, more than the first batch's ${spec.batchSize}`);
  };
  for (const k of want) cmp(b.features[k], spec.features[k], `features.${k}`);
  cmp(b.labels, spec.labels, 'labels');
}


/** True if `ds` is a csrun Dataset (also across module instances). */
export function isDataset(ds: unknown): ds is Dataset<unknown> {
  return ds instanceof Dataset || (typeof ds === 'object' && ds !== null && typeof (ds as Dataset<unknown>).iterator === 'function' && 'node' in ds);
}
