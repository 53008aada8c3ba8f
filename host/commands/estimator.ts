/**
 * `csrun train | eval | train_and_eval | eval_all | predict MODEL_DIR` (Cerebras run.py modes on the
 * simulated wafer; tf.estimator semantics, see host/estimator.ts).
 *
 * Common options: `--params FILE`, `--model-dir DIR` (relative to the working directory; runconfig.model_dir
 * in params.yaml is relative to MODEL_DIR), `--machine NAME|PATH`, `--max-steps N` (absolute), `--steps N`
 * (incremental), `--eval-steps N`, `--checkpoint-path FILE`, `--seed N`, `--compute-workers N` (threads; the
 * batch is cut into `runconfig.compute_shards` shards shared among them),
 * `--input-workers N`, `--warm-start-from PATH` (train, train_and_eval). Command-line values override params.yaml; the effective params are written to
 * model_dir/params.yaml.
 */
import path from 'node:path';
import type { Command } from 'commander';
import { Estimator, type TrainSummary } from '../estimator.ts';
import { StoppedBySignal } from '../stop-signals.ts';
import { loadModelDir } from '../model-dir.ts';
import { intOption, machineOption, modelDirArguments, resolveMachine } from './options.ts';

/** Options of the Estimator commands (commander camelCase). */
export interface EstimatorCommandOptions {
  params?: string;
  modelDir?: string;
  machine?: string;
  maxSteps?: string;
  steps?: string;
  evalSteps?: string;
  checkpointPath?: string;
  seed?: string;
  computeWorkers?: string;
  inputWorkers?: string;
  progress?: boolean;
  warmStartFrom?: string;
  /** The program's global `--verbose`. */
  verbose?: boolean;
}

/** Loads the model directory with the command-line overrides and builds an Estimator. */
export async function makeEstimator(modelDirArg: string, o: EstimatorCommandOptions): Promise<Estimator> {
  const md = await loadModelDir(modelDirArg, {
    paramsFile: o.params,
    overrides: {
      runconfig: {
        model_dir: o.modelDir,
        max_steps: intOption('max-steps', o.maxSteps, 1),
        seed: intOption('seed', o.seed, 0),
        machine: o.machine,
        eval_steps: intOption('eval-steps', o.evalSteps, 1),
        compute_workers: intOption('compute-workers', o.computeWorkers, 0),
        warm_start_from: o.warmStartFrom && path.resolve(o.warmStartFrom),
      },
    },
  });
  const machine = resolveMachine(o.machine, md);
  return new Estimator(md, { machine, inputWorkers: intOption('input-workers', o.inputWorkers, 1), progress: o.progress === false ? false : undefined, verbose: o.verbose });
}

/** @throws StoppedBySignal (exit 130/143, host/stop-signals.ts) when a signal stopped the training run. */
function exitOnSignal(t: TrainSummary): void {
  if (t.stopSignal) throw new StoppedBySignal(t.stopSignal, t.globalStep, t.checkpoint);
}

function common(cmd: Command, what: string): Command {
  return machineOption(modelDirArguments(cmd))
    .option('--checkpoint-path <file>', `checkpoint to ${what} (default: the latest in model_dir)`)
    .option('--seed <n>', 'runconfig.seed')
    .option('--compute-workers <n>', 'compute worker threads, each running a share of the batch (0 = one per core)')
    .option('--input-workers <n>', 'input worker threads of the support server');
}

function trainOptions(cmd: Command): Command {
  return cmd
    .option('--max-steps <n>', 'train until this global step (absolute, overrides runconfig.max_steps)')
    .option('--steps <n>', 'train this many more steps (incremental)')
    .option('--warm-start-from <path>', 'initialise a run without a checkpoint from this checkpoint or model_dir (runconfig.warm_start_from)')
    .option('--no-progress', 'no progress bar');
}

/** The Estimator commands: name, description, what `--checkpoint-path` is for, its `--eval-steps` help, the run. */
const MODES: { name: string; description: string; checkpoint: string; train?: boolean; evalSteps?: string; run: (est: Estimator, o: EstimatorCommandOptions) => Promise<unknown> }[] = [
  { name: 'train', description: 'train on the simulated wafer (checkpoints, summaries, sim reports in model_dir)', checkpoint: 'resume from', train: true, run: async (est, o) => exitOnSignal(await est.train({ steps: intOption('steps', o.steps, 1), checkpointPath: o.checkpointPath })) },
  { name: 'eval', description: 'evaluate a checkpoint on the eval input; writes model_dir/eval/results.json', checkpoint: 'evaluate', evalSteps: 'evaluate this many batches (default: runconfig.eval_steps, else one pass)', run: (est, o) => est.evaluate({ checkpointPath: o.checkpointPath }) },
  { name: 'train_and_eval', description: 'train, evaluating after every checkpoint and at the end', checkpoint: 'resume from', train: true, evalSteps: 'batches per evaluation (default: one pass)', run: async (est, o) => exitOnSignal((await est.trainAndEvaluate({ steps: intOption('steps', o.steps, 1), checkpointPath: o.checkpointPath })).train) },
  { name: 'eval_all', description: 'evaluate every kept checkpoint, oldest first', checkpoint: 'evaluate', evalSteps: 'batches per evaluation (default: one pass)', run: (est) => est.evalAll() },
  { name: 'predict', description: 'write predictions of the eval input to model_dir/predict/predictions.jsonl', checkpoint: 'predict with', evalSteps: 'predict this many batches (default: one pass)', run: (est, o) => est.predict({ checkpointPath: o.checkpointPath, steps: intOption('eval-steps', o.evalSteps, 1) }) },
];

/** Registers train, eval, train_and_eval, eval_all and predict. */
export function register(program: Command): void {
  for (const m of MODES) {
    let cmd = common(program.command(m.name).description(m.description), m.checkpoint);
    if (m.train) cmd = trainOptions(cmd);
    if (m.evalSteps) cmd = cmd.option('--eval-steps <n>', m.evalSteps);
    cmd.action(async (dir: string, o: EstimatorCommandOptions, c: Command) => {
      await m.run(await makeEstimator(dir, { ...o, verbose: Boolean(c.optsWithGlobals().verbose) }), o);
    });
  }
}
