/**
 * `csrun report MODEL_DIR [--mode train|eval|infer]`: the compile estimate beside the timing simulation of
 * the run (`sim/<mode>/utilization.json`, written by `csrun train/eval/predict` or `csrun simulate`), per
 * kernel (first-sample start, utilization, starved and blocked time, SRAM) and overall (batch cycles,
 * first-sample latency, steady interval, samples/s), with the cause of every difference above 2%
 * (wafer-sim/compare.ts: fill, a named link, credits, stash, ingress); then the bottleneck, the run's
 * simulated samples/s and the host's (`performance.json`).
 * `--html` (and `--compare` with two dirs) writes the interactive page instead: host/report/.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { formatTable } from '../../compiler/report.ts';
import { UserError } from '../../runtime/errors.ts';
import type { Mode } from '../../runtime/graph.ts';
import type { Comparison, Figure } from '../../wafer-sim/compare.ts';
import { loadModelDir, ModelDirLayout } from '../model-dir.ts';
import { readJson } from '../report/data.ts';
import { runHtmlReport } from '../report/index.ts';
import { parseMode } from './options.ts';

const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
const num = (x: number) => (Math.abs(x) >= 1e5 || (x !== 0 && Math.abs(x) < 0.01) ? x.toExponential(3) : Number.isInteger(x) ? String(x) : x.toFixed(2));
const diff = (f: Figure) => `${f.difference >= 0 ? '+' : ''}${(100 * f.difference).toFixed(1)}%`;


/**
 * The report text for a model_dir and mode.
 * @throws UserError when the compile report or the simulation results are missing, or are of different plans.
 */
export function reportFor(modelDir: string, mode: Mode): string {
  const run = `csrun ${mode === 'train' ? 'train' : mode === 'eval' ? 'eval' : 'predict'} or csrun simulate --mode ${mode}`;
  const compiled = readJson(new ModelDirLayout(modelDir).compileReportJson(mode), `compile and run the model first (${run})`);
  const simFile = new ModelDirLayout(modelDir).simUtilization(mode);
  const sim = readJson(simFile, `simulate the model first (${run})`);
  if (sim.plan_hash !== compiled.plan_hash) {
    throw new UserError(`${simFile}: the simulation used plan ${String(sim.plan_hash).slice(0, 12)}, the compile report is for plan ${String(compiled.plan_hash).slice(0, 12)}; run ${run} again`);
  }
  if (!sim.estimate?.kernels) throw new UserError(`${simFile}: written by an older csrun (no estimate section); run ${run} again`);
  const cmp: Comparison = sim.estimate;
  const rows = sim.kernels.map((k: any, i: number) => {
    const c = cmp.kernels[i];
    const share = (key: string) => pct(k.passes.length * sim.simulated_cycles > 0 ? k[key] / (k.passes.length * sim.simulated_cycles) : 0);
    return [k.name, k.op, num(k.cycles_per_sample), num(c.start_cycle.estimate), num(c.start_cycle.simulation), pct(c.utilization.estimate), pct(c.utilization.simulation), share('starved_cycles'), share('blocked_cycles'), num(k.memory_bytes_per_pe), num(k.sram_high_water_bytes_per_pe), c.cause ?? ''];
  });
  const B = cmp.batch_size;
  const overall = ([
    [`batch cycles (B = ${B})`, cmp.batch_cycles, cmp.cause],
    ['first-sample latency (cycles)', cmp.first_sample_latency_cycles, cmp.latency_cause],
    ['steady interval (cycles)', cmp.steady_interval_cycles, cmp.interval_cause],
    [`samples/s (B = ${B})`, cmp.samples_per_s, cmp.cause],
  ] as const).map(([what, f, cause]) => [what, num(f.estimate), num(f.simulation), diff(f), Math.abs(f.difference) > 0.02 ? (cause ?? '') : '']);
  const out: string[] = [];
  out.push(`Model dir ${modelDir}, mode ${mode}, machine ${compiled.machine.name} (${compiled.machine.fabric.join('×')} PEs, ${(compiled.machine.clock_hz / 1e6).toFixed(0)} MHz), sim_level ${sim.sim_level}`);
  out.push('');
  out.push(formatTable(['kernel', 'op', 'cycles/sample', 'start est.', 'start sim.', 'util. est.', 'util. sim.', 'starved sim.', 'blocked sim.', 'mem B/PE', 'SRAM high-water B/PE', 'cause of a difference > 2%'], rows, [false, false, true, true, true, true, true, true, true, true, true, false]));
  out.push('');
  out.push(formatTable(['overall', 'estimate', 'simulation', 'difference', 'cause'], overall, [false, true, true, true, false]));
  out.push('');
  const bn = sim.bottleneck;
  out.push(`bottleneck            estimate ${compiled.estimate.bottleneck}; simulation ${bn.kind} ${bn.name}${bn.pass ? ` (${bn.pass})` : ''}`);
  for (const e of sim.errors ?? []) out.push(`plan error            ${e.message}`);
  out.push(`simulated run         ${num(sim.samples_per_s)} samples/s (${sim.samples} samples in ${sim.batches} batches, ${num(sim.simulated_seconds)} s simulated)`);
  const hot = readLinks(modelDir, mode)[0];
  if (hot) out.push(`hottest link          (${hot.x},${hot.y},${hot.dir}) ${num(hot.bytes / Math.max(1, sim.samples))} bytes/sample, utilization ${pct(hot.utilization)}`);
  const perfFile = new ModelDirLayout(modelDir).performance;
  if (mode === 'train' && fs.existsSync(perfFile)) {
    const p = readJson(perfFile, '');
    out.push(`host samples/s        ${num(p.host_samples_per_s)}  (${p.compute_workers} compute worker(s), ${p.input_workers} input worker(s), input wait ${pct(p.input_wait_fraction)})`);
  }
  return out.join('\n') + '\n';
}

function readLinks(modelDir: string, mode: Mode): any[] {
  const f = new ModelDirLayout(modelDir).simLinks(mode);
  return fs.existsSync(f) ? (readJson(f, '').links ?? []) : [];
}

/** Registers `csrun report`. */
export function register(program: Command): void {
  program
    .command('report')
    .description('compare the compile estimate with the timing simulation, kernel by kernel, naming the cause of each difference (--html: an interactive page, model_dir/report/index.html)')
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
