/**
 * CSV input, after tf.data.experimental.CsvDataset / make_csv_dataset: RFC 4180 text (quoted fields,
 * embedded delimiters and newlines) parsed by the `csv-parse` package, one element per row.
 *
 * Column types: `float32` (default) becomes a JS number (batched to float32), `int32` a scalar int32
 * TensorData (batched to int32), `string` a string (batched to a list of strings). An empty field takes the
 * column's `columnDefaults` entry (tf's record_defaults) or is an error.
 */
import fs from 'node:fs';
import { parse } from 'csv-parse';
import { UserError } from '../../../runtime/errors.ts';
import type { TensorData } from '../../../runtime/batch.ts';
import { Dataset } from '../dataset.ts';

/** Type of a CSV column. */
export type CsvColumnType = 'float32' | 'int32' | 'string';

/** Options of {@link CsvDataset} and {@link readCsv}. */
export interface CsvOptions {
  /** The first row holds the column names (default true). */
  header?: boolean;
  /** Column names; required when `header` is false, else overrides the header row's names. */
  columnNames?: string[];
  /** Keep only these columns (tf `select_cols`, by name), in this order. Default: all. */
  selectColumns?: string[];
  /** Type per column name; unlisted columns are float32. */
  columnTypes?: Record<string, CsvColumnType>;
  /** Value used for an empty field, per column (tf `record_defaults`). */
  columnDefaults?: Record<string, number | string>;
  /** Field delimiter (default ','). */
  delimiter?: string;
}

/** One CSV row: column → number (float32) | scalar int32 TensorData | string. */
export type CsvRow = Record<string, number | TensorData | string>;

/**
 * Streams the rows of a CSV file.
 * @throws UserError naming the file (and line where it applies): missing file, no header, a selected column
 *   that does not exist, a row with another number of fields, a value that does not parse as its column's
 *   type, an empty field without default.
 */
export async function* readCsvRows(file: string, options: CsvOptions = {}): AsyncGenerator<CsvRow> {
  const header = options.header ?? true;
  if (!header && !options.columnNames) throw new UserError(`${file}: CSV without header needs columnNames`);
  try {
    await fs.promises.access(file, fs.constants.R_OK);
  } catch (e: any) {
    throw new UserError(`${file}: cannot open CSV file (${e.code ?? e.message})`);
  }
  const src = fs.createReadStream(file);
  const parser = parse({ delimiter: options.delimiter ?? ',', skip_empty_lines: true, info: true, bom: true });
  src.on('error', (e) => parser.destroy(e));
  src.pipe(parser);
  let names: string[] | undefined = header ? undefined : options.columnNames!.slice();
  let select: { name: string; index: number; type: CsvColumnType; def: number | string | undefined }[] | undefined;
  const types = options.columnTypes ?? {};
  const defaults = options.columnDefaults ?? {};
  const setup = (cols: string[]) => {
    const wanted = options.selectColumns ?? cols;
    for (const t of Object.keys(types))
      if (!cols.includes(t)) throw new UserError(`${file}: columnTypes names column '${t}', which is not among the columns ${cols.join(', ')}`);
    select = wanted.map((name) => {
      const index = cols.indexOf(name);
      if (index < 0) throw new UserError(`${file}: selected column '${name}' does not exist; columns: ${cols.join(', ')}`);
      const type = types[name] ?? 'float32';
      if (!['float32', 'int32', 'string'].includes(type)) throw new UserError(`${file}: column '${name}' has unknown type '${type}'`);
      return { name, index, type, def: defaults[name] };
    });
  };
  if (names) setup(names);
  try {
    for await (const { record, info } of parser as AsyncIterable<{ record: string[]; info: { lines: number } }>) {
      if (!names) {
        names = options.columnNames?.slice() ?? record.map((s) => s.trim());
        if (options.columnNames && options.columnNames.length !== record.length)
          throw new UserError(`${file}: columnNames has ${options.columnNames.length} names but the header row has ${record.length} fields`);
        setup(names);
        continue;
      }
      if (record.length !== names.length)
        throw new UserError(`${file}:${info.lines}: row has ${record.length} fields, expected ${names.length} (${names.join(', ')})`);
      const row: CsvRow = {};
      for (const c of select!) {
        let raw = record[c.index];
        if (raw.trim() === '') {
          if (c.def === undefined) throw new UserError(`${file}:${info.lines}: column '${c.name}' is empty and has no entry in columnDefaults`);
          raw = String(c.def);
        }
        if (c.type === 'string') row[c.name] = raw;
        else {
          const v = Number(raw.trim());
          if (!Number.isFinite(v)) throw new UserError(`${file}:${info.lines}: column '${c.name}' value '${raw}' is not a number (columnTypes: ${c.type})`);
          if (c.type === 'int32') {
            if (!Number.isInteger(v) || v > 2147483647 || v < -2147483648)
              throw new UserError(`${file}:${info.lines}: column '${c.name}' value '${raw}' is not an int32`);
            row[c.name] = { data: Int32Array.of(v), shape: [], dtype: 'int32' };
          } else row[c.name] = v;
        }
      }
      yield row;
    }
  } catch (e: any) {
    if (e instanceof UserError) throw e;
    const line = e?.lines ?? e?.info?.lines;
    throw new UserError(`${file}${line ? `:${line}` : ''}: cannot parse CSV (${e.message ?? e.code})`);
  } finally {
    parser.destroy();
    src.destroy();
  }
  if (!names) throw new UserError(`${file}: empty CSV file (no header row)`);
}

/**
 * tf.data.experimental.CsvDataset: one element per row (see {@link CsvRow}), read lazily on each iteration.
 * @throws UserError during iteration as {@link readCsvRows}.
 */
export function CsvDataset(file: string, options: CsvOptions = {}): Dataset<CsvRow> {
  return Dataset.fromGenerator(() => readCsvRows(file, options));
}

/**
 * Reads a whole CSV file into columns: float32 / int32 columns as TensorData `[rows]`, string columns as
 * string arrays (ready for `Dataset.fromTensorSlices`).
 * @throws UserError as {@link readCsvRows}.
 */
export async function readCsv(file: string, options: CsvOptions = {}): Promise<Record<string, TensorData | string[]>> {
  const cols: Record<string, (number | string)[]> = {};
  const kinds: Record<string, CsvColumnType> = {};
  for await (const row of readCsvRows(file, options)) {
    for (const [k, v] of Object.entries(row)) {
      (cols[k] ??= []).push(typeof v === 'object' ? v.data[0] : v);
      kinds[k] ??= typeof v === 'string' ? 'string' : typeof v === 'number' ? 'float32' : 'int32';
    }
  }
  const out: Record<string, TensorData | string[]> = {};
  for (const [k, vals] of Object.entries(cols)) {
    if (kinds[k] === 'string') out[k] = vals as string[];
    else if (kinds[k] === 'int32') out[k] = { data: Int32Array.from(vals as number[]), shape: [vals.length], dtype: 'int32' };
    else out[k] = { data: Float32Array.from(vals as number[]), shape: [vals.length], dtype: 'float32' };
  }
  return out;
}
