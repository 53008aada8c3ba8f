/**
 * `csrun train | eval | train_and_eval | eval_all | predict MODEL_DIR` (Cerebras run.py modes on the
 * simulated wafer; tf.estimator semantics, see host/estimator.ts).
 *
 * Common options: `--params FILE`, `--model-dir DIR` (relative to the working directory; runconfig.model_dir
 * in params.yaml is relative to MODEL_DIR), `--machine NAME|PATH`, `--max-steps N` (absolute), `--steps N`
 * (incremental), `--eval-steps N`, `--checkpoint-path FILE`, `--seed N`, `--compute-workers N` (threads; the
 * batch is cut into `runconfig.compute_shards` shards shared among them),
 * `--input-workers N`. Command-line values override params.yaml; the effective params are written to
 * model_dir/params.yaml.
 */
import type { Command } from 'commander';
import { Estimator } from '../estimator.ts';
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
      },
    },
  });
  const machine = resolveMachine(o.machine, md);
  return new Estimator(md, { machine, inputWorkers: intOption('input-workers', o.inputWorkers, 1), progress: o.progress === false ? false : undefined });
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
    .option('--no-progress', 'no progress bar');
}

/** Registers train, eval, train_and_eval, eval_all and predict. */
export function register(program: Command): void {
  trainOptions(common(program.command('train').description('train on the simulated wafer (checkpoints, summaries, sim reports in model_dir)'), 'resume from'))
    .action(async (dir: string, o: EstimatorCommandOptions) => {
      const est = await makeEstimator(dir, o);
      await est.train({ steps: intOption('steps', o.steps, 1), checkpointPath: o.checkpointPath });
    });
  common(program.command('eval').description('evaluate a checkpoint on the eval input; writes model_dir/eval/results.json'), 'evaluate')
    .option('--eval-steps <n>', 'evaluate this many batches (default: runconfig.eval_steps, else one pass)')
    .action(async (dir: string, o: EstimatorCommandOptions) => {
      const est = await makeEstimator(dir, o);
      await est.evaluate({ checkpointPath: o.checkpointPath });
    });
  trainOptions(common(program.command('train_and_eval').description('train, evaluating after every checkpoint and at the end'), 'resume from'))
    .option('--eval-steps <n>', 'batches per evaluation (default: one pass)')
    .action(async (dir: string, o: EstimatorCommandOptions) => {
      const est = await makeEstimator(dir, o);
      await est.trainAndEvaluate({ steps: intOption('steps', o.steps, 1), checkpointPath: o.checkpointPath });
    });
  common(program.command('eval_all').description('evaluate every kept checkpoint, oldest first'), 'evaluate')
    .option('--eval-steps <n>', 'batches per evaluation (default: one pass)')
    .action(async (dir: string, o: EstimatorCommandOptions) => {
      const est = await makeEstimator(dir, o);
      await est.evalAll();
    });
  common(program.command('predict').description('write predictions of the eval input to model_dir/predict/predictions.jsonl'), 'predict with')
    .option('--eval-steps <n>', 'predict this many batches (default: one pass)')
    .action(async (dir: string, o: EstimatorCommandOptions) => {
      const est = await makeEstimator(dir, o);
      await est.predict({ checkpointPath: o.checkpointPath, steps: intOption('eval-steps', o.evalSteps, 1) });
    });
}
