/**
 * `csrun analyze-input MODEL_DIR [--mode train|eval] [--workers 1,2,4] [--seconds S] [--cores-per-node C]`
 * (Cerebras' `cs_input_analyzer`): measures the model's real input pipeline with each worker count
 * (host/input/analyze.ts), compiles the plan for the mode (cached, as `csrun compile` does) to get the wafer's
 * rate, and writes `model_dir/input_analysis.json` and `input_analysis.txt`, printing the latter.
 *
 * The wafer's rate is the flow-level simulation of the plan at the compiled batch size (docs/design.md §10);
 * when the machine has no host I/O bandwidth for the simulator, the compile estimate, and the report says
 * which.
 */
import os from 'node:os';
import path from 'node:path';
import type { Command } from 'commander';
import { UserError } from '../../runtime/errors.ts';
import { writeFileAtomic, writeJsonAtomic } from '../../runtime/fs.ts';
import { compileToDir, replicaRequest } from '../../compiler/pipeline.ts';
import type { Plan } from '../../compiler/ir.ts';
import { timeBatch } from '../../wafer-sim/clock.ts';
import type { SimLevel } from '../../runtime/params.ts';
import { analyzeMeasurements, formatInputAnalysis, measureInput, type InputAnalysis } from '../input/analyze.ts';
import { traceModelDir } from '../model-dir.ts';
import { compileBatchSize } from './compile.ts';
import { machineOption, modelDirArguments, parseMode, resolveMachine } from './options.ts';

/** Options of `csrun analyze-input`. */
export interface AnalyzeInputOptions {
  mode?: string;
  workers?: string;
  seconds?: string;
  coresPerNode?: string;
  machine?: string;
  params?: string;
  modelDir?: string;
}

/**
 * The wafer's samples/s for a plan at batch size B, timed at the run's `sim_level` (default flow), else
 * (machine without `io_bytes_per_s`) the compile estimate.
 */
export function waferRate(plan: Plan, batchSize: number, level: SimLevel = 'flow'): { samplesPerS: number; source: string } {
  try {
    const r = timeBatch(plan, batchSize, level, false);
    return { samplesPerS: r.samplesPerS, source: `${level === 'analytic' ? 'compile estimate (sim_level analytic)' : `${level} simulation`} of the ${plan.machine.name} plan at batch ${batchSize}` };
  } catch (e) {
    if (!(e instanceof UserError)) throw e;
    return { samplesPerS: plan.estimate.samplesPerS, source: `compile estimate (no simulation: ${e.message})` };
  }
}

/** Parses `--workers 1,2,4`. @throws UserError for anything but a list of integers ≥ 1. */
function parseWorkers(s: string): number[] {
  const ws = s.split(',').map((x) => Number(x.trim()));
  if (ws.length === 0 || ws.some((n) => !Number.isInteger(n) || n < 1)) throw new UserError(`--workers '${s}' must be a comma-separated list of integers ≥ 1, e.g. 1,2,4`);
  return ws;
}

/**
 * Runs `csrun analyze-input`.
 * @returns the analysis written to model_dir/input_analysis.json.
 * @throws UserError for bad options, a bad model dir, or an input function that yields nothing or throws.
 */
export async function runAnalyzeInput(modelDirArg: string, opts: AnalyzeInputOptions, out: (s: string) => void = (s) => process.stdout.write(s)): Promise<InputAnalysis> {
  const mode = parseMode(opts.mode);
  if (mode === 'infer') throw new UserError(`analyze-input: --mode must be train or eval (got ${opts.mode})`);
  const workers = parseWorkers(opts.workers ?? '1,2');
  const seconds = Number(opts.seconds ?? 3);
  if (!(seconds > 0)) throw new UserError(`--seconds '${opts.seconds}' must be a number > 0`);
  const cores = Number(opts.coresPerNode ?? os.availableParallelism());
  const overrides = opts.modelDir ? { runconfig: { model_dir: opts.modelDir } } : undefined;
  const { graph, params, modelDir, firstBatchRows } = await traceModelDir(modelDirArg, { mode, paramsFile: opts.params, overrides });
  const machine = resolveMachine(opts.machine, modelDir);
  const batchSize = compileBatchSize(params, mode, firstBatchRows);
  const { plan } = compileToDir(graph, machine, modelDir.out.compileDir(mode), { batchSize, replicas: replicaRequest(params.runconfig) });
  const wafer = waferRate(plan, batchSize, params.runconfig.sim_level);
  const title = path.basename(modelDir.dir);
  out(`analyze-input ${title}: mode ${mode}, workers ${workers.join(', ')}, ${seconds} s each\n`);
  const measured = await measureInput({
    dataModule: modelDir.dataFile,
    params,
    mode,
    workers,
    seconds,
    onMeasurement: (m) => out(`  ${m.workers} worker(s): ${m.samples_per_s.toFixed(0)} samples/s\n`),
  });
  const a = analyzeMeasurements(measured, mode, wafer, cores);
  const [jsonFile, textFile] = [modelDir.out.inputAnalysis('json'), modelDir.out.inputAnalysis('txt')];
  writeJsonAtomic(jsonFile, a);
  const text = formatInputAnalysis(a, title);
  writeFileAtomic(textFile, text);
  out('\n' + text + `\nWrote ${jsonFile}, ${textFile}\n`);
  return a;
}

/** Registers `csrun analyze-input`. */
export function register(program: Command): void {
  machineOption(modelDirArguments(program.command('analyze-input').description("measure the input pipeline (inputFn) with 1..N workers and compare with the wafer's rate: input-bound?, workers needed, Slurm settings")))
    .option('--mode <mode>', 'train or eval', 'train')
    .option('--workers <list>', 'input worker counts to measure, comma-separated', '1,2')
    .option('--seconds <s>', 'seconds timed per worker count', '3')
    .option('--cores-per-node <n>', "cores per cluster node for the Slurm recommendation (default: this host's)")
    .action(async (modelDir: string, opts: AnalyzeInputOptions) => {
      await runAnalyzeInput(modelDir, opts);
    });
}
