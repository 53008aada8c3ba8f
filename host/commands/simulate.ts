/**
 * `csrun simulate MODEL_DIR [--mode M] [--batch-size N] [--sim-level L] [--machine M] [--plan FILE]`: the
 * timing simulation of one batch alone (docs/design.md §10), without numerics or training data beyond the
 * first batch's shapes, so models too large to train on the host (examples/resnet50, transformers) can be
 * studied. Traces and compiles the mode as `csrun compile` does (the compile cache is reused), or takes a
 * plan file (`--plan`, e.g. an edited one), simulates a batch of `--batch-size` samples (default: the plan's)
 * at `--sim-level` (default `runconfig.sim_level`), writes `model_dir/sim/<mode>/` (utilization.json,
 * links.json, links.svg, trace.json) and prints the simulation beside the estimate with the cause of the
 * difference; `csrun report` then shows it per kernel.
 */
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Command } from 'commander';
import type { Plan } from '../../compiler/ir.ts';
import { compileToDir, replicaRequest } from '../../compiler/pipeline.ts';
import { readPlan } from '../../compiler/passes/plan.ts';
import { ensureDir, writeFileAtomic } from '../../runtime/fs.ts';
import { UserError } from '../../runtime/errors.ts';
import type { InputAnalysis } from '../input/analyze.ts';
import { boundLabel, systemRate } from '../input/system-rate.ts';
import { SIM_LEVELS, type SimLevel } from '../../runtime/params.ts';
import { timeBatch } from '../../wafer-sim/clock.ts';
import { simFiles } from '../../wafer-sim/sim-files.ts';
import { checkGeometry } from '../../wafer-sim/sim/index.ts';
import { loadModelDir, traceModelDir, writeRunFiles } from '../model-dir.ts';
import { compileBatchSize } from './compile.ts';
import { machineOption, modelDirArguments, parseMode, resolveMachine } from './options.ts';

/** Options of `csrun simulate`. */
export interface SimulateCommandOptions {
  mode?: string;
  batchSize?: string;
  simLevel?: string;
  machine?: string;
  plan?: string;
  params?: string;
  modelDir?: string;
}

/**
 * Runs `csrun simulate`.
 * @param out where to print (stdout by default).
 * @throws UserError for a bad option (naming it), a bad model dir or machine, a plan file that is unreadable,
 *   fails its hash or is of another mode, and whatever the simulation refuses (a machine without
 *   `io_bytes_per_s`, the wavelet level on a large fabric, a corrupted plan: prefixed with the plan file).
 */
export async function runSimulate(modelDirArg: string, opts: SimulateCommandOptions, out: (s: string) => void = (s) => process.stdout.write(s)): Promise<void> {
  const mode = parseMode(opts.mode);
  if (opts.simLevel !== undefined && !(SIM_LEVELS as readonly string[]).includes(opts.simLevel)) throw new UserError(`--sim-level '${opts.simLevel}' is not one of ${SIM_LEVELS.join(', ')}`);
  const B = opts.batchSize === undefined ? undefined : Number(opts.batchSize);
  if (B !== undefined && !(Number.isInteger(B) && B >= 1)) throw new UserError(`--batch-size '${opts.batchSize}' must be an integer ≥ 1`);
  const overrides = opts.modelDir ? { runconfig: { model_dir: opts.modelDir } } : undefined;
  let plan: Plan;
  let planFile: string;
  let md;
  if (opts.plan) {
    planFile = path.resolve(opts.plan);
    if (!fs.existsSync(planFile)) throw new UserError(`--plan ${opts.plan}: no such file`);
    plan = readPlan(planFile);
    if (plan.mode !== mode) throw new UserError(`${planFile}: the plan is for mode '${plan.mode}', not '${mode}' (pass --mode ${plan.mode})`);
    if (opts.machine) throw new UserError('--machine and --plan exclude each other: a plan is compiled for its machine');
    md = await loadModelDir(modelDirArg, { paramsFile: opts.params, overrides });
  } else {
    const t = await traceModelDir(modelDirArg, { mode, paramsFile: opts.params, overrides });
    md = t.modelDir;
    const machine = resolveMachine(opts.machine, md);
    const dir = md.out.compileDir(mode);
    writeRunFiles(md);
    plan = compileToDir(t.graph, machine, dir, { batchSize: compileBatchSize(t.params, mode, t.firstBatchRows), replicas: replicaRequest(t.params.runconfig) }).plan;
    planFile = md.out.plan(mode);
  }
  const level = (opts.simLevel ?? md.params.runconfig.sim_level) as SimLevel;
  const batch = B ?? plan.batchSize;
  const t0 = performance.now();
  try {
    checkGeometry(plan);
  } catch (e) {
    throw e instanceof UserError ? new UserError(`${planFile}: corrupted ${e.message.replace(/^plan: /, '')} (recompile with csrun compile)`) : e;
  }
  const files = simFiles({ plan, level, timings: [{ result: timeBatch(plan, batch, level), batches: 1 }], estimate: timeBatch(plan, batch, 'analytic') });
  const ms = performance.now() - t0;
  const dir = md.out.sim(mode);
  ensureDir(dir);
  for (const [f, text] of Object.entries(files)) writeFileAtomic(path.join(dir, f), text);
  const u = JSON.parse(files['utilization.json']);
  const c = u.estimate;
  const n = (x: number) => (x >= 1e5 ? x.toExponential(3) : x.toFixed(x >= 100 ? 0 : 2));
  const pc = (x: number) => `${x >= 0 ? '+' : ''}${(100 * x).toFixed(1)}%`;
  out(
    [
      `Simulated ${mode} on ${plan.machine.name} (${plan.machine.fabric.width}×${plan.machine.fabric.height} PEs), sim_level ${level}, batch ${batch}, plan ${plan.hash.slice(0, 12)}: ${(ms / 1000).toFixed(2)} s`,
      `samples/s             ${n(u.samples_per_s)}  (estimate ${n(c.samples_per_s.estimate)}, ${pc(c.samples_per_s.difference)}${c.cause ? `: ${c.cause}` : ''})`,
      `batch cycles          ${n(u.batch_cycles)}  (estimate ${n(c.batch_cycles.estimate)})`,
      `first-sample latency  ${n(u.first_sample_latency_cycles)} cycles  (estimate fill ${n(c.first_sample_latency_cycles.estimate)})`,
      `steady interval       ${n(u.steady_interval_cycles)} cycles  (estimate ${n(c.steady_interval_cycles.estimate)})`,
      `bottleneck            ${u.bottleneck.kind} ${u.bottleneck.name}${u.bottleneck.pass ? ` (${u.bottleneck.pass})` : ''}`,
      ...(plan.replicas && plan.replicas.count > 1 ? [`replicas              ${plan.replicas.count} (${plan.replicas.samplesPerReplica} samples each, sharing host I/O; all-reduce ${n(plan.replicas.allreduceCycles)} cycles per batch)`] : []),
      systemLine(md.out.inputAnalysis('json'), u.samples_per_s),
      ...u.errors.map((e: { message: string }) => `plan error            ${e.message}`),
      `Wrote ${Object.keys(files).map((f) => path.join(dir, f)).join(', ')} (csrun report ${modelDirArg}${mode === 'train' ? '' : ` --mode ${mode}`}: per kernel)`,
    ].join('\n') + '\n',
  );
}

/**
 * The system-rate line of `csrun simulate` (docs/design.md §14): with `model_dir/input_analysis.json` (csrun
 * analyze-input), the input pipeline is a rate-limited source: system = min(wafer, input pipeline), where
 * the pipeline delivers its per-worker rate × the workers it was measured with at most (the best
 * measurement); without it, the wafer's rate alone, saying how to measure the input.
 */
function systemLine(analysisFile: string, waferSamplesPerS: number): string {
  if (!fs.existsSync(analysisFile)) return `system                wafer only (run csrun analyze-input to bound it by the input pipeline)`;
  let a: InputAnalysis;
  try {
    a = JSON.parse(fs.readFileSync(analysisFile, 'utf8'));
  } catch (e) {
    throw new UserError(`${analysisFile}: not valid JSON (${(e as Error).message}); rerun csrun analyze-input`);
  }
  const best = a.measurements.reduce((m, x) => (x.samples_per_s > m.samples_per_s ? x : m));
  const sys = systemRate({ wafer: waferSamplesPerS, input: best.samples_per_s });
  const f = (x: number) => (x >= 1e5 ? x.toExponential(3) : x.toFixed(0));
  return `system                ${f(sys.samplesPerS)} samples/s, ${boundLabel(sys)} (input pipeline ${f(best.samples_per_s)} samples/s with ${best.workers} worker(s), from ${analysisFile}; ${a.workers_needed} workers would feed the wafer)`;
}

/** Registers `csrun simulate`. */
export function register(program: Command): void {
  machineOption(modelDirArguments(program.command('simulate').description('simulate the timing of one batch on the wafer (no numerics): model_dir/sim/<mode>, estimate beside simulation')))
    .option('--mode <mode>', 'train, eval or infer', 'train')
    .option('--batch-size <n>', 'samples in the simulated batch (default: the batch size the plan is compiled for)')
    .option('--sim-level <level>', `${SIM_LEVELS.join(', ')} (default: runconfig.sim_level, else flow)`)
    .option('--plan <file>', 'simulate this plan.json instead of compiling the model')
    .action(async (modelDir: string, opts: SimulateCommandOptions) => {
      await runSimulate(modelDir, opts);
    });
}
