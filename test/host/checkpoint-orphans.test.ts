/**
 * Checkpoint files outside the index (host/checkpoint-orphans.ts): at the start of `train`, a complete
 * checkpoint newer than the index's latest is adopted (and resumed from), older or unreadable ones are
 * removed and listed with --verbose; the best checkpoint and --checkpoint-path are kept.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { settleOrphanCheckpoints } from '../../host/checkpoint-orphans.ts';
import { ModelDirLayout } from '../../host/model-dir.ts';
import { encodeCheckpoint, readIndex, saveCheckpoint, type Checkpoint } from '../../runtime/checkpoint.ts';
import { csrunSync, latestWeights, tinyModelDir } from '../helpers/cli-model-dir.ts';

const ckpt = (step: number): Checkpoint => ({ globalStep: step, tensors: { w: { dtype: 'F32', shape: [2], data: Float32Array.of(step, -step) } } });

describe('settleOrphanCheckpoints', () => {
  it('adopts complete checkpoints newer than the latest (in step order), removes older and unreadable ones, keeps `keep`', () => {
    const out = new ModelDirLayout(fs.mkdtempSync(path.join(os.tmpdir(), 'csrun-orphans-')));
    saveCheckpoint(out.root, ckpt(10), 0);
    saveCheckpoint(out.root, ckpt(20), 0);
    const put = (step: number, bytes = encodeCheckpoint(ckpt(step))) => fs.writeFileSync(path.join(out.root, `model.ckpt-${step}.safetensors`), bytes);
    put(5); // rotation leftover
    put(7); // older, but kept (e.g. the best checkpoint)
    put(40);
    put(30);
    put(50, encodeCheckpoint(ckpt(50)).subarray(0, 100)); // truncated
    put(60, encodeCheckpoint(ckpt(61))); // its content is another step
    fs.writeFileSync(path.join(out.root, 'model.ckpt-x.safetensors'), 'not ours'); // not a csrun name
    const lines: string[] = [];
    const r = settleOrphanCheckpoints(out, { keep: ['model.ckpt-7.safetensors'], log: (l) => lines.push(l), verbose: true });
    expect(r.adopted).toEqual(['model.ckpt-30.safetensors', 'model.ckpt-40.safetensors']);
    expect(r.removed.map((x) => x.name)).toEqual(['model.ckpt-5.safetensors', 'model.ckpt-50.safetensors', 'model.ckpt-60.safetensors']);
    expect(r.removed[0].why).toBe("older than the index's latest checkpoint (step 20)");
    expect(r.removed[1].why).toMatch(/^unreadable: .*model\.ckpt-50\.safetensors: corrupted or truncated checkpoint/);
    expect(r.removed[2].why).toBe('it holds global step 61, not 60');
    expect(readIndex(out.root)).toEqual({
      model_checkpoint_path: 'model.ckpt-40.safetensors',
      all_model_checkpoint_paths: ['model.ckpt-10.safetensors', 'model.ckpt-20.safetensors', 'model.ckpt-30.safetensors', 'model.ckpt-40.safetensors'],
    });
    expect(fs.readdirSync(out.root).sort()).toEqual(['checkpoint', 'model.ckpt-10.safetensors', 'model.ckpt-20.safetensors', 'model.ckpt-30.safetensors', 'model.ckpt-40.safetensors', 'model.ckpt-7.safetensors', 'model.ckpt-x.safetensors']);
    expect(lines.filter((l) => l.startsWith('Adopted'))).toHaveLength(2);
    expect(lines).toContain(`Removed 3 checkpoint file(s) outside the index ${out.checkpointIndex} (left by a stopped run):`);
    expect(lines).toContain("  model.ckpt-5.safetensors: older than the index's latest checkpoint (step 20)");
    // Settled: a second pass does nothing.
    expect(settleOrphanCheckpoints(out, { keep: ['model.ckpt-7.safetensors'], log: () => {} })).toEqual({ adopted: [], removed: [] });
  });

  it('with no index, adopts every complete checkpoint file', () => {
    const out = new ModelDirLayout(fs.mkdtempSync(path.join(os.tmpdir(), 'csrun-orphans-')));
    fs.writeFileSync(path.join(out.root, 'model.ckpt-10.safetensors'), encodeCheckpoint(ckpt(10)));
    expect(settleOrphanCheckpoints(out, { log: () => {} }).adopted).toEqual(['model.ckpt-10.safetensors']);
    expect(readIndex(out.root)?.model_checkpoint_path).toBe('model.ckpt-10.safetensors');
  });
});

describe('csrun train settles checkpoints outside the index', () => {
  it('resumes from an adopted checkpoint, lists removed ones with --verbose, and leaves only indexed checkpoint files', () => {
    const { dir, out } = tinyModelDir();
    expect(csrunSync(['train', dir, '--max-steps', '20', '--model-dir', out]).code).toBe(0);
    // A run killed after writing model.ckpt-30 and before the index named it, and a rotation leftover.
    const idx = readIndex(out)!;
    fs.rmSync(path.join(out, 'checkpoint'));
    expect(csrunSync(['train', dir, '--max-steps', '30', '--model-dir', out]).code).toBe(0);
    fs.writeFileSync(path.join(out, 'checkpoint'), JSON.stringify(idx));
    fs.copyFileSync(path.join(out, 'model.ckpt-10.safetensors'), path.join(out, 'model.ckpt-3.safetensors'));
    const quiet = csrunSync(['train', dir, '--max-steps', '30', '--model-dir', out]);
    expect(quiet.code, quiet.stderr).toBe(0);
    expect(quiet.stdout).toContain(`Adopted checkpoint model.ckpt-30.safetensors into the index ${path.join(out, 'checkpoint')}`);
    expect(quiet.stdout).toContain(`Removed 1 checkpoint file(s) outside the index ${path.join(out, 'checkpoint')} (left by a stopped run); --verbose lists them`);
    expect(quiet.stdout).toMatch(/Skipping training: global step 30 already reached max_steps 30/);

    fs.copyFileSync(path.join(out, 'model.ckpt-10.safetensors'), path.join(out, 'model.ckpt-4.safetensors'));
    const verbose = csrunSync(['train', dir, '--max-steps', '40', '--model-dir', out, '--verbose']);
    expect(verbose.code, verbose.stderr).toBe(0);
    expect(verbose.stdout).toContain("\n  model.ckpt-4.safetensors: older than the index's latest checkpoint (step 30)\n");
    expect(verbose.stdout).toContain(`Restored ${path.join(out, 'model.ckpt-30.safetensors')} (global step 30)`);
    expect(latestWeights(out).step).toBe(40);
    const files = fs.readdirSync(out).filter((n) => n.endsWith('.safetensors')).sort();
    expect(files).toEqual([...readIndex(out)!.all_model_checkpoint_paths].sort());
  });
});
