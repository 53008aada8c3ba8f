/**
 * Helpers for tests that run the real CLI (node bin/csrun.js) on a copy of test/fixtures/estimator-tiny
 * outside the repository, with csrun linked into its node_modules as `npm link csrun` would do.
 */
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { readCheckpoint, readIndex } from '../../runtime/checkpoint.ts';

export const ROOT = path.resolve(import.meta.dirname, '../..');
export const CSRUN = path.join(ROOT, 'bin/csrun.js');

/**
 * A fresh copy of the tiny model directory; `params` replaces lines of its params.yaml (`key: value` under
 * their section, matched by the key's name).
 * @returns the model directory and a model_dir path beside it (not created).
 */
export function tinyModelDir(params: Record<string, string | number> = {}): { dir: string; out: string } {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'csrun-cli-'));
  fs.mkdirSync(path.join(base, 'node_modules'));
  fs.symlinkSync(ROOT, path.join(base, 'node_modules', 'csrun'), 'dir');
  const dir = path.join(base, 'model');
  fs.cpSync(path.join(ROOT, 'test/fixtures/estimator-tiny'), dir, { recursive: true, filter: (f) => !f.includes('model_dir') });
  const file = path.join(dir, 'configs/params.yaml');
  let yaml = fs.readFileSync(file, 'utf8');
  for (const [k, v] of Object.entries(params)) {
    const re = new RegExp(`^(\\s+${k}:).*$`, 'm');
    if (!re.test(yaml)) throw new Error(`params.yaml of estimator-tiny has no key ${k}`);
    yaml = yaml.replace(re, `$1 ${v}`);
  }
  fs.writeFileSync(file, yaml);
  return { dir, out: path.join(base, 'out') };
}

/** Runs csrun to completion. */
export function csrunSync(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [CSRUN, ...args], { encoding: 'utf8', timeout: 120_000, env: { ...process.env, ...env } });
  return { code: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

/** Starts csrun; `output()` is what it has printed so far (stdout + stderr). */
export function csrunAsync(args: string[], env: Record<string, string> = {}): { p: ChildProcessWithoutNullStreams; output: () => string; closed: Promise<{ code: number | null; signal: NodeJS.Signals | null }> } {
  const p = spawn(process.execPath, [CSRUN, ...args], { stdio: 'pipe', env: { ...process.env, ...env } });
  let out = '';
  p.stdout.on('data', (d) => (out += d));
  p.stderr.on('data', (d) => (out += d));
  const closed = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => p.on('close', (code, signal) => r({ code, signal })));
  return { p, output: () => out, closed };
}

/** Resolves when `test(output())` holds (checked on every chunk); rejects if the process ends first. */
export function waitForOutput(run: ReturnType<typeof csrunAsync>, test: RegExp): Promise<void> {
  return new Promise((resolve, reject) => {
    const check = () => test.test(run.output()) && resolve();
    run.p.stdout.on('data', check);
    run.p.stderr.on('data', check);
    run.p.on('close', () => reject(new Error(`csrun ended before ${test}:\n${run.output()}`)));
    check();
  });
}

/** The tensors of the latest checkpoint of a model_dir as name → bytes (hex of the raw data), and its step. */
export function latestWeights(out: string): { step: number; tensors: Record<string, string> } {
  const idx = readIndex(out);
  if (!idx) throw new Error(`no checkpoint index in ${out}`);
  const ck = readCheckpoint(path.join(out, idx.model_checkpoint_path));
  const tensors: Record<string, string> = {};
  for (const [k, t] of Object.entries(ck.tensors)) tensors[k] = Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength).toString('hex');
  return { step: ck.globalStep, tensors };
}

/** Every file under `dir` (relative paths), recursively. */
export function filesUnder(dir: string): string[] {
  return (fs.readdirSync(dir, { recursive: true, withFileTypes: true }) as fs.Dirent[]).filter((e) => e.isFile()).map((e) => path.relative(dir, path.join(e.parentPath, e.name)));
}
