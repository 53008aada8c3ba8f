/**
 * A full disk during a checkpoint, simulated with the fault injector of runtime/fs.ts (`CSRUN_FS_FAULT`,
 * ENOSPC after half of the file's bytes): `csrun train` fails with one line naming the path and the free
 * space, exit 1, and the previous checkpoint and the index are byte-for-byte intact, with no temp file left.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { readIndex, saveCheckpoint } from '../../runtime/checkpoint.ts';
import { UserError } from '../../runtime/errors.ts';
import { csrunSync, filesUnder, tinyModelDir } from '../helpers/cli-model-dir.ts';

const snapshot = (dir: string) => Object.fromEntries(['checkpoint', 'model.ckpt-10.safetensors'].map((f) => [f, fs.readFileSync(path.join(dir, f)).toString('hex')]));

describe('full disk during a checkpoint', () => {
  afterEach(() => {
    delete process.env.CSRUN_FS_FAULT;
  });

  it('saveCheckpoint: the error names the file and the free space; the old checkpoint and index stay', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'csrun-enospc-'));
    const ck = (step: number) => ({ globalStep: step, tensors: { w: { dtype: 'F32' as const, shape: [1000], data: new Float32Array(1000).fill(step) } } });
    saveCheckpoint(dir, ck(10), 0);
    const before = snapshot(dir);
    process.env.CSRUN_FS_FAULT = 'enospc:model.ckpt-20';
    let err: unknown;
    try {
      saveCheckpoint(dir, ck(20), 0);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(UserError);
    expect((err as Error).message).toMatch(new RegExp(`^writing checkpoint '${dir}/model\\.ckpt-20\\.safetensors': no space left on the device \\([\\d.]+ MB free\\)`));
    expect(snapshot(dir)).toEqual(before);
    expect(fs.readdirSync(dir).sort()).toEqual(['checkpoint', 'model.ckpt-10.safetensors']);
  });

  it('csrun train: one line with the path and free space, exit 1; the previous checkpoint and index intact', () => {
    const { dir, out } = tinyModelDir();
    expect(csrunSync(['train', dir, '--max-steps', '10', '--model-dir', out]).code).toBe(0);
    const before = snapshot(out);

    const r = csrunSync(['train', dir, '--max-steps', '30', '--model-dir', out], { CSRUN_FS_FAULT: 'enospc:model.ckpt-20' });
    expect(r.code).toBe(1);
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(new RegExp(`^csrun: error: writing checkpoint '${out}/model\\.ckpt-20\\.safetensors': no space left on the device \\([\\d.]+ MB free\\); free some space or choose another directory`));
    expect(snapshot(out)).toEqual(before);
    expect(fs.existsSync(path.join(out, 'model.ckpt-20.safetensors'))).toBe(false);
    expect(filesUnder(out).filter((f) => /\.tmp-|csrun\.lock/.test(f))).toEqual([]);

    // The disk fills while the index is replaced: the new checkpoint is complete but unlisted, the index is
    // the old one; the next run adopts the checkpoint.
    const r2 = csrunSync(['train', dir, '--max-steps', '30', '--model-dir', out], { CSRUN_FS_FAULT: 'enospc:checkpoint' });
    expect(r2.code).toBe(1);
    expect(r2.stderr.trim().split('\n')).toHaveLength(1);
    expect(r2.stderr).toMatch(new RegExp(`^csrun: error: writing checkpoint index '${out}/checkpoint': no space left on the device \\([\\d.]+ MB free\\)`));
    expect(snapshot(out)).toEqual(before);
    expect(filesUnder(out).filter((f) => /\.tmp-|csrun\.lock/.test(f))).toEqual([]);
    const r3 = csrunSync(['train', dir, '--max-steps', '30', '--model-dir', out]);
    expect(r3.code, r3.stderr).toBe(0);
    expect(r3.stdout).toContain('Adopted checkpoint model.ckpt-20.safetensors');
    expect(readIndex(out)?.model_checkpoint_path).toBe('model.ckpt-30.safetensors');
  });
});
