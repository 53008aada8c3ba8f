/**
 * `csrun report MODEL_DIR [--mode train|eval|infer]`: per kernel, the compile estimate
 * (`compile/<mode>/compile_report.json`) beside what the simulated run measured (`sim/…/utilization.json`):

 * cycles per sample, utilization (over a batch, pipeline fill included) and memory per PE; then the overall figures (estimated, simulated and host
 * samples/s, input wait from `performance.json`).
 * `--html` (and `--compare` with two dirs) writes the interactive page instead: host/report/.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { batchCycles, kernelBusyCycles } from '../../compiler/estimate.ts';
import { formatTable } from '../../compiler/report.ts';
import { UserError } from '../../runtime/errors.ts';
import type { Mode } from '../../runtime/graph.ts';
import { loadModelDir } from '../model-dir.ts';
import { runHtmlReport } from '../report/index.ts';
import { parseMode } from './compile.ts';

function readJson(file: string, hint: string): any {
  if (!fs.existsSync(file)) throw new UserError(`${file} not found: ${hint}`);
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e: any) {
    throw new UserError(`${file}: not valid JSON (${e.message})`);
  }
}

const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
const num = (x: number) => (Math.abs(x) >= 1e5 || (x !== 0 && Math.abs(x) < 0.01) ? x.toExponential(3) : Number.isInteger(x) ? String(x) : x.toFixed(2));

/**
 * The report text for a model_dir and mode.
 * @throws UserError when the compile report or the simulation results are missing.
 */
export function reportFor(modelDir: string, mode: Mode): string {
  const run = mode === 'train' ? 'csrun train' : mode === 'eval' ? 'csrun eval' : 'csrun predict';
  const compiled = readJson(path.join(modelDir, 'compile', mode, 'compile_report.json'), `compile and run the model first (${run})`);
  const sim = readJson(path.join(modelDir, 'sim', mode === 'train' ? '' : mode, 'utilization.json'), `run the model on the simulated wafer first (${run})`);
  if (sim.plan_hash !== compiled.plan_hash) {
    throw new UserError(`${path.join(modelDir, 'sim')}: the simulated run used plan ${String(sim.plan_hash).slice(0, 12)}, the compile report is for plan ${String(compiled.plan_hash).slice(0, 12)}; run ${run} again`);
  }
  const simByName = new Map<string, any>(sim.kernels.map((k: any) => [k.name, k]));
  // Estimated utilization over a batch of the compiled size, pipeline fill included (what the run measures).
  const e = compiled.estimate;
  const cycles = batchCycles({ fillCycles: e.fill_cycles, intervalCycles: e.interval_cycles }, e.batch_size);
  const rows = compiled.kernels.map((k: any) => {
    const s = simByName.get(k.name) ?? {};
    return [k.name, k.op, num(k.cycles_per_sample), s.cycles_per_sample === undefined ? '-' : num(s.cycles_per_sample), pct(kernelBusyCycles({ cyclesPerSample: k.cycles_per_sample }, e.batch_size) / cycles), s.utilization === undefined ? '-' : pct(s.utilization), num(k.memory_bytes_per_pe), s.memory_bytes_per_pe === undefined ? '-' : num(s.memory_bytes_per_pe)];
  });
  const out: string[] = [];
  out.push(`Model dir ${modelDir}, mode ${mode}, machine ${compiled.machine.name} (${compiled.machine.fabric.join('×')} PEs, ${(compiled.machine.clock_hz / 1e6).toFixed(0)} MHz)`);
  out.push('');
  out.push(formatTable(['kernel', 'op', 'cycles/sample est.', 'cycles/sample sim.', 'util. est.', 'util. sim.', 'mem B/PE est.', 'mem B/PE sim.'], rows, [false, false, true, true, true, true, true, true]));
  out.push('');
  out.push(`estimated samples/s   ${num(e.samples_per_s)}  (batches of ${e.batch_size}; steady state ${num(e.steady_state_samples_per_s)})`);
  out.push(`simulated samples/s   ${num(sim.simulated_samples_per_s)}  (${sim.samples} samples in ${sim.batches} batches, ${num(sim.simulated_seconds)} s simulated)`);
  if (sim.busiest_link) out.push(`busiest link          (${sim.busiest_link.x},${sim.busiest_link.y},${sim.busiest_link.dir}) ${num(sim.busiest_link.bytes_per_sample)} bytes/sample measured`);
  const perfFile = path.join(modelDir, 'performance.json');
  if (mode === 'train' && fs.existsSync(perfFile)) {
    const p = readJson(perfFile, '');
    out.push(`host samples/s        ${num(p.host_samples_per_s)}  (${p.compute_workers} compute worker(s), ${p.input_workers} input worker(s), input wait ${pct(p.input_wait_fraction)})`);
  }
  return out.join('\n') + '\n';
}

/** Registers `csrun report`. */
export function register(program: Command): void {
  program
    .command('report')
    .description('compare the compile estimate with the simulated run, kernel by kernel (--html: an interactive page, model_dir/report/index.html)')
    .argument('<model_dir...>', 'model directory (model.ts, data.ts, configs/params.yaml) or output model_dir; two with --compare')
    .option('--mode <mode>', 'train, eval or infer', 'train')
    .option('--params <file>', 'params file (default MODEL_DIR/configs/params.yaml)')
    .option('--model-dir <dir>', 'output directory (overrides runconfig.model_dir)')
    .option('--html', 'write the interactive HTML report (wafer map, kernel table, curves, timeline)')
    .option('--compare', 'with --html: two model dirs side by side (per-kernel deltas, both maps)')
    .option('--out <dir>', 'with --html: directory of index.html (default model_dir/report, or report/compare of the first)')
    .action(async (dirs: string[], o: { mode: string; params?: string; modelDir?: string; html?: boolean; compare?: boolean; out?: string }) => {
      const mode = parseMode(o.mode);
      if (o.html || o.compare) {
        if (!o.html) throw new UserError('--compare needs --html (the comparison is a page)');
        const file = await runHtmlReport(dirs, { mode, compare: o.compare, out: o.out, params: o.params, modelDir: o.modelDir });
        process.stdout.write(`Wrote ${file} (open it in a browser; it works offline)\n`);
        return;
      }
      if (dirs.length !== 1) throw new UserError(`csrun report takes one model dir, got ${dirs.length} (two need --html --compare)`);
      const md = await loadModelDir(dirs[0], { paramsFile: o.params, overrides: { runconfig: { model_dir: o.modelDir } } });
      process.stdout.write(reportFor(md.params.runconfig.model_dir, mode));
    });
}
