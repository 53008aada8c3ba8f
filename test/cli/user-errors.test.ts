/**
 * Bad input through the real CLI (node bin/csrun.js): one clear line on stderr naming the file, layer or
 * key; exit code 1; no stack trace unless --verbose. The model directories live outside the repository
 * with csrun linked into their node_modules, as `npm link csrun` would do for a user.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(__dirname, '../..');
const FIXTURE = path.join(ROOT, 'test/fixtures/estimator-tiny');

/** A copy of the tiny model dir in a fresh temp dir, with csrun linked, and `edits` applied. */
function modelDir(edits: Record<string, string | null> = {}): string {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'csrun-cli-'));
  fs.mkdirSync(path.join(base, 'node_modules'));
  fs.symlinkSync(ROOT, path.join(base, 'node_modules', 'csrun'), 'dir');
  const dir = path.join(base, 'model');
  fs.cpSync(FIXTURE, dir, { recursive: true, filter: (f) => !f.includes('model_dir') });
  for (const [f, text] of Object.entries(edits)) {
    if (text === null) fs.rmSync(path.join(dir, f));
    else fs.writeFileSync(path.join(dir, f), text);
  }
  return dir;
}

function csrun(...args: string[]) {
  const r = spawnSync(process.execPath, [path.join(ROOT, 'bin/csrun.js'), ...args], { encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function expectOneLineError(r: ReturnType<typeof csrun>, pattern: RegExp) {
  expect(r.code).toBe(1);
  const lines = r.stderr.trim().split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(/^csrun: error: /);
  expect(lines[0]).toMatch(pattern);
  expect(r.stderr).not.toMatch(/^\s+at /m);
}

const modelWith = (body: string) =>
  `import { layers, losses, optimizers, type ModelFn } from 'csrun';\nexport const modelFn: ModelFn = (features, labels, mode, params) => {\n${body}\n};\n`;

describe('csrun reports bad input in one line', () => {
  it('works from a model directory outside the repository (csrun linked)', () => {
    const dir = modelDir();
    const r = csrun('compile', dir, '--validate-only');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Total params: 204');
  });

  it('a shape mismatch names the file, the layer and both shapes', () => {
    const dir = modelDir({
      'model.ts': modelWith(`  const x = layers.flatten().apply(features.image);\n  const y = layers.conv2d({ filters: 2, kernelSize: 3 }).apply(x);\n  const loss = losses.sparseSoftmaxCrossEntropy(labels!, y);\n  return { mode, loss, trainOp: optimizers.sgd({ learningRate: 0.1 }).minimize(loss) };`),
    });
    expectOneLineError(csrun('compile', dir, '--validate-only'), /model\.ts: layer 'conv2d' \(Conv2D\): expected input of rank 4 \[batch, h, w, c\], got shape \(None, 64\)/);
  });

  it('an unknown activation names the layer and suggests the right one', () => {
    const dir = modelDir({ 'model.ts': modelWith(`  const y = layers.dense({ units: 4, activation: 'sigmod' }).apply(layers.flatten().apply(features.image));\n  return { mode, predictions: y };`) });
    expectOneLineError(csrun('compile', dir, '--validate-only'), /model\.ts: layer 'dense' \(Dense\): unknown activation 'sigmod' \(did you mean 'sigmoid'\?\)/);
  });

  it('a misspelled params key names the file and the key path', () => {
    const dir = modelDir();
    const p = path.join(dir, 'configs/params.yaml');
    fs.writeFileSync(p, fs.readFileSync(p, 'utf8').replace('save_summary_steps', 'save_sumary_steps'));
    expectOneLineError(csrun('train', dir), new RegExp(`${p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: unknown key 'runconfig.save_sumary_steps' \\(did you mean 'runconfig.save_summary_steps'\\?\\)`));
  });

  it('a missing params file', () => {
    const dir = modelDir({ 'configs/params.yaml': null });
    expectOneLineError(csrun('compile', dir), /configs\/params\.yaml: cannot read params file \(ENOENT\)/);
  });

  it('a modelFn returning no loss in TRAIN', () => {
    const dir = modelDir({ 'model.ts': modelWith(`  return { mode, predictions: layers.flatten().apply(features.image) };`) });
    expectOneLineError(csrun('train', dir), /model\.ts: modelFn returned an EstimatorSpec without 'loss' in mode 'train' \(TRAIN needs loss and trainOp\)/);
  });

  it('a model module without a modelFn export, and --verbose adds the stack', () => {
    const dir = modelDir({ 'model.ts': `export const model_fn = () => ({});\n` });
    expectOneLineError(csrun('compile', dir, '--validate-only'), /model\.ts: exports no 'modelFn' function \(nor an ElasticDL 'model'\); it exports model_fn/);
    const v = csrun('compile', dir, '--validate-only', '--verbose');
    expect(v.code).toBe(1);
    expect(v.stderr).toMatch(/^\s+at /m);
  });

  it('an error thrown inside modelFn names the file and its line', () => {
    const dir = modelDir({ 'model.ts': modelWith(`  throw new RangeError('boom');`) });
    expectOneLineError(csrun('compile', dir, '--validate-only'), /model\.ts: modelFn threw RangeError: boom \(at .*model\.ts:3:\d+\)/);
  });

  it('a missing model directory and an unknown command', () => {
    expectOneLineError(csrun('train', '/nonexistent/dir'), /model directory '\/nonexistent\/dir' does not exist/);
    const r = csrun('trian', 'x');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/unknown command 'trian'/);
  });
});

describe('filesystem faults are one line naming the path', () => {
  it('model_dir is a file: train fails and the file is untouched', () => {
    const dir = modelDir();
    const file = path.join(path.dirname(dir), 'not-a-dir');
    fs.writeFileSync(file, 'keep me');
    expectOneLineError(csrun('train', dir, '--model-dir', file), new RegExp(`'${file}'.*is a file, not a directory`));
    expect(fs.readFileSync(file, 'utf8')).toBe('keep me');
  });

  it.runIf(process.platform === 'linux')('--model-dir /proc/x fails at once instead of hanging', () => {
    expectOneLineError(csrun('train', modelDir(), '--model-dir', '/proc/csrun-x'), /^csrun: error: creating .*'\/proc\/csrun-x' cannot be created in '\/proc'/);
  });

  it('--emit-kgraph and --dump-ir under a file, place --out under /proc', () => {
    const dir = modelDir();
    const file = path.join(path.dirname(dir), 'f');
    fs.writeFileSync(file, '');
    expectOneLineError(csrun('compile', dir, '--validate-only', '--emit-kgraph', path.join(file, 'm.kgraph')), /^csrun: error: creating --emit-kgraph directory '.*\/f': it is a file, not a directory/);
    expectOneLineError(csrun('compile', dir, '--validate-only', '--dump-ir', path.join(file, 'ir')), /'.*\/f' is a file, not a directory/);
    const kgraph = path.join(ROOT, 'test/fixtures/compiler-resnet50.kgraph');
    expectOneLineError(csrun('place', kgraph, '--time-limit', '0.1', '--out', '/proc/csrun-x/a.paint'), /^csrun: error: creating --out directory '\/proc\/csrun-x'/);
  });
});

describe('csrun train and Ctrl-C', () => {
  it('SIGINT saves a checkpoint at the current step and exits 130', async () => {
    const dir = modelDir();
    const out = path.join(path.dirname(dir), 'out');
    const { spawn } = await import('node:child_process');
    const p = spawn(process.execPath, [path.join(ROOT, 'bin/csrun.js'), 'train', dir, '--max-steps', '100000', '--model-dir', out], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    p.stdout.on('data', (d) => (stdout += d));
    await new Promise<void>((resolve) => p.stdout.on('data', () => /Training from step/.test(stdout) && resolve()));
    await new Promise((r) => setTimeout(r, 1500));
    p.kill('SIGINT');
    const code = await new Promise<number | null>((r) => p.on('close', r));
    expect(code).toBe(130);
    const m = /Interrupted at step (\d+): saved checkpoint (.*model\.ckpt-(\d+)\.safetensors)/.exec(stdout);
    expect(m).not.toBeNull();
    expect(Number(m![1])).toBeGreaterThan(0);
    expect(m![1]).toBe(m![3]);
    const index = JSON.parse(fs.readFileSync(path.join(out, 'checkpoint'), 'utf8'));
    expect(index.model_checkpoint_path).toBe(`model.ckpt-${m![1]}.safetensors`);
  });
});
