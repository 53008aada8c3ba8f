/**
 * `csrun report MODEL_DIR [--mode train|eval|infer]`: per kernel, the compile estimate
 * (`compile/<mode>/compile_report.json`) beside what the simulated run measured (`sim/…/utilization.json`):

 * cycles per sample, utilization (over a batch, pipeline fill included) and memory per PE; then the overall figures (estimated, simulated and host
 * samples/s, input wait from `performance.json`).
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { batchCycles, kernelBusyCycles } from '../../compiler/estimate.ts';
import { formatTable } from '../../compiler/report.ts';
import { UserError } from '../../runtime/errors.ts';
import type { Mode } from '../../runtime/graph.ts';
import { loadModelDir, ModelDirLayout } from '../model-dir.ts';
import { modelDirArguments, parseMode } from './options.ts';

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
  const layout = new ModelDirLayout(modelDir);
  const run = mode === 'train' ? 'csrun train' : mode === 'eval' ? 'csrun eval' : 'csrun predict';
  const compiled = readJson(layout.compileReportJson(mode), `compile and run the model first (${run})`);
  const sim = readJson(layout.simUtilization(mode), `run the model on the simulated wafer first (${run})`);
  if (sim.plan_hash !== compiled.plan_hash) {
    throw new UserError(`${layout.sim(mode)}: the simulated run used plan ${String(sim.plan_hash).slice(0, 12)}, the compile report is for plan ${String(compiled.plan_hash).slice(0, 12)}; run ${run} again`);
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
  const perfFile = layout.performance;
  if (mode === 'train' && fs.existsSync(perfFile)) {
    const p = readJson(perfFile, '');
    out.push(`host samples/s        ${num(p.host_samples_per_s)}  (${p.compute_workers} compute worker(s), ${p.input_workers} input worker(s), input wait ${pct(p.input_wait_fraction)})`);
  }
  return out.join('\n') + '\n';
}

/** Registers `csrun report`. */
export function register(program: Command): void {
  modelDirArguments(program.command('report').description('compare the compile estimate with the simulated run, kernel by kernel'))
    .option('--mode <mode>', 'train, eval or infer', 'train')
    .action(async (dir: string, o: { mode: string; params?: string; modelDir?: string }) => {
      const mode = parseMode(o.mode);
      const md = await loadModelDir(dir, { paramsFile: o.params, overrides: { runconfig: { model_dir: o.modelDir } } });
      process.stdout.write(reportFor(md.params.runconfig.model_dir, mode));
    });
}
