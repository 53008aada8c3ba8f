/**
 * Warm start (host/warm-start.ts): from a trained run of the MNIST-like fixture test/fixtures/estimator-tiny
 * (conv → batch norm → dense head), with the dense head excluded by regex, the conv weights equal the
 * source checkpoint's at step 0 and the head equals a fresh initialisation; shape mismatches, bad regexes
 * and a model_dir that already has a checkpoint; the CLI flag.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadMachine } from '../../compiler/machine.ts';
import { makeEstimator } from '../../host/commands/estimator.ts';
import { Estimator } from '../../host/estimator.ts';
import type { SessionRunHook } from '../../host/hooks/session.ts';
import { loadModelDir, type ParamOverrides } from '../../host/model-dir.ts';
import { selectWarmStartVars } from '../../host/warm-start.ts';
import { latestCheckpoint, readCheckpoint, saveCheckpoint } from '../../runtime/checkpoint.ts';
import { UserError } from '../../runtime/errors.ts';

const FIXTURE = path.resolve(__dirname, '../fixtures/estimator-tiny');
const machine = loadMachine('wse2');
const tmp = (tag: string) => fs.mkdtempSync(path.join(os.tmpdir(), `csrun-ws-${tag}-`));

/** Trains `steps` steps into a fresh model_dir; returns the step-0 parameters (after any warm start), the log and the dir. */
async function run(runconfig: ParamOverrides['runconfig'], opts: { warmStartFrom?: string; dir?: string; steps?: number } = {}) {
  const dir = opts.dir ?? tmp('run');
  const md = await loadModelDir(FIXTURE, { overrides: { runconfig: { model_dir: dir, ...runconfig } } });
  const lines: string[] = [];
  const est = new Estimator(md, { machine, log: (l) => void lines.push(l), progress: false, ...(opts.warmStartFrom ? { warmStartFrom: opts.warmStartFrom } : {}) });
  const atStart: Record<string, Float32Array> = {};
  const capture: SessionRunHook = {
    afterCreateSession: async (s) => {
      for (const a of (await s.wafer.getState()).params) atStart[a.name] = a.data;
    },
  };
  await est.train({ steps: opts.steps ?? 1, hooks: [capture] });
  return { dir, atStart, lines };
}

describe('warm start', () => {
  let source: string;
  let fresh: Record<string, Float32Array>;
  beforeAll(async () => {
    source = (await run({ seed: 11 }, { steps: 3 })).dir;
    fresh = (await run({})).atStart; // the target's initialisation without warm start (seed 3 of params.yaml)
  });

  it('takes the conv and batch-norm weights from the source checkpoint and leaves the dense head fresh', async () => {
    const src = readCheckpoint(latestCheckpoint(source)!);
    expect(src.globalStep).toBe(3);
    const { atStart, lines, dir } = await run({ warm_start_from: source, vars_to_warm_start: '^(?!dense/)' });
    for (const n of ['conv2d/kernel', 'conv2d/bias', 'batch_normalization/gamma', 'batch_normalization/beta']) {
      expect(Array.from(atStart[n]), n).toEqual(Array.from(src.tensors[n].data as Float32Array));
      expect(Array.from(atStart[n]), n).not.toEqual(Array.from(fresh[n]));
    }
    // One regex selects trainable variables only: the moving statistics stay fresh, like the head.
    for (const n of ['dense/kernel', 'dense/bias', 'batch_normalization/moving_mean', 'batch_normalization/moving_variance']) {
      expect(Array.from(atStart[n]), n).toEqual(Array.from(fresh[n]));
    }
    expect(Array.from(atStart['dense/kernel'])).not.toEqual(Array.from(src.tensors['dense/kernel'].data as Float32Array));
    expect(lines).toContain(`Warm-started 4 variable(s) from ${path.join(source, 'model.ckpt-3.safetensors')}; parameters freshly initialised: batch_normalization/moving_mean, batch_normalization/moving_variance, dense/kernel, dense/bias`);
    // model_dir now has a checkpoint: the next run resumes from it and ignores the settings.
    const again = await run({ warm_start_from: source, vars_to_warm_start: '^(?!dense/)' }, { dir });
    expect(again.lines).toContain('Warm start skipped: resuming from model.ckpt-1.safetensors in model_dir (runconfig.warm_start_from applies only to a run without a checkpoint)');
    const own = readCheckpoint(path.join(dir, 'model.ckpt-1.safetensors'));
    expect(Array.from(again.atStart['dense/kernel'])).toEqual(Array.from(own.tensors['dense/kernel'].data as Float32Array));
  });

  it('a list of regexes reaches every variable, optimizer slots included; the Estimator option takes a checkpoint file', async () => {
    const file = latestCheckpoint(source)!;
    const { lines } = await run({ vars_to_warm_start: ['conv2d/', 'batch_normalization/moving_'] }, { warmStartFrom: file });
    // the option gives the file but not vars_to_warm_start: the default '.*' (every trainable parameter)
    expect(lines.find((l) => l.startsWith('Warm-started'))).toBe(`Warm-started 6 variable(s) from ${file}; parameters freshly initialised: batch_normalization/moving_mean, batch_normalization/moving_variance`);
    const { lines: l2 } = await run({ warm_start_from: file, vars_to_warm_start: ['conv2d/', 'batch_normalization/moving_'] });
    // conv2d kernel and bias, their Adam slots (m and v each), the two moving statistics
    expect(l2.find((l) => l.startsWith('Warm-started'))).toMatch(/^Warm-started 8 variable\(s\) from .*; parameters freshly initialised: batch_normalization\/gamma, batch_normalization\/beta, dense\/kernel, dense\/bias$/);
  });

  it('a shape mismatch names the variable and both shapes; a missing variable, a bad path and a bad regex are UserErrors', async () => {
    const src = readCheckpoint(latestCheckpoint(source)!);
    const other = tmp('other');
    const tensors = { ...src.tensors, 'dense/kernel': { dtype: 'F32' as const, shape: [36, 10], data: new Float32Array(360) } };
    delete (tensors as Record<string, unknown>)['dense/bias'];
    saveCheckpoint(other, { ...src, tensors }, 0);
    const err = await run({ warm_start_from: other }).catch((e) => e);
    expect(err).toBeInstanceOf(UserError);
    expect(err.message).toBe(`runconfig.warm_start_from: variable 'dense/kernel' has shape [36,4] in the model but [36,10] in ${path.join(other, 'model.ckpt-3.safetensors')}; exclude it from vars_to_warm_start`);
    await expect(run({ warm_start_from: other, vars_to_warm_start: 'dense/bias' })).rejects.toThrow(/variable 'dense\/bias' is selected by vars_to_warm_start \("dense\/bias"\) but .* has no tensor of that name/);
    await expect(run({ warm_start_from: path.join(other, 'nope') })).rejects.toThrow(/^runconfig\.warm_start_from: .*nope does not exist/);
    await expect(run({ warm_start_from: tmp('empty') })).rejects.toThrow(/has no checkpoint index/);
    await expect(run({ warm_start_from: other, vars_to_warm_start: 'conv2d/(' })).rejects.toThrow(/vars_to_warm_start regex 'conv2d\/\(' is invalid/);
    await expect(loadModelDir(FIXTURE, { overrides: { runconfig: { vars_to_warm_start: 3 } } })).rejects.toThrow(/runconfig\.vars_to_warm_start/);
  });

  it('--warm-start-from resolves against the working directory and lands in the effective params', async () => {
    const est = await makeEstimator(FIXTURE, { modelDir: tmp('cli'), warmStartFrom: 'runs/source' });
    expect(est.md.params.runconfig.warm_start_from).toBe(path.resolve('runs/source'));
  });

  it('selects as Python re.match: from the start of the name, a string among trainable variables, a list among all', () => {
    const params = [
      { name: 'conv2d/kernel', trainable: true },
      { name: 'conv2d_1/kernel', trainable: true },
      { name: 'bn/moving_mean', trainable: false },
      { name: 'dense/kernel', trainable: true },
    ];
    const slots = ['conv2d/kernel/m', 'dense/kernel/m'];
    expect(selectWarmStartVars('.*', params, slots)).toEqual(['conv2d/kernel', 'conv2d_1/kernel', 'dense/kernel']);
    expect(selectWarmStartVars('conv2d', params, slots)).toEqual(['conv2d/kernel', 'conv2d_1/kernel']);
    expect(selectWarmStartVars('kernel', params, slots)).toEqual([]);
    expect(selectWarmStartVars('^(?!dense)', params, slots)).toEqual(['conv2d/kernel', 'conv2d_1/kernel']);
    expect(selectWarmStartVars(['bn/', 'conv2d/'], params, slots)).toEqual(['conv2d/kernel', 'bn/moving_mean', 'conv2d/kernel/m']);
  });
});
