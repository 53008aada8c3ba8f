/**
 * No silent bad training: a NaN or ±Inf in an input batch stops training with one error naming the
 * feature, batch, element and input function; non-finite weights are never checkpointed, so that rotation
 * keeps the last good checkpoints.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadMachine } from '../../compiler/machine.ts';
import { Estimator } from '../../host/estimator.ts';
import { checkBatchNumerics } from '../../host/input/common.ts';
import { CheckpointSaverHook } from '../../host/hooks/checkpoint.ts';
import type { Session } from '../../host/hooks/session.ts';
import { loadModelDir } from '../../host/model-dir.ts';
import { latestCheckpoint, readIndex } from '../../runtime/checkpoint.ts';
import { UserError } from '../../runtime/errors.ts';

const FIXTURE = path.resolve(__dirname, '../fixtures/estimator-tiny');
const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'csrun-numerics-'));

describe('checkBatchNumerics', () => {
  const batch = (v: number) => {
    const image = new Float32Array(2 * 3 * 3 * 1).fill(0.5);
    image[13] = v;
    return { features: { image: { data: image, shape: [2, 3, 3, 1], dtype: 'float32' as const } }, labels: { data: Int32Array.of(0, 1), shape: [2], dtype: 'int32' as const } };
  };

  it('names the feature, the element (flat and [i, j, …]) and the value', () => {
    for (const [v, s] of [[NaN, 'NaN'], [Infinity, 'Infinity'], [-Infinity, '-Infinity']] as const) {
      expect(() => checkBatchNumerics(batch(v), 'input worker 0/1 (data.ts), batch 37')).toThrow(
        new UserError(`input worker 0/1 (data.ts), batch 37: features.image[1, 1, 1, 0] (element 13) is ${s}: non-finite input trains to NaN weights; fix the data or inputFn (runconfig.check_numerics: off skips this check)`),
      );
    }
  });

  it('passes finite batches, including extreme finite values', () => {
    expect(() => checkBatchNumerics(batch(3.4e38), 'x')).not.toThrow();
    expect(() => checkBatchNumerics(batch(-1e-45), 'x')).not.toThrow();
  });
});

/** A copy of estimator-tiny whose inputFn runs `edit` (on batch `b`) for training batch `at`. */
function poisonedModelDir(edit: string, at: number): string {
  const base = tmp();
  fs.mkdirSync(path.join(base, 'node_modules'));
  fs.symlinkSync(path.resolve(__dirname, '../..'), path.join(base, 'node_modules', 'csrun'), 'dir');
  const dir = path.join(base, 'model');
  fs.cpSync(FIXTURE, dir, { recursive: true, filter: (f) => !f.includes('model_dir') });
  const data = path.join(dir, 'data.ts');
  fs.writeFileSync(
    data,
    fs.readFileSync(data, 'utf8').replace('export const inputFn', 'let seen = 0;\nexport const inputFn').replace(
      '    .map((b) => ({',
      `    .map((b) => {\n      if (train && seen++ === ${at}) ${edit};\n      return b;\n    })\n    .map((b) => ({`,
    ),
  );
  return dir;
}

describe('training on bad input', () => {
  it('a NaN pixel at batch 15 fails naming the feature and batch; a good checkpoint stays the latest', async () => {
    const dir = poisonedModelDir('b.image.data[5] = NaN', 15);
    const out = path.join(path.dirname(dir), 'out');
    const md = await loadModelDir(dir, { overrides: { runconfig: { model_dir: out, save_checkpoints_steps: 5, keep_checkpoint_max: 1, max_steps: 20 } } });
    // A temp file of a writer killed before its rename (pid 2^22 + 1 is above Linux's pid_max: never alive).
    fs.mkdirSync(out);
    fs.writeFileSync(path.join(out, `.model.ckpt-3.safetensors.tmp-${2 ** 22 + 1}-0`), 'partial');
    const est = new Estimator(md, { machine: loadMachine('wse2'), log: () => {}, progress: false, inputWorkers: 1 });
    await expect(est.train()).rejects.toThrow(/input worker 0\/1 \(.*data\.ts\), batch 15: features\.image\[0, 0, 5, 0\] \(element 5\) is NaN: .*inputFn/);
    // Input workers read ahead, so the error may come a few steps before batch 15 is due: at step 5 or 10.
    expect(fs.readdirSync(out).filter((f) => f.includes('.tmp-'))).toEqual([]);
    expect(path.basename(latestCheckpoint(out) ?? 'none')).toMatch(/^model\.ckpt-(5|10)\.safetensors$/);
  });
});

describe('labels out of range', () => {
  it('a label ≥ classes is one UserError naming the loss and the label', async () => {
    const dir = poisonedModelDir('b.label.data[3] = 7', 2);
    const md = await loadModelDir(dir, { overrides: { runconfig: { model_dir: path.join(path.dirname(dir), 'out'), max_steps: 5, compute_workers: 1 } } });
    const est = new Estimator(md, { machine: loadMachine('wse2'), log: () => {}, progress: false, inputWorkers: 1 });
    const e = await est.train().then(() => undefined, (x: unknown) => x);
    expect(e).toBeInstanceOf(UserError);
    expect((e as Error).message).toMatch(/^loss '.*' \(sparseSoftmaxCrossEntropy\): label 7 at position 3 of the batch is outside \[0, 4\)/);
  });
});

describe('CheckpointSaverHook never writes non-finite weights', () => {
  it('a diverged state is refused; rotation keeps the last good checkpoint', async () => {
    const out = tmp();
    const w = new Float32Array([1, 2, 3]);
    const session = {
      out: { root: out },
      startStep: 0,
      globalStep: 0,
      log: () => {},
      wafer: { getState: async () => ({ params: [{ name: 'dense/kernel', shape: [3], data: w.slice() }], slots: [] }), graph: { seed: 1 } },
    } as unknown as Session;
    const hook = new CheckpointSaverHook({ saveSteps: 5, keepMax: 1 });
    const ctx = { session, requestStop: () => {} } as never;
    await hook.afterRun(ctx, { step: 5, loss: 1, samples: 1, simulatedCycles: 0 });
    w[1] = NaN;
    await expect(hook.afterRun(ctx, { step: 10, loss: 1, samples: 1, simulatedCycles: 0 })).rejects.toThrow(
      /^parameter 'dense\/kernel' element 1 is NaN at step 10: training diverged and no checkpoint was written; the latest checkpoint model\.ckpt-5\.safetensors is from before/,
    );
    expect(readIndex(out)?.all_model_checkpoint_paths).toEqual(['model.ckpt-5.safetensors']);
    expect(fs.readdirSync(out).filter((f) => f.endsWith('.safetensors'))).toEqual(['model.ckpt-5.safetensors']);
  });
});
