/**
 * Cerebras run.py compatibility (host/commands/run.ts): `csrun run MODEL_DIR --mode … -p … -o …` and
 * snake_case flags map onto the commands; `eval_all` keeps every checkpoint's results and eval events;
 * `performance/performance.json` carries Cerebras' keys.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { IGNORED_FLAGS, normalizeFlags, runPyToCsrun } from '../../host/commands/run.ts';
import { readScalars } from '../helpers/events.ts';

const ROOT = path.resolve(__dirname, '../..');
const csrun = (...args: string[]) => spawnSync(process.execPath, [path.join(ROOT, 'bin/csrun.js'), ...args], { encoding: 'utf8', cwd: ROOT, timeout: 900_000 });
const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'csrun-runpy-'));

/** Cerebras' performance.json keys (modelzoo runs write model_dir/performance/performance.json). */
const CEREBRAS_PERFORMANCE_KEYS = ['total_samples', 'total_time', 'samples_per_sec', 'compile_time', 'programming_time', 'est_samples_per_sec'];

describe('run.py command line', () => {
  it('rewrites modes, -p/-o, --validate_only/--compile_only, snake_case flags; ignores hardware flags with a warning', () => {
    const warnings: string[] = [];
    const w = (m: string) => void warnings.push(m);
    expect(runPyToCsrun(['m', '--mode', 'train_and_eval', '-p', 'p.yaml', '-o', 'out', '--max_steps', '200'], w)).toEqual(['train_and_eval', 'm', '--params', 'p.yaml', '--model-dir', 'out', '--max-steps', '200']);
    expect(runPyToCsrun(['m', '--mode=eval', '--checkpoint_path=c.safetensors'], w)).toEqual(['eval', 'm', '--checkpoint-path=c.safetensors']);
    expect(runPyToCsrun(['m', '--mode', 'train', '--validate_only'], w)).toEqual(['compile', 'm', '--mode', 'train', '--validate-only']);
    expect(runPyToCsrun(['m', '--mode', 'eval', '--compile_only'], w)).toEqual(['compile', 'm', '--mode', 'eval']);
    expect(runPyToCsrun(['m', '--mode', 'predict', '--cs_ip', '10.0.0.1', '--multireplica', '--device', 'CSX'], w)).toEqual(['predict', 'm']);
    expect(warnings).toEqual(['--cs_ip', '--multireplica', '--device'].map((f) => `run.py flag ${f} is a Cerebras system setting; csrun ignores it`));
    expect(Object.keys(IGNORED_FLAGS)).toContain('--cs_ip');
    expect(() => runPyToCsrun(['m'], w)).toThrow(/--mode is required/);
    expect(() => runPyToCsrun(['m', '--mode', 'fit'], w)).toThrow(/--mode 'fit' is not one of/);
    expect(() => runPyToCsrun(['m', '--mode', 'train', '--validate_only', '--compile_only'], w)).toThrow(/exclude each other/);
    expect(normalizeFlags(['--model_dir', 'a_b', '--max_steps=3', '-p', 'x_y', '--', '--keep_me'])).toEqual(['--model-dir', 'a_b', '--max-steps=3', '-p', 'x_y', '--', '--keep_me']);
  });

  it('csrun run examples/mnist --mode train_and_eval -p … -o … --max_steps 200, then --mode eval_all', () => {
    const out = path.join(tmp(), 'runs/mnist');
    const r = csrun('run', 'examples/mnist', '--mode', 'train_and_eval', '-p', 'examples/mnist/configs/params.yaml', '-o', out, '--max_steps', '200');
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(fs.existsSync(path.join(out, 'model.ckpt-200.safetensors'))).toBe(true);
    const results = JSON.parse(fs.readFileSync(path.join(out, 'eval', 'results.json'), 'utf8'));
    expect(results.global_step).toBe(200);
    expect(results.accuracy).toBeGreaterThan(0.8);
    const perf = JSON.parse(fs.readFileSync(path.join(out, 'performance', 'performance.json'), 'utf8'));
    expect(Object.keys(perf).sort()).toEqual([...CEREBRAS_PERFORMANCE_KEYS].sort());
    expect(perf.total_samples).toBe(200 * 64);
    expect(perf.samples_per_sec).toBeCloseTo(perf.total_samples / perf.total_time, 6);
    expect(perf.est_samples_per_sec).toBeGreaterThan(0);
    const all = csrun('run', 'examples/mnist', '--mode', 'eval_all', '-p', 'examples/mnist/configs/params.yaml', '-o', out);
    expect(all.status).toBe(0);
    expect(fs.existsSync(path.join(out, 'eval', 'results-200.json'))).toBe(true);
  }, 900_000);

  it('eval_all over 3 checkpoints: 3 results files, a summary table, and 3 eval events at their steps', () => {
    const out = tmp();
    const tiny = path.join(ROOT, 'test/fixtures/estimator-tiny');
    expect(csrun('train', tiny, '--model_dir', out, '--max_steps', '30', '--compute_workers', '1').status).toBe(0);
    const r = csrun('run', tiny, '--mode', 'eval_all', '-o', out, '--compute_workers', '1');
    expect(r.status).toBe(0);
    for (const step of [10, 20, 30]) expect(JSON.parse(fs.readFileSync(path.join(out, 'eval', `results-${step}.json`), 'utf8')).global_step).toBe(step);
    expect(fs.readFileSync(path.join(out, 'eval', 'eval_all.txt'), 'utf8').trim().split('\n')).toHaveLength(3 + 2);
    const ev = fs.readdirSync(path.join(out, 'eval')).filter((f) => f.startsWith('events.out.tfevents'));
    const steps = ev.flatMap((f) => readScalars(fs.readFileSync(path.join(out, 'eval', f))).scalars.filter(([, tag]) => tag === 'loss').map(([s]) => s));
    expect(steps.sort((a, b) => a - b)).toEqual([10, 20, 30]);
  }, 300_000);
});
