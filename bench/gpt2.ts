/**
 * Learning benchmark of examples/gpt2 (issue 12; not a test): the tiny character-level GPT trained by
 * `csrun train_and_eval examples/gpt2` and by a PyTorch reference of the same model (bench/gpt2/pytorch_gpt2.py)
 * on the same windows of the same fixed train/test split (written from examples/gpt2/data.ts), with the same
 * steps, batch size and optimizer. Prints both test losses (nats per token), perplexities and next-token
 * accuracies, and their difference, and the names `csrun predict` samples; the target is |Δ loss| ≤ 0.03
 * nats. The two legs run side by side.
 *
 *   npx tsx bench/gpt2.ts [--python /usr/bin/python3] [--seeds 1]
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { spawnSync } from 'node:child_process';
import { loadParams } from '../runtime/params.ts';
import { gptConfig } from '../examples/gpt2/model.ts';
import { runMeasured, table } from './lib.ts';
import { checkTorchParity, writeTorchData } from './gpt2/torch-data.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const example = path.join(root, 'examples/gpt2');
const { values } = parseArgs({ options: { python: { type: 'string' } } });
const params = loadParams(path.join(example, 'configs/params.yaml'));
const c = gptConfig(params);
const steps = params.runconfig.max_steps!;
const batchSize = params.train_input.batch_size!;
const lr = params.optimizer.learning_rate;
checkTorchParity(params);

interface Figures {
  test_loss: number;
  perplexity: number;
  accuracy: number;
  seconds: number;
  names?: string[];
  leg?: string;
}

async function csrun(): Promise<Figures> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'csrun-bench-gpt2-'));
  const t0 = performance.now();
  const run = await runMeasured(process.execPath, [path.join(root, 'bin/csrun.js'), 'train_and_eval', example, '--model-dir', dir, '--no-progress'], { cwd: root });
  if (run.code !== 0) throw new Error(`csrun train_and_eval failed (exit ${run.code}):\n${run.stderr || run.stdout}`);
  const r = JSON.parse(fs.readFileSync(path.join(dir, 'eval/results.json'), 'utf8'));
  const pr = await runMeasured(process.execPath, [path.join(root, 'bin/csrun.js'), 'predict', example, '--model-dir', dir], { cwd: root });
  const names = pr.code === 0 ? fs.readFileSync(path.join(dir, 'predict/samples.txt'), 'utf8').trim().split('\n') : undefined;
  fs.rmSync(dir, { recursive: true, force: true });
  return { test_loss: r.loss, perplexity: r.perplexity, accuracy: r.accuracy, seconds: (performance.now() - t0) / 1000, names, leg: 'csrun train_and_eval' };
}

async function pytorch(): Promise<Figures> {
  const candidates = values.python ? [values.python] : ['python3', '/usr/bin/python3'];
  const python = candidates.find((p) => spawnSync(p, ['-c', 'import torch'], { encoding: 'utf8' }).status === 0);
  if (!python) throw new Error(`PyTorch not available (${candidates.join(', ')}): apt-get install python3-torch (Debian), or pass --python`);
  const file = writeTorchData(params, steps);
  const t0 = performance.now();
  const run = await runMeasured(python, [path.join(root, 'bench/gpt2/pytorch_gpt2.py'), file]);
  fs.rmSync(path.dirname(file), { recursive: true, force: true });
  if (run.code !== 0) throw new Error(`pytorch failed (exit ${run.code}):\n${run.stderr || run.stdout}`);
  return { ...JSON.parse(run.stdout.trim().split('\n').pop()!), seconds: (performance.now() - t0) / 1000 };
}

console.log(`examples/gpt2: ${c.numLayers} layers, hidden ${c.hiddenSize}, ${c.numHeads} heads, T ${c.maxSequenceLength}; Adam ${lr}, batch ${batchSize}, ${steps} steps\n`);
const [a, b] = await Promise.all([csrun(), pytorch()]);
const f = (x: number, d = 4) => x.toFixed(d);
console.log(table(['', 'test loss (nats/token)', 'perplexity', 'next-token accuracy', 'wall s'], [
  [a.leg!, f(a.test_loss), f(a.perplexity, 3), f(a.accuracy), f(a.seconds, 0)],
  ['PyTorch reference', f(b.test_loss), f(b.perplexity, 3), f(b.accuracy), f(b.seconds, 0)],
]));
console.log(`\nΔ test loss = ${f(a.test_loss - b.test_loss)} nats (target |Δ| ≤ 0.03)`);
if (a.names) console.log(`\nsampled names (csrun, temperature ${params.predict_input.temperature}, seed ${params.predict_input.seed}): ${a.names.join(', ')}`);
