/**
 * keep_best_checkpoint (host/best-checkpoint.ts): rotation keeps the protected checkpoint; evaluations update
 * best_checkpoint.json by metric and mode; in a real train_and_eval on test/fixtures/estimator-tiny the best
 * checkpoint survives keep_checkpoint_max rotation and best_checkpoint.json names it.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadMachine } from '../../compiler/machine.ts';
import { protectedCheckpoints, readBestCheckpoint, recordEvaluation } from '../../host/best-checkpoint.ts';
import { Estimator } from '../../host/estimator.ts';
import { loadModelDir, ModelDirLayout } from '../../host/model-dir.ts';
import { checkpointFileName, readIndex, saveCheckpoint } from '../../runtime/checkpoint.ts';
import { validateParams } from '../../runtime/params.ts';

const FIXTURE = path.resolve(__dirname, '../fixtures/estimator-tiny');
const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'csrun-best-'));
const ckpt = (step: number) => ({ globalStep: step, tensors: { w: { dtype: 'F32' as const, shape: [1], data: Float32Array.of(step) } } });

describe('keep_best_checkpoint', () => {
  it('saveCheckpoint rotation keeps the checkpoints named in keep, in the index too', () => {
    const dir = tmp();
    for (const s of [1, 2, 3, 4, 5]) saveCheckpoint(dir, ckpt(s), 2, [checkpointFileName(2)]);
    expect(readIndex(dir)!.all_model_checkpoint_paths).toEqual([checkpointFileName(2), checkpointFileName(4), checkpointFileName(5)]);
    expect(fs.readdirSync(dir).filter((f) => f.endsWith('.safetensors')).sort()).toEqual([2, 4, 5].map(checkpointFileName));
    // once no longer protected, it rotates out like any other
    saveCheckpoint(dir, ckpt(6), 2);
    expect(readIndex(dir)!.all_model_checkpoint_paths).toEqual([checkpointFileName(5), checkpointFileName(6)]);
  });

  it('records a strictly better evaluation of a model_dir checkpoint, by metric and mode', () => {
    const dir = tmp();
    const out = new ModelDirLayout(dir);
    const rc = validateParams({ runconfig: { keep_best_checkpoint: { metric: 'accuracy', mode: 'max' } } }, 'p.yaml').runconfig;
    const lines: string[] = [];
    const evaluate = (step: number, accuracy: number, file = path.join(dir, checkpointFileName(step))) => {
      saveCheckpoint(dir, ckpt(step), 0);
      return recordEvaluation(out, rc, { global_step: step, loss: 1, accuracy }, file, (l) => void lines.push(l));
    };
    expect(protectedCheckpoints(out, rc)).toEqual([]);
    expect([evaluate(1, 0.5), evaluate(2, 0.7), evaluate(3, 0.7), evaluate(4, 0.6)]).toEqual([true, true, false, false]);
    expect(readBestCheckpoint(out)).toMatchObject({ checkpoint: checkpointFileName(2), global_step: 2, metric: 'accuracy', mode: 'max', value: 0.7, results: { accuracy: 0.7, loss: 1 } });
    expect(protectedCheckpoints(out, rc)).toEqual([checkpointFileName(2)]);
    expect(lines.at(-1)).toBe(`Best checkpoint: ${checkpointFileName(2)} (accuracy = 0.7, was 0.5 at step 1) → ${out.bestCheckpoint}`);
    // a checkpoint outside model_dir (csrun eval --checkpoint-path elsewhere) is not a candidate
    expect(evaluate(5, 0.9, path.join(tmp(), checkpointFileName(5)))).toBe(false);
    // another mode in the params: the old record does not protect anything and the next evaluation starts a new one
    const rcMin = validateParams({ runconfig: { keep_best_checkpoint: { metric: 'accuracy', mode: 'min' } } }, 'p.yaml').runconfig;
    expect(protectedCheckpoints(out, rcMin)).toEqual([]);
    expect(recordEvaluation(out, rcMin, { global_step: 4, loss: 1, accuracy: 0.6 }, path.join(dir, checkpointFileName(4)), () => {})).toBe(true);
    // without the setting nothing is recorded or protected
    const plain = validateParams({}, 'p.yaml').runconfig;
    expect(recordEvaluation(out, plain, { global_step: 5, loss: 0, accuracy: 1 }, path.join(dir, checkpointFileName(5)), () => {})).toBe(false);
    expect(protectedCheckpoints(out, plain)).toEqual([]);
    expect(() => recordEvaluation(out, rc, { global_step: 5, loss: 0 }, path.join(dir, checkpointFileName(5)), () => {})).toThrow(/^runconfig\.keep_best_checkpoint: the evaluation at step 5 has no metric 'accuracy'; it has loss/);
    fs.writeFileSync(out.bestCheckpoint, '{');
    expect(() => protectedCheckpoints(out, rc)).toThrow(/best_checkpoint\.json: malformed/);
  });

  it('the best checkpoint of a train_and_eval survives keep_checkpoint_max rotation', async () => {
    const dir = tmp();
    // loss in mode max: the best is an early checkpoint that rotation would delete
    const md = await loadModelDir(FIXTURE, { overrides: { runconfig: { model_dir: dir, save_checkpoints_steps: 2, max_steps: 10, keep_checkpoint_max: 2, keep_best_checkpoint: { metric: 'loss', mode: 'max' } } } });
    await new Estimator(md, { machine: loadMachine('wse2'), log: () => {}, progress: false }).trainAndEvaluate({ evalSteps: 1 });
    const evals = fs.readdirSync(path.join(dir, 'eval')).filter((f) => /^results-\d+\.json$/.test(f)).map((f) => JSON.parse(fs.readFileSync(path.join(dir, 'eval', f), 'utf8')));
    expect(evals.map((e) => e.global_step).sort((a, b) => a - b)).toEqual([2, 4, 6, 8, 10]);
    const best = evals.reduce((a, b) => (b.loss > a.loss || (b.loss === a.loss && b.global_step < a.global_step) ? b : a));
    expect(best.global_step).toBeLessThan(8); // so that rotation would have deleted it
    const name = checkpointFileName(best.global_step);
    expect(readBestCheckpoint(new ModelDirLayout(dir))).toMatchObject({ checkpoint: name, global_step: best.global_step, value: best.loss });
    expect(readIndex(dir)!.all_model_checkpoint_paths).toEqual([name, checkpointFileName(8), checkpointFileName(10)]);
    expect(fs.readdirSync(dir).filter((f) => f.endsWith('.safetensors')).sort()).toEqual([name, checkpointFileName(10), checkpointFileName(8)].sort());
  });
});
