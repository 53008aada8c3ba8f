/**
 * A user's model directory (Cerebras layout): `model.ts` (modelFn, or an ElasticDL model file),
 * `data.ts` (inputFn, or ElasticDL datasetFn/feed), `configs/params.yaml`. Loads and checks the modules and
 * params, derives the input signature by peeking the input pipeline, and traces the Graph for a mode.
 * {@link ModelDirLayout} is the one place that spells the paths of the output directory (model_dir).
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Graph, Mode } from '../runtime/graph.ts';
import { UserError } from '../runtime/errors.ts';
import { dumpParams, readParamsYaml, validateParams, type Params } from '../runtime/params.ts';
import { CHECKPOINT_INDEX } from '../runtime/checkpoint.ts';
import { ensureDir, removeStaleTemps, withFsErrors, writeFileAtomic } from '../runtime/fs.ts';
import { COMPILE_FILES } from '../compiler/pipeline.ts';
import { traceModelFn, type EstimatorSpec, type InputSignature, type ModelFn } from '../runtime/api/estimator.ts';
import type { SessionRunHook } from './hooks/session.ts';
import { batchRows } from '../runtime/batch.ts';
import { errorSummary, importUserModule } from './user-module.ts';
import { MODEL_ADAPTERS } from './input/conventions.ts';
import { SupportServer } from './input/support-server.ts';

/**
 * The layout of a model_dir (docs/design.md §5): every file and directory csrun writes there, spelled once.
 * All paths are absolute when `root` is. The simulator's reports of a mode live in `sim/` (train),
 * `sim/eval/` and `sim/infer/`.
 */
export class ModelDirLayout {
  constructor(readonly root: string) {}

  private at(...parts: string[]): string {
    return path.join(this.root, ...parts);
  }
  /** `params.yaml`: the effective params of the last run. */
  get params(): string {
    return this.at('params.yaml');
  }
  /** `src/`: copy of the model directory's sources at run time. */
  get src(): string {
    return this.at('src');
  }
  /** `compile/<mode>/`: the Plan and compile reports of a mode (files: compiler/pipeline.ts COMPILE_FILES). */
  compileDir(mode: Mode): string {
    return this.at('compile', mode);
  }
  /** `compile/<mode>/plan.json`. */
  plan(mode: Mode): string {
    return path.join(this.compileDir(mode), COMPILE_FILES.plan);
  }
  /** `compile/<mode>/compile_report.json`. */
  compileReportJson(mode: Mode): string {
    return path.join(this.compileDir(mode), COMPILE_FILES.json);
  }
  /** `csrun.lock`: the owner of model_dir while a run writes checkpoints (host/model-dir-lock.ts). */
  get lock(): string {
    return this.at('csrun.lock');
  }
  /** `checkpoint`: the JSON checkpoint index (runtime/checkpoint.ts). */
  get checkpointIndex(): string {
    return this.at(CHECKPOINT_INDEX);
  }
  /** Directory of the training event files (`events.out.tfevents.*`): model_dir itself, as tf.estimator. */
  get events(): string {
    return this.root;
  }
  /** `eval/`: eval event files and results. */
  get eval(): string {
    return this.at('eval');
  }
  /** `eval/results.json`: the last evaluation. */
  get evalResults(): string {
    return this.at('eval', 'results.json');
  }
  /** `eval/results-<step>.json`: the evaluation of the checkpoint at a global step (every one is kept). */
  evalResultsAt(step: number): string {
    return this.at('eval', `results-${step}.json`);
  }
  /** `best_checkpoint.json`: the best checkpoint by `runconfig.keep_best_checkpoint` (host/best-checkpoint.ts). */
  get bestCheckpoint(): string {
    return this.at('best_checkpoint.json');
  }
  /** `eval/eval_all.txt`: the table of `csrun eval_all`, one row per checkpoint. */
  get evalAllSummary(): string {
    return this.at('eval', 'eval_all.txt');
  }
  /** `predict/predictions.jsonl`: one JSON object per sample. */
  get predictions(): string {
    return this.at('predict', 'predictions.jsonl');
  }
  /** `predict/samples.jsonl` (`{ tokens, text }` per sequence) / `samples.txt`: sampled token sequences. */
  predictSamples(ext: 'jsonl' | 'txt' = 'jsonl'): string {
    return this.at('predict', `samples.${ext}`);
  }
  /** The simulator's reports of a mode: `sim/` (train), `sim/eval/`, `sim/infer/`. */
  sim(mode: Mode = 'train'): string {
    return mode === 'train' ? this.at('sim') : this.at('sim', mode);
  }
  /** `sim[/<mode>]/utilization.json`: per-kernel busy/idle cycles and route traffic. */
  simUtilization(mode: Mode = 'train'): string {
    return path.join(this.sim(mode), 'utilization.json');
  }
  /** `sim[/<mode>]/links.json`: per directed fabric link, bytes, busy cycles and utilization. */
  simLinks(mode: Mode = 'train'): string {
    return path.join(this.sim(mode), 'links.json');
  }
  /** `sim[/<mode>]/trace.json`: the simulated timeline (Chrome trace-event format). */
  simTrace(mode: Mode = 'train'): string {
    return path.join(this.sim(mode), 'trace.json');
  }
  /** `report/`: the visual report (csrun report --html). */
  get report(): string {
    return this.at('report');
  }
  /** `performance.json`: host and simulated samples/s of the last training run. */
  get performance(): string {
    return this.at('performance.json');
  }
  /** `performance/performance.json`: the run's rates under Cerebras' key names (host/hooks/performance.ts). */
  get cerebrasPerformance(): string {
    return this.at('performance', 'performance.json');
  }
  /** `input_analysis.json` / `.txt`: the measured input-pipeline rate per worker count. */
  inputAnalysis(ext: 'json' | 'txt' = 'json'): string {
    return this.at(`input_analysis.${ext}`);
  }
}

/** Values from the command line that override params.yaml (validated with the same schema). */
export interface ParamOverrides {
  runconfig?: Record<string, unknown>;
  train_input?: Record<string, unknown>;
  eval_input?: Record<string, unknown>;
}

/** A loaded model directory. */
export interface ModelDir {
  /** Absolute path of the model directory. */
  dir: string;
  /** Absolute paths of the files used. */
  modelFile: string;
  dataFile: string;
  paramsFile: string;
  /** Validated params with defaults and overrides applied; `runconfig.model_dir` is absolute. */
  params: Params;
  /** Paths in the output directory `runconfig.model_dir`. */
  out: ModelDirLayout;
  /** The model function (an ElasticDL model file is adapted onto it). */
  modelFn: ModelFn;
  /** 'estimator' for a modelFn export, else the adapter's convention ('elasticdl' for an ElasticDL model file). */
  convention: string;
}

function findSource(dir: string, stem: string): string | undefined {
  for (const ext of ['.ts', '.mts', '.js', '.mjs']) {
    const f = path.join(dir, stem + ext);
    if (fs.existsSync(f)) return f;
  }
  return undefined;
}

function mergeOverrides(raw: any, o: ParamOverrides | undefined): any {
  const out = { ...(raw ?? {}) };
  for (const [section, values] of Object.entries(o ?? {})) {
    const defined = Object.fromEntries(Object.entries(values ?? {}).filter(([, v]) => v !== undefined));
    if (Object.keys(defined).length) out[section] = { ...(out[section] ?? {}), ...defined };
  }
  return out;
}

/**
 * Loads a model directory.
 * @param dirArg        the MODEL_DIR argument (relative to cwd).
 * @param opts.paramsFile  params file (default `<dir>/configs/params.yaml`).
 * @param opts.overrides   command-line values; `runconfig.model_dir` given here resolves against cwd,
 *                         one from params.yaml against the model directory.
 * @throws UserError for a missing directory, model file or params file, invalid params, a module that
 *   fails to load, or a model module exporting neither `modelFn` nor an ElasticDL `model`.
 */
export async function loadModelDir(dirArg: string, opts: { paramsFile?: string; overrides?: ParamOverrides } = {}): Promise<ModelDir> {
  const dir = path.resolve(dirArg);
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) throw new UserError(`model directory '${dirArg}' does not exist`);
  const modelFile = findSource(dir, 'model');
  if (!modelFile) throw new UserError(`${path.join(dir, 'model.ts')}: model file not found (a model directory holds model.ts, data.ts and configs/params.yaml)`);
  const dataFile = findSource(dir, 'data') ?? modelFile;
  const paramsFile = path.resolve(opts.paramsFile ?? path.join(dir, 'configs', 'params.yaml'));

  // Validate the file first so that its errors name the file, then again with the overrides merged.
  const raw = readParamsYaml(paramsFile);
  validateParams(raw, paramsFile);
  const cliModelDir = opts.overrides?.runconfig?.model_dir as string | undefined;
  const params = validateParams(mergeOverrides(raw, opts.overrides), `${paramsFile} (with command-line overrides)`);
  params.runconfig.model_dir = cliModelDir ? path.resolve(cliModelDir) : path.resolve(dir, params.runconfig.model_dir);
  for (const section of [params.train_input, params.eval_input]) {
    if (section.data_dir && !path.isAbsolute(section.data_dir)) section.data_dir = path.resolve(dir, section.data_dir);
  }

  const mod = await importUserModule(modelFile, 'model file');
  let modelFn: ModelFn;
  let convention: ModelDir['convention'];
  if (typeof mod.modelFn === 'function') {
    modelFn = mod.modelFn as ModelFn;
    convention = 'estimator';
  } else {
    const adapter = MODEL_ADAPTERS.find((a) => a.matches(mod));
    if (!adapter) {
      const found = Object.keys(mod).join(', ') || 'nothing';
      throw new UserError(`${modelFile}: exports no 'modelFn' function${MODEL_ADAPTERS.map((a) => ` (nor ${a.describe})`).join('')}; it exports ${found}`);
    }
    modelFn = adapter.adapt(mod, modelFile);
    convention = adapter.convention;
  }
  return { dir, modelFile, dataFile, paramsFile, params, out: new ModelDirLayout(params.runconfig.model_dir), modelFn, convention };
}

/** A source of input batches for signature peeking: the first batch's features and labels. */
export type FirstBatch = {
  features: Record<string, { shape: number[]; dtype: string }>;
  labels?: { shape: number[]; dtype: string };
};

/**
 * The per-sample signature of a batch (drops the leading batch dimension).
 * @throws UserError naming `where` if a feature is not a tensor with a batch dimension or has an
 *   unsupported dtype.
 */
export function signatureOf(batch: FirstBatch, where: string): InputSignature {
  const conv = (t: { shape: number[]; dtype: string } | undefined, name: string) => {
    if (!t || !Array.isArray(t.shape) || t.shape.length < 1) throw new UserError(`${where}: ${name} is not a batched tensor (expected { data, shape: [batch, ...], dtype })`);
    const dtype = t.dtype === 'int32' ? 'int32' : t.dtype === 'float32' ? 'float32' : undefined;
    if (!dtype) throw new UserError(`${where}: ${name} has dtype ${t.dtype}; the wafer takes float32 or int32 (cast in inputFn)`);
    return { shape: t.shape.slice(1), dtype } as const;
  };
  if (!batch?.features || typeof batch.features !== 'object') throw new UserError(`${where}: input elements must be { features: { name: tensor }, labels? }`);
  const features: InputSignature['features'] = {};
  for (const [k, t] of Object.entries(batch.features)) features[k] = conv(t, `feature '${k}'`);
  return { features, ...(batch.labels ? { labels: conv(batch.labels, 'labels') } : {}) };
}

/**
 * Traces the model of a directory for one mode.
 * @param md         a loaded model directory.
 * @param mode       'train' | 'eval' | 'infer'.
 * @param signature  per-sample input shapes (e.g. from {@link signatureOf} on the first batch).
 * @throws UserError prefixed with the model file for anything modelFn does wrong.
 */
export function traceModel(md: ModelDir, mode: Mode, signature: InputSignature): Graph {
  return traceModelSpec(md, mode, signature).graph;
}

const HOOK_METHODS = ['begin', 'afterCreateSession', 'beforeRun', 'afterRun', 'end', 'close'] as const;

/**
 * {@link traceModel}, also returning the SessionRunHooks of the EstimatorSpec for the mode: `trainingHooks` in
 * TRAIN, `evaluationHooks` in EVAL (tf.estimator reads them in those modes only), none in PREDICT.
 * @throws UserError as traceModel, and naming the model file and the entry for a hooks field that is not a
 *   list of objects whose hook methods ({@link HOOK_METHODS}) are functions.
 */
export function traceModelSpec(md: ModelDir, mode: Mode, signature: InputSignature): { graph: Graph; hooks: SessionRunHook[] } {
  let spec: EstimatorSpec | undefined;
  const capture: ModelFn = (...args) => (spec = md.modelFn(...args));
  let graph: Graph;
  try {
    graph = traceModelFn(capture, { mode, params: md.params, signature });
  } catch (e: any) {
    if (e instanceof UserError) throw new UserError(`${md.modelFile}: ${e.message}`, { cause: e });
    throw new UserError(`${md.modelFile}: modelFn threw ${errorSummary(e, md.modelFile)}`, { cause: e });
  }
  const key = mode === 'train' ? 'trainingHooks' : mode === 'eval' ? 'evaluationHooks' : undefined;
  const hooks = (key && spec?.[key]) ?? [];
  if (!Array.isArray(hooks)) throw new UserError(`${md.modelFile}: EstimatorSpec.${key} must be a list of SessionRunHooks, got ${typeof hooks}`);
  hooks.forEach((h: any, i) => {
    const bad = h === null || typeof h !== 'object' ? 'not an object' : HOOK_METHODS.filter((m) => h[m] !== undefined && typeof h[m] !== 'function').map((m) => `${m} is not a function`)[0];
    if (bad) throw new UserError(`${md.modelFile}: EstimatorSpec.${key}[${i}] is not a SessionRunHook (${bad}; a hook has optional methods ${HOOK_METHODS.join(', ')})`);
  });
  return { graph, hooks: hooks as SessionRunHook[] };
}

/**
 * The first batch of the directory's input pipeline for `mode` (used to learn feature shapes, as
 * Cerebras' compile runs input_fn): the support server's pipeline run in-process, so the same module
 * loading (inputFn, or an ElasticDL datasetFn/feed) and batch checks apply.
 * @throws UserError naming data.ts when it has no input function, the pipeline is empty or inputFn throws.
 */
export async function firstBatch(md: ModelDir, mode: Mode): Promise<FirstBatch> {
  const server = await SupportServer.start({ dataModule: md.dataFile, params: md.params, mode, inProcess: true });
  try {
    const r = await server.next();
    if (r.done) throw new UserError(`${md.dataFile}: inputFn(params, '${mode}') yielded no batches`);
    return r.value as FirstBatch;
  } finally {
    await server.close();
  }
}


/**
 * Loads a model directory and traces its graph for one mode: the entry point of `csrun compile`.
 * @param dir  MODEL_DIR as given on the command line.
 * @returns the graph, params, model directory, per-sample signature and `firstBatchRows`, the first batch's
 *   row count (the batch size to compile for when the params do not set one).
 * @throws UserError as {@link loadModelDir}, {@link firstBatch} and {@link traceModel} do.
 */
export async function traceModelDir(
  dir: string,
  opts: { mode: Mode; paramsFile?: string; overrides?: ParamOverrides },
): Promise<{ graph: Graph; params: Params; modelDir: ModelDir; signature: InputSignature; firstBatchRows: number }> {
  const modelDir = await loadModelDir(dir, opts);
  const first = await firstBatch(modelDir, opts.mode);
  const signature = signatureOf(first, modelDir.dataFile);
  const graph = traceModel(modelDir, opts.mode, signature);
  return { graph, params: modelDir.params, modelDir, signature, firstBatchRows: batchRows(first) };
}

/** Source files copied to model_dir/src: code, configs and docs. */
const SOURCE_FILE = /\.(m?[jt]s|tsx|ya?ml|json|md)$/;

/**
 * Writes the run's record into model_dir: `params.yaml` (the effective params, command-line overrides
 * included) and `src/`, a copy of the model directory's sources (docs/design.md §5; the tf.estimator tutorial's
 * "copy the model file to model_dir" for reproducibility). Skips model_dir itself, node_modules and
 * dot-files. Removes the temp files that killed writers left in model_dir (runtime/fs.ts removeStaleTemps).
 * @throws UserError naming the path when model_dir is a file, read-only or on a full disk.
 */
export function writeRunFiles(md: ModelDir): void {
  const out = md.out.root;
  ensureDir(out, 'creating model_dir');
  removeStaleTemps(out); // temp files of writers killed between write and rename (runtime/fs.ts)
  writeFileAtomic(md.out.params, dumpParams(md.params), 'writing params');
  const src = md.out.src;
  withFsErrors(src, 'replacing the source copy', () => fs.rmSync(src, { recursive: true, force: true }));
  const skip = new Set([path.resolve(out), path.join(md.dir, 'node_modules')]);
  const copy = (from: string, to: string): void => {
    for (const e of fs.readdirSync(from, { withFileTypes: true })) {
      const f = path.join(from, e.name);
      if (e.name.startsWith('.') || skip.has(f)) continue;
      if (e.isDirectory()) copy(f, path.join(to, e.name));
      else if (e.isFile() && SOURCE_FILE.test(e.name)) {
        ensureDir(to);
        fs.copyFileSync(f, path.join(to, e.name));
      }
    }
  };
  withFsErrors(src, 'copying the model sources to', () => copy(md.dir, src));
}
