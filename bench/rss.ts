/**
 * Peak memory of the README quick start (issue 17; not a test): runs `csrun train_and_eval <example>` (default
 * examples/mnist, its params: 1,875 steps, 3 evaluations) in a fresh model_dir and prints the process's peak
 * resident set size (VmHWM, compute worker threads included: `./lib.ts` `runMeasured`), the wall time and
 * the final evaluation results (`model_dir/eval/results.json`). Target for examples/mnist: < 700 MB.
 *
 *   npm run bench:rss [-- --example examples/mnist --compute-workers 2]
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { mb, runMeasured } from './lib.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({ options: { example: { type: 'string', default: 'examples/mnist' }, 'compute-workers': { type: 'string' } } });
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'csrun-bench-rss-'));
const args = [path.join(root, 'bin/csrun.js'), 'train_and_eval', path.resolve(root, values.example!), '--model-dir', dir, '--no-progress'];
if (values['compute-workers']) args.push('--compute-workers', values['compute-workers']);
const run = await runMeasured(process.execPath, args, { cwd: root });
if (run.code !== 0) throw new Error(`csrun train_and_eval failed (exit ${run.code}):\n${run.stderr || run.stdout}`);
const results = JSON.parse(fs.readFileSync(path.join(dir, 'eval/results.json'), 'utf8'));
fs.rmSync(dir, { recursive: true, force: true });
console.log(`csrun train_and_eval ${values.example}: peak RSS ${mb(run.peakRssBytes)}, wall ${run.wallSeconds.toFixed(0)} s, eval ${JSON.stringify(results)}`);
