/**
 * `configs/params.yaml`: loading (js-yaml), schema validation (zod) and defaults.
 *
 * Sections and keys follow Cerebras modelzoo params files (snake_case): `train_input`, `eval_input`,
 * `predict_input`, `model`, `optimizer`, `runconfig`, plus a top-level `description`. Real modelzoo files load:
 * - `model` is free-form (it belongs to the user's model.ts);
 * - the input sections check the keys csrun reads ({@link INPUT_KEYS}) and pass every other key through to
 *   `inputFn` (modelzoo's `data_processor`, `vocab_size`, `max_sequence_length`, …), except a key one typo away
 *   from a csrun key, which is reported as a misspelling;
 * - `optimizer` and `runconfig` are strict: an unknown or mistyped key is an error naming the file, the key path
 *   and a did-you-mean; the aliases of {@link RUNCONFIG_ALIASES} are renamed; the Cerebras system and runtime
 *   settings of {@link IGNORED_KEYS} (and the whole `csconfig` section) are accepted with one warning each;
 * - `optimizer.loss_scaling_factor`, `initial_loss_scale`, `max_loss_scale`, … and `mixed_precision` (in `model`
 *   or an input section) are accepted without effect: csrun computes in float32, where loss scaling and
 *   half-precision casts change nothing; the compiler's word size (`machine.wordBytes`) models the memory and
 *   bandwidth of reduced precision instead.
 */
import fs from 'node:fs';
import yaml from 'js-yaml';
import { z } from 'zod';
import { UserError, closest } from './errors.ts';

const int = z.number().int();
const posInt = int.positive();
const nonNegInt = int.nonnegative();

/** `train_input` / `eval_input` / `predict_input`: the keys csrun itself reads (inputFn may read more). */
const inputKnown = {
  /** Directory of the data files; relative paths resolve against the model directory. (Some modelzoo files
   * give a list of directories; csrun reads one.) */
  data_dir: z.string({ error: (i) => (Array.isArray(i.input) ? `a list of ${i.input.length} directories; csrun reads one data_dir` : undefined) }).optional(),
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
};
/** Input sections: the known keys typed, every other key passed through to inputFn. */
const inputSchema = z.looseObject(inputKnown);

/** The input-section keys csrun reads; other keys pass through to inputFn. */
export const INPUT_KEYS = Object.keys(inputKnown);

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
  /** AdamW bias correction of the moment estimates (Cerebras AdamW key). Absent: true, as Keras' AdamW (the
   * Cerebras TF AdamW defaults to false). */
  use_bias_correction: z.boolean().optional(),
  /** Global-norm gradient clipping (tf.clip_by_global_norm; Keras `global_clipnorm`): when the global L2 norm of
   * all gradients exceeds it, every gradient is scaled by `max_gradient_norm / norm`. 0 or absent: no clipping. */
  max_gradient_norm: z.number().nonnegative().optional(),
  /** Loss scaling of mixed-precision training (a number, "dynamic" or "tf_dynamic"). Accepted without numerical
   * effect: csrun computes in float32, where scaling the loss and unscaling the gradients changes nothing. */
  loss_scaling_factor: z.union([z.number().positive(), z.enum(['dynamic', 'tf_dynamic'])]).optional(),
  /** Dynamic loss scaling settings (Cerebras Trainer); accepted without effect, as loss_scaling_factor. */
  initial_loss_scale: z.number().positive().optional(),
  max_loss_scale: z.number().positive().optional(),
  min_loss_scale: z.number().positive().optional(),
  steps_per_increase: posInt.optional(),
  overflow_tolerance: z.number().nonnegative().optional(),
});

/** Levels of the wafer's timing simulation (docs/design.md §10), cheapest first. */
export const SIM_LEVELS = ['analytic', 'flow', 'wavelet'] as const;
/** One of {@link SIM_LEVELS}. */
export type SimLevel = (typeof SIM_LEVELS)[number];

const runconfigSchema = z.strictObject({
  /** Absolute number of training steps (tf.estimator `max_steps`). */
  max_steps: posInt.optional(),
  /** Checkpoint every N steps (0: only at the end of training). */
  save_checkpoints_steps: nonNegInt.optional(),
  /** Checkpoints kept (0: keep all). */
  keep_checkpoint_max: nonNegInt.optional(),
  save_summary_steps: posInt.optional(),
  log_step_count_steps: posInt.optional(),
  /** Evaluation batches (absent, or ≤ 0 as in Cerebras run_utils: the whole eval set). */
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
  /** Cerebras `multireplica`: let the compiler run K data-parallel replicas of a small model on one wafer,
   * choosing the K of highest estimated samples/s (compiler/replicas.ts). */
  multireplica: z.boolean().optional(),
  /** Exactly this many replicas (an integer ≥ 1 dividing the batch size); overrides `multireplica`. */
  num_replicas: posInt.optional(),
  /** How the simulated clock times a batch (docs/design.md §10): `analytic` (the compile estimate), `flow`
   * (event-driven fabric simulation, any fabric) or `wavelet` (cycle by cycle, fabrics ≤ 64 × 64 PEs). */
  sim_level: z.enum(SIM_LEVELS).optional(),
  /** tf.debugging.check_numerics on the input: `batches` (default) fails on the first NaN or ±Inf in a float
   * feature or label of an input batch, naming the feature, batch and element; `off` skips the check. */
  check_numerics: z.enum(['batches', 'off']).optional(),
  /** tf.estimator `warm_start_from`: a checkpoint file, or a model_dir (its latest checkpoint), whose weights
   * initialise a run that has no checkpoint in model_dir yet (host/warm-start.ts); a relative path resolves
   * against the model directory. */
  warm_start_from: z.string().min(1).optional(),
  /** tf.estimator.WarmStartSettings `vars_to_warm_start`: one regex (trainable parameters only) or a list of
   * regexes (every parameter and optimizer slot), each matched from the start of the name; default '.*'. */
  vars_to_warm_start: z.union([z.string(), z.array(z.string()).min(1)]).optional(),
  /** Keras EarlyStopping (host/hooks/early-stopping.ts): stop training when the eval result `metric` has not
   * improved (`mode` min or max) for `patience` evaluations in a row (train_and_eval evaluates at each checkpoint). */
  early_stopping: z.strictObject({ metric: z.string().min(1), mode: z.enum(['min', 'max']), patience: nonNegInt }).optional(),
  /** BestExporter-like (host/best-checkpoint.ts): each evaluation of a model_dir checkpoint that improves the eval
   * result `metric` (`mode` min or max) makes it the best, recorded in best_checkpoint.json and protected from
   * keep_checkpoint_max rotation. */
  keep_best_checkpoint: z.strictObject({ metric: z.string().min(1), mode: z.enum(['min', 'max']) }).optional(),
});

/** The schema of a whole params.yaml (after aliases and ignored keys are handled, see {@link validateParams}). */
export const paramsSchema = z.strictObject({
  /** Free text describing the configuration (modelzoo files carry one). */
  description: z.string().optional(),
  train_input: inputSchema.optional(),
  eval_input: inputSchema.optional(),
  /** Inputs of `csrun predict` (same keys as train_input). */
  predict_input: inputSchema.optional(),
  model: z.record(z.string(), z.unknown()).optional(),
  optimizer: optimizerSchema.optional(),
  runconfig: runconfigSchema.optional(),
});

/** Parsed `train_input` / `eval_input` / `predict_input` section: csrun's keys typed, the others as written. */
export type InputParams = z.infer<typeof inputSchema>;
/** Parsed `optimizer` section. */
export type OptimizerParams = z.infer<typeof optimizerSchema>;
/** Parsed `runconfig` with defaults filled in (see {@link RUNCONFIG_DEFAULTS}). */
export type RunConfig = z.infer<typeof runconfigSchema> &
  Required<Pick<z.infer<typeof runconfigSchema>, keyof typeof RUNCONFIG_DEFAULTS>>;

/** The params object handed to `modelFn` and `inputFn` (snake_case sections as in the YAML). */
export interface Params {
  /** The file's top-level `description`, if any. */
  description?: string;
  train_input: InputParams;
  eval_input: InputParams;
  /** Inputs of prediction (empty when the file has no `predict_input`). */
  predict_input: InputParams;
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
  sim_level: 'flow',
  check_numerics: 'batches',
} as const;

/**
 * Keys renamed before validation: Cerebras TF modelzoo (tf.estimator RunConfig) `tf_random_seed`, and the
 * modelzoo PyTorch runconfig names `checkpoint_steps`, `log_steps`; the Cerebras trainer's RMSProp keys.
 */
export const RUNCONFIG_ALIASES: Record<string, string> = {
  tf_random_seed: 'seed',
  checkpoint_steps: 'save_checkpoints_steps',
  log_steps: 'log_step_count_steps',
};
const OPTIMIZER_ALIASES: Record<string, string> = { rmsprop_decay: 'rho', rmsprop_momentum: 'momentum' };

const SYSTEM = 'a Cerebras system setting';
const LOGGING = 'a Cerebras logging setting';
const COMMAND = 'csrun takes the mode from its command: csrun train, eval, train_and_eval, predict or compile --validate-only';

/**
 * Cerebras system and runtime keys csrun accepts and ignores (one warning each), by section, with the reason.
 * Found in the modelzoo TF params files (releases 1.6–1.9), its run utilities and argument parsers.
 */
export const IGNORED_KEYS: Record<'runconfig' | 'optimizer', Record<string, string>> = {
  runconfig: {
    ...Object.fromEntries(
      ['cs_ip', 'system_name', 'enable_distributed', 'multiple_workers', 'num_wgt_servers', 'num_act_servers', 'num_csx',
        'num_workers_per_csx', 'use_cs_grad_accum', 'enable_gpu_optimizations', 'use_appliance_data', 'execution_strategy', 'device',
        'credentials_path', 'mgmt_address', 'mount_dirs', 'python_paths', 'compile_dir', 'disable_input_pipeline_ckpt'].map((k) => [k, SYSTEM]),
    ),
    mode: COMMAND,
    validate_only: COMMAND,
    compile_only: COMMAND,
    throttle_secs: "tf.estimator's evaluation throttle; csrun evaluates when its command says",
    save_losses: LOGGING,
    show_debug_metrics: LOGGING,
    disable_standard_logs: LOGGING,
    save_initial_checkpoint: 'csrun writes checkpoints every save_checkpoints_steps and at the end',
    checkpoint_path: 'csrun resumes from the checkpoints in model_dir',
  },
  optimizer: {
    log_summaries: LOGGING,
    log_grads: LOGGING,
    log_hists: LOGGING,
    ws_summary: LOGGING,
    disable_lr_steps_reset: "a Cerebras multi-phase setting; csrun's schedules count the global step",
    beta_1: 'the Cerebras trainer reads beta1, not beta_1',
    beta_2: 'the Cerebras trainer reads beta2, not beta_2',
  },
};

/** Options of {@link validateParams}. */
export interface ValidateOptions {
  /** Receives each warning (an ignored key); default: written once per file and key to stderr. */
  warn?: (message: string) => void;
}

const warned = new Set<string>();
/** Writes a warning to stderr once per process (the CLI validates a file, then again with overrides). */
function warnOnce(message: string): void {
  if (warned.has(message)) return;
  warned.add(message);
  process.stderr.write(`csrun: warning: ${message}\n`);
}

/** Every key name a section accepts (schema keys, aliases, ignored keys), for "did you mean" hints. */
function knownKeys(section: string): string[] {
  const shape = (paramsSchema.shape as Record<string, unknown>)[section];
  const inner = shape instanceof z.ZodOptional ? shape.unwrap() : shape;
  const keys = inner instanceof z.ZodObject ? Object.keys(inner.shape) : [];
  if (section === 'runconfig') keys.push(...Object.keys(RUNCONFIG_ALIASES), ...Object.keys(IGNORED_KEYS.runconfig));
  if (section === 'optimizer') keys.push(...Object.keys(OPTIMIZER_ALIASES), ...Object.keys(IGNORED_KEYS.optimizer));
  return keys;
}

/** True when `a` becomes `b` by one insertion, deletion, substitution or swap of adjacent characters. */
function oneTypoApart(a: string, b: string): boolean {
  if (a === b || Math.abs(a.length - b.length) > 1) return false;
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  const tail = (x: string, y: string) => x === y;
  if (a.length === b.length) return tail(a.slice(i + 1), b.slice(i + 1)) || (a[i] === b[i + 1] && a[i + 1] === b[i] && tail(a.slice(i + 2), b.slice(i + 2)));
  return a.length > b.length ? tail(a.slice(i + 1), b.slice(i)) : tail(a.slice(i), b.slice(i + 1));
}

const isMapping = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Applies the modelzoo conventions before schema validation: drops null values (an empty YAML value means
 * unset), renames aliases, removes ignored keys and `csconfig` with a warning each, and rejects input-section
 * keys one typo away from a csrun key.
 * @throws UserError for a key given together with its alias (different values) or a misspelt input key.
 */
function normalize(raw: unknown, file: string, warn: (m: string) => void): unknown {
  if (!isMapping(raw)) return raw;
  const doc: Record<string, unknown> = { ...raw };
  const where = file.replace(/ \(with command-line overrides\)$/, '');
  if ('csconfig' in doc) {
    warn(`${where}: section 'csconfig' is Cerebras system configuration; csrun ignores it`);
    delete doc.csconfig;
  }
  for (const section of ['train_input', 'eval_input', 'predict_input', 'runconfig', 'optimizer']) {
    if (!isMapping(doc[section])) continue;
    const sec: Record<string, unknown> = Object.fromEntries(Object.entries(doc[section] as object).filter(([, v]) => v !== null && v !== undefined));
    doc[section] = sec;
    // Cerebras run_utils: eval_steps ≤ 0 means the whole evaluation set, as an absent eval_steps does here
    if (section === 'runconfig' && typeof sec.eval_steps === 'number' && sec.eval_steps <= 0) delete sec.eval_steps;
    if (section.endsWith('_input')) {
      for (const key of Object.keys(sec)) {
        const near = INPUT_KEYS.find((k) => oneTypoApart(key, k));
        if (!INPUT_KEYS.includes(key) && near) {
          throw new UserError(`${file}: unknown key '${section}.${key}' (did you mean '${section}.${near}'?); other keys pass through to inputFn, but this one is a typo away from a key csrun reads (${INPUT_KEYS.join(', ')})`);
        }
      }
      continue;
    }
    const aliases = section === 'runconfig' ? RUNCONFIG_ALIASES : OPTIMIZER_ALIASES;
    for (const [alias, key] of Object.entries(aliases)) {
      if (!(alias in sec)) continue;
      if (key in sec && JSON.stringify(sec[key]) !== JSON.stringify(sec[alias])) {
        throw new UserError(`${file}: '${section}.${alias}' and '${section}.${key}' are both given, with different values (${alias} is csrun's ${key})`);
      }
      sec[key] = sec[alias];
      delete sec[alias];
    }
    const ignored = IGNORED_KEYS[section as 'runconfig' | 'optimizer'];
    for (const key of Object.keys(sec)) {
      const why = ignored[key];
      if (why === undefined) continue;
      warn(`${where}: '${section}.${key}' is ${why.startsWith('a ') ? why : `not used (${why})`}; csrun ignores it`);
      delete sec[key];
    }
  }
  return doc;
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
 * Validates a params object (already parsed from YAML) and fills in defaults (see the module comment for the
 * modelzoo conventions: pass-through input keys, aliases, ignored Cerebras keys).
 * @param raw   the parsed YAML document.
 * @param file  the file it came from, named in errors and warnings.
 * @param opts.warn receives the warnings about ignored keys (default: stderr, once per file and key).
 * @throws UserError naming the file, the key path and the expected type (or a did-you-mean) for the first
 *   problem found.
 */
export function validateParams(raw: unknown, file: string, opts: ValidateOptions = {}): Params {
  const doc = normalize(raw ?? {}, file, opts.warn ?? warnOnce);
  const res = paramsSchema.safeParse(doc);
  if (!res.success) {
    const issue = res.error.issues[0];
    const path = issue.path.map(String).join('.');
    if (issue.code === 'unrecognized_keys') {
      const key = issue.keys[0];
      const where = path ? `${path}.${key}` : key;
      const candidates = path ? knownKeys(issue.path[0] as string) : [...Object.keys(paramsSchema.shape), 'csconfig'];
      const hint = closest(key, candidates);
      throw new UserError(
        `${file}: unknown key '${where}'` +
          (hint ? ` (did you mean '${path ? path + '.' : ''}${hint}'?)` : '') +
          `; allowed keys${path ? ` in '${path}'` : ''}: ${candidates.join(', ')}`,
      );
    }
    const got = valueAt(doc, issue.path);
    throw new UserError(`${file}: '${path || '(document)'}' is invalid: ${issue.message.replace(/^Invalid input: /, '')} (got ${describe(got)})`);
  }
  const p = res.data;
  return {
    ...(p.description !== undefined ? { description: p.description } : {}),
    train_input: p.train_input ?? {},
    eval_input: p.eval_input ?? {},
    predict_input: p.predict_input ?? {},
    model: p.model ?? {},
    optimizer: p.optimizer ?? {},
    runconfig: { ...RUNCONFIG_DEFAULTS, ...p.runconfig },
  };
}

/**
 * Reads a params.yaml file as an unvalidated YAML document. A repeated mapping key (which some modelzoo files
 * have) keeps its last value, with a warning, as PyYAML does.
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
    if (e.reason !== 'duplicated mapping key') throw new UserError(`${file}: not valid YAML: ${e.reason ?? e.message}${e.mark ? ` at line ${e.mark.line + 1}` : ''}`);
    // some modelzoo files repeat a key; YAML 1.2 forbids it, PyYAML keeps the last value: do the same, and say so
    warnOnce(`${file}: key repeated at line ${e.mark.line + 1}; the last value is used (as PyYAML does)`);
    raw = yaml.load(text, { filename: file, json: true });
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
