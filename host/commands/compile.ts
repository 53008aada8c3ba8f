/**
 * `csrun compile MODEL_DIR` (Cerebras run.py `--mode compile_only` / `--validate_only`): traces the model for
 * a mode, compiles it for a machine and writes `model_dir/compile/<mode>/plan.json`, `compile_report.txt`,
 * `compile_report.json` and `placement.svg`, printing the report. An unchanged model for an unchanged
 * machine reuses the cached plan and says so.
 *
 * Options: `--machine NAME|PATH` (default: `runconfig.machine`, else wse2; a path on the command line
 * resolves against the working directory, one in params.yaml against the model directory), `--mode
 * train|eval|infer`, `--validate-only` (validate + lower: Keras summary and kernel list), `--emit-kgraph FILE`
 * (the kernel graph in ISPD 2020 kgraph format), `--dump-ir DIR` (every IR as JSON), `--params`,
 * `--model-dir`.
 *
 * The plan is compiled for the mode's batch size (its estimated samples/s is the rate at that batch size):
 * `train_input.batch_size` for train, `eval_input.batch_size` for eval and infer, else the row count of the
 * first batch the input pipeline yields — the batch size `csrun train` / `eval` / `predict` will run, so
 * their compile reuses this plan.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { UserError } from '../../runtime/errors.ts';
import { ensureDir, writeFileAtomic } from '../../runtime/fs.ts';
import type { Mode } from '../../runtime/graph.ts';
import { formatSummary } from '../../runtime/summary.ts';
import { kernelGraphToKgraph, writeKgraph } from '../../compiler/ispd/kgraph.ts';
import { lower } from '../../compiler/passes/lower.ts';
import { compileGraph, compileToDir, COMPILE_FILES, replicaRequest } from '../../compiler/pipeline.ts';
import { formatKernelList, reportText } from '../../compiler/report.ts';
import { traceModelDir, writeRunFiles } from '../model-dir.ts';
import { machineOption, modelDirArguments, parseMode, resolveMachine } from './options.ts';

/** Options of `csrun compile`. */
export interface CompileCommandOptions {
  machine?: string;
  mode?: string;
  validateOnly?: boolean;
  emitKgraph?: string;
  dumpIr?: string;
  params?: string;
  modelDir?: string;
}

/**
 * The batch size a mode is compiled for: the mode's params section `batch_size` (`train_input` for train,
 * `eval_input` for eval and infer), else `firstBatchRows`.
 * @throws UserError when neither is set (an empty first batch).
 */
export function compileBatchSize(params: { train_input: { batch_size?: number }; eval_input: { batch_size?: number } }, mode: Mode, firstBatchRows: number): number {
  const section = mode === 'train' ? 'train_input' : 'eval_input';
  const b = params[section].batch_size ?? firstBatchRows;
  if (!Number.isInteger(b) || b < 1) throw new UserError(`${section}.batch_size is not set and the first batch of mode '${mode}' has no rows: cannot tell the batch size to compile for`);
  return b;
}

/**
 * Runs `csrun compile`.
 * @param out where to print (stdout by default).
 * @throws UserError for bad input (model dir, params, machine, unsupported op, model too large, …).
 */
export async function runCompile(modelDirArg: string, opts: CompileCommandOptions, out: (s: string) => void = (s) => process.stdout.write(s)): Promise<void> {
  const mode = parseMode(opts.mode);
  const overrides = opts.modelDir ? { runconfig: { model_dir: opts.modelDir } } : undefined;
  const { graph, params, modelDir, firstBatchRows } = await traceModelDir(modelDirArg, { mode, paramsFile: opts.params, overrides });
  const machine = resolveMachine(opts.machine, modelDir);
  const title = path.basename(modelDir.dir);

  if (opts.emitKgraph) {
    const kg = lower(graph, machine);
    const file = path.resolve(opts.emitKgraph);
    ensureDir(path.dirname(file), 'creating --emit-kgraph directory');
    writeFileAtomic(file, writeKgraph(kernelGraphToKgraph(kg, machine, title)), 'writing --emit-kgraph');
    out(`Wrote kernel graph ${file}\n`);
  }
  if (opts.validateOnly) {
    out(formatSummary(graph, title) + '\n'); // before the fit check, so a model too large still shows its parameters
    const r = compileGraph(graph, machine, { validateOnly: true, dumpIrDir: opts.dumpIr && path.resolve(opts.dumpIr) });
    out(`\nKernels for machine ${machine.name}, mode ${mode} (${r.kernelGraph.kernels.length}):\n`);
    out(formatKernelList(r.kernelGraph) + '\n');
    out(`\nValidation passed: every layer is supported and the model fits ${machine.name} (${machine.fabric.width}×${machine.fabric.height} PEs).\n`);
    return;
  }
  const dir = modelDir.out.compileDir(mode);
  writeRunFiles(modelDir);
  const r = compileToDir(graph, machine, dir, { batchSize: compileBatchSize(params, mode, firstBatchRows), dumpIrDir: opts.dumpIr && path.resolve(opts.dumpIr), replicas: replicaRequest(params.runconfig) });
  if (r.cached) out(`Compile cache hit: the model and machine are unchanged, reusing ${path.join(dir, COMPILE_FILES.plan)} (plan ${r.plan.hash.slice(0, 16)})\n\n`);
  else {
    const total = Object.values(r.timings).reduce((a, b) => a + b, 0);
    out(`Compiled ${title} for ${machine.name} in ${(total / 1000).toFixed(2)} s (${Object.entries(r.timings).map(([k, v]) => `${k} ${v.toFixed(0)} ms`).join(', ')})\n\n`);
  }
  out(reportText(r.plan));
  out(`\nWrote ${Object.values(COMPILE_FILES).map((f) => path.join(dir, f)).join(', ')}\n`);
}

/** Registers `csrun compile`. */
export function register(program: Command): void {
  machineOption(modelDirArguments(program.command('compile').description('validate and compile a model for the wafer: plan, compile report and placement picture in model_dir/compile/<mode>')))
    .option('--mode <mode>', 'train, eval or infer', 'train')
    .option('--validate-only', 'stop after validate + lower: print the layer summary and the kernel list')
    .option('--emit-kgraph <file>', 'also write the kernel graph in ISPD 2020 kgraph format')
    .option('--dump-ir <dir>', 'write every intermediate representation as JSON into DIR')
    .action(async (modelDir: string, opts: CompileCommandOptions) => {
      await runCompile(modelDir, opts);
    });
}
