/**
 * examples/unet trains end to end (compile, support server, compute workers, simulated wafer): 200 steps of the
 * default small UNet on the MNIST segmentation data reach a test Dice above 0.8 on 200 test images (the full
 * 600-step run of README.md reaches ≥ 0.85), and predict writes the PNG masks.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadMachine } from '../../compiler/machine.ts';
import { Estimator } from '../../host/estimator.ts';
import { loadModelDir } from '../../host/model-dir.ts';

describe('examples/unet end to end', () => {
  it('200 steps: test DSC > 0.8, mIOU > 0.75, pixel accuracy > 0.95; predict writes PNG masks', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'csrun-unet-'));
    const est = async () => {
      const md = await loadModelDir(path.resolve(__dirname, '../../examples/unet'), {
        overrides: { runconfig: { model_dir: dir, max_steps: 200, save_checkpoints_steps: 200 }, eval_input: { num_examples: 200 } },
      });
      return new Estimator(md, { machine: loadMachine('wse2'), log: () => {}, progress: false });
    };
    const { eval: results } = await (await est()).trainAndEvaluate();
    expect(results!.DSC).toBeGreaterThan(0.8);
    expect(results!.mIOU).toBeGreaterThan(0.75);
    expect(results!.Acc).toBeGreaterThan(0.95);
    await (await est()).predict();
    expect(fs.existsSync(path.join(dir, 'predict/montage.png'))).toBe(true);
    expect(fs.readdirSync(path.join(dir, 'predict/images')).filter((f) => f.endsWith('_mask.png'))).toHaveLength(200);
    fs.rmSync(dir, { recursive: true, force: true });
  }, 600_000);
});
