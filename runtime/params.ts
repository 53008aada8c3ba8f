/**
 * `configs/params.yaml`: loading (js-yaml), schema validation (zod) and defaults.
 *
 * Sections and keys follow Cerebras modelzoo params files (snake_case): `train_input`, `eval_input`,
 * `model`, `optimizer`, `runconfig`. `model` is free-form (it belongs to the user's model.ts); every other
 * section is checked strictly: an unknown or mistyped key is an error naming the file, the key path and
 * what was expected.
 */
import fs from 'node:fs';
import yaml from 'js-yaml';
import { z } from 'zod';
import { UserError, closest } from './errors.ts';

const int = z.number().int();
const posInt = int.positive();
const nonNegInt = int.nonnegative();

/** `train_input` / `eval_input`: what inputFn and the support server read. */
const inputSchema = z.strictObject({
  /** Directory of the data files; relative paths resolve against the model directory. */
  data_dir: z.string().optional(),
  /** Samples per batch (per step). */
  batch_size: posInt.optional(),
  /** Shuffle the training data (TRAIN only). */
  shuffle: z.boolean().optional(),
  /** Elements held by the shuffle buffer. */
  shuffle_buffer_size: posInt.optional(),
  /** Seed of the shuffle; defaults to `runconfig.seed`. */
  shuffle_seed: int.optional(),
  /** Input workers of the support server; 0 = as many as the machine can spare. */
  num_parallel_calls: nonNegInt.optional(),
  /** Batches the support server keeps ready ahead of the wafer. */
  prefetch_buffer_size: posInt.optional(),
  /** Drop a final incomplete batch (Cerebras `drop_last_batch`). */
  drop_last_batch: z.boolean().optional(),
  /** Use only the first N examples of the data (quick runs). */
  num_examples: posInt.optional(),
});

/** One learning-rate schedule segment (Cerebras modelzoo `optimizer.learning_rate` list entry). */
export const scheduleSegment = z.discriminatedUnion('scheduler', [
  z.strictObject({ scheduler: z.literal('Constant'), learning_rate: z.number(), steps: posInt.optional() }),
  z.strictObject({
    scheduler: z.literal('Exponential'),
    initial_learning_rate: z.number(),
    decay_steps: posInt,
    decay_rate: z.number(),
    staircase: z.boolean().optional(),
    steps: posInt.optional(),
  }),
  z.strictObject({
    scheduler: z.literal('PiecewiseConstant'),
    values: z.array(z.number()).min(1),
    boundaries: z.array(nonNegInt),
    steps: posInt.optional(),
  }),
  z.strictObject({
    scheduler: z.literal('Linear'),
    initial_learning_rate: z.number(),
    end_learning_rate: z.number(),
    steps: posInt,
  }),
  z.strictObject({
    scheduler: z.literal('Polynomial'),
    initial_learning_rate: z.number(),
    end_learning_rate: z.number(),
    decay_steps: posInt,
    power: z.number().optional(),
    cycle: z.boolean().optional(),
    steps: posInt.optional(),
  }),
  z.strictObject({
    scheduler: z.literal('Cosine'),
    initial_learning_rate: z.number(),
    decay_steps: posInt,
    alpha: z.number().optional(),
    steps: posInt.optional(),
  }),
]);

/** A learning rate: a number, one schedule segment, or a list of segments. */
export const learningRateSchema = z.union([z.number().nonnegative(), scheduleSegment, z.array(scheduleSegment).min(1)]);

const optimizerSchema = z.strictObject({
  /** sgd, momentum, adam, adamw, rmsprop (case-insensitive, Cerebras writes "Adam", "SGD"). */
  optimizer_type: z
    .string()
    .transform((s) => s.toLowerCase())
    .pipe(z.enum(['sgd', 'momentum', 'adam', 'adamw', 'rmsprop']))
    .optional(),
  learning_rate: learningRateSchema.optional(),
  beta1: z.number().optional(),
  beta2: z.number().optional(),
  epsilon: z.number().optional(),
  momentum: z.number().optional(),
  use_nesterov: z.boolean().optional(),
  /** AdamW decoupled weight decay. */
  weight_decay_rate: z.number().optional(),
  /** RMSProp decay (Keras `rho`). */
  rho: z.number().optional(),
  centered: z.boolean().optional(),
});

const runconfigSchema = z.strictObject({
  /** Absolute number of training steps (tf.estimator `max_steps`). */
  max_steps: posInt.optional(),
  /** Checkpoint every N steps (0: only at the end of training). */
  save_checkpoints_steps: nonNegInt.optional(),
  /** Checkpoints kept (0: keep all). */
  keep_checkpoint_max: nonNegInt.optional(),
  save_summary_steps: posInt.optional(),
  log_step_count_steps: posInt.optional(),
  /** Evaluation batches (absent: the whole eval set). */
  eval_steps: posInt.optional(),
  /** Seed of initializers, dropout and shuffling. */
  seed: int.optional(),
  /** Output directory; a relative path resolves against the model directory. */
  model_dir: z.string().optional(),
  /** Machine description: wse1, wse2, wse3 or a path to a YAML file. */
  machine: z.string().optional(),
  /** Compute worker threads of the simulator; 0 = one per core. */
  compute_workers: nonNegInt.optional(),
  /** Data-parallel shards each batch is cut into (a multiple of compute_workers); 0 = max(2, workers). For a
   * given value, results are bit-identical whatever the number of workers. */
  compute_shards: nonNegInt.optional(),
});

/** The schema of a whole params.yaml. */
export const paramsSchema = z.strictObject({
  train_input: inputSchema.optional(),
  eval_input: inputSchema.optional(),
  model: z.record(z.string(), z.unknown()).optional(),
  optimizer: optimizerSchema.optional(),
  runconfig: runconfigSchema.optional(),
});

/** Parsed `train_input` / `eval_input` section. */
export type InputParams = z.infer<typeof inputSchema>;
/** Parsed `optimizer` section. */
export type OptimizerParams = z.infer<typeof optimizerSchema>;
/** Parsed `runconfig` with defaults filled in (see {@link RUNCONFIG_DEFAULTS}). */
export type RunConfig = z.infer<typeof runconfigSchema> &
  Required<Pick<z.infer<typeof runconfigSchema>, keyof typeof RUNCONFIG_DEFAULTS>>;

/** The params object handed to `modelFn` and `inputFn` (snake_case sections as in the YAML). */
export interface Params {
  train_input: InputParams;
  eval_input: InputParams;
  model: Record<string, unknown>;
  optimizer: OptimizerParams;
  runconfig: RunConfig;
}

/** Defaults of runconfig keys, from tf.estimator.RunConfig where it has one (save_summary_steps 100,
 * keep_checkpoint_max 5, log_step_count_steps 100) and Cerebras modelzoo otherwise. */
export const RUNCONFIG_DEFAULTS = {
  save_checkpoints_steps: 1000,
  keep_checkpoint_max: 5,
  save_summary_steps: 100,
  log_step_count_steps: 100,
  seed: 0,
  model_dir: 'model_dir',
  machine: 'wse2',
  compute_workers: 0,
  compute_shards: 0,
} as const;

/** Every key path the schema accepts, for "did you mean" hints. */
function knownKeys(section: string): string[] {
  const shape = (paramsSchema.shape as Record<string, unknown>)[section];
  const inner = shape instanceof z.ZodOptional ? shape.unwrap() : shape;
  if (inner instanceof z.ZodObject) return Object.keys(inner.shape);
  return [];
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'string') return `string ${JSON.stringify(value)}`;
  if (typeof value === 'object') return 'a mapping';
  return `${typeof value} ${String(value)}`;
}

function valueAt(root: unknown, path: PropertyKey[]): unknown {
  let v: any = root;
  for (const k of path) v = v?.[k as any];
  return v;
}

/**
 * Validates a params object (already parsed from YAML) and fills in defaults.
 * @param raw   the parsed YAML document.
 * @param file  the file it came from, named in errors.
 * @throws UserError naming the file, the key path and the expected type for the first problem found.
 */
export function validateParams(raw: unknown, file: string): Params {
  const res = paramsSchema.safeParse(raw ?? {});
  if (!res.success) {
    const issue = res.error.issues[0];
    const path = issue.path.map(String).join('.');
    if (issue.code === 'unrecognized_keys') {
      const key = issue.keys[0];
      const where = path ? `${path}.${key}` : key;
      const candidates = path ? knownKeys(issue.path[0] as string) : Object.keys(paramsSchema.shape);
      const hint = closest(key, candidates);
      throw new UserError(
        `${file}: unknown key '${where}'` +
          (hint ? ` (did you mean '${path ? path + '.' : ''}${hint}'?)` : '') +
          `; allowed keys${path ? ` in '${path}'` : ''}: ${candidates.join(', ')}`,
      );
    }
    const got = valueAt(raw, issue.path);
    throw new UserError(`${file}: '${path || '(document)'}' is invalid: ${issue.message.replace(/^Invalid input: /, '')} (got ${describe(got)})`);
  }
  const p = res.data;
  return {
    train_input: p.train_input ?? {},
    eval_input: p.eval_input ?? {},
    model: p.model ?? {},
    optimizer: p.optimizer ?? {},
    runconfig: { ...RUNCONFIG_DEFAULTS, ...p.runconfig },
  };
}

/**
 * Reads a params.yaml file as an unvalidated YAML document.
 * @throws UserError if the file is missing or is not valid YAML (line named).
 */
export function readParamsYaml(file: string): unknown {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e: any) {
    throw new UserError(`${file}: cannot read params file (${e.code ?? e.message})`);
  }
  let raw: unknown;
  try {
    raw = yaml.load(text, { filename: file });
  } catch (e: any) {
    throw new UserError(`${file}: not valid YAML: ${e.reason ?? e.message}${e.mark ? ` at line ${e.mark.line + 1}` : ''}`);
  }
  return raw;
}

/**
 * Reads and validates a params.yaml file.
 * @throws UserError if the file is missing, is not valid YAML (line named), or fails {@link validateParams}.
 */
export function loadParams(file: string): Params {
  return validateParams(readParamsYaml(file), file);
}

/** Writes params back as YAML (the effective params written to model_dir/params.yaml). */
export function dumpParams(params: Params): string {
  return yaml.dump(params, { noRefs: true, lineWidth: 120 });
}
