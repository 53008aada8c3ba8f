/**
 * EarlyStoppingHook (host/hooks/early-stopping.ts): on a scripted metric sequence (a session loop whose steps
 * write eval results as train_and_evaluate does), patience 2 stops at the expected step; Keras semantics for
 * min/max, ties and patience 0; results files of earlier runs do not count; and `runconfig.early_stopping` in a
 * real train_and_eval on test/fixtures/estimator-tiny.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadMachine } from '../../compiler/machine.ts';
import { Estimator } from '../../host/estimator.ts';
import { EarlyStoppingHook, type MetricMode } from '../../host/hooks/early-stopping.ts';
import { runSession, type RunValues, type Session } from '../../host/hooks/session.ts';
import { loadModelDir, ModelDirLayout } from '../../host/model-dir.ts';
import { readIndex } from '../../runtime/checkpoint.ts';
import { UserError } from '../../runtime/errors.ts';

const FIXTURE = path.resolve(__dirname, '../fixtures/estimator-tiny');
const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'csrun-early-'));

/**
 * Runs a session of up to `maxSteps` steps in which every `every`-th step "evaluates": writes
 * eval/results-<step>.json with the next value of `accuracy` from `sequence`.
 * @returns the step the session stopped at and its log.
 */
async function scripted(sequence: number[], opts: { mode: MetricMode; patience: number; every?: number; maxSteps?: number; dir?: string }) {
  const out = new ModelDirLayout(opts.dir ?? tmp());
  fs.mkdirSync(out.eval, { recursive: true });
  const lines: string[] = [];
  const every = opts.every ?? 2;
  let k = 0;
  const session = { mode: 'train', out, startStep: 0, globalStep: 0, runMs: 0, log: (l: string) => void lines.push(l), interrupted: false } as unknown as Session;
  const s = await runSession([new EarlyStoppingHook({ metric: 'accuracy', mode: opts.mode, patience: opts.patience })], async () => session, async (s): Promise<RunValues | undefined> => {
    const step = s.globalStep + 1;
    if (step > (opts.maxSteps ?? 100)) return undefined;
    if (step % every === 0 && k < sequence.length) fs.writeFileSync(out.evalResultsAt(step), JSON.stringify({ global_step: step, loss: 1, accuracy: sequence[k++] }));
    return { step, loss: 1, samples: 1, simulatedCycles: 1 };
  });
  return { step: s.globalStep, lines };
}

describe('EarlyStoppingHook', () => {
  it('patience 2 stops at the second evaluation in a row that does not improve (a tie does not improve)', async () => {
    // evaluations at steps 2, 4, 6, 8, 10: best 0.6 at step 4; 6 (0.55) and 8 (0.6, a tie) do not improve
    const r = await scripted([0.5, 0.6, 0.55, 0.6, 0.9], { mode: 'max', patience: 2 });
    expect(r.step).toBe(8);
    expect(r.lines).toEqual(['Early stopping at step 8: accuracy has not increased from 0.6 (step 4) in 2 evaluation(s) (patience 2)']);
    // an improvement resets the count: 0.7 at step 6 is a new best, then 8 and 10 do not improve
    expect((await scripted([0.5, 0.4, 0.7, 0.7, 0.1, 0.9], { mode: 'max', patience: 2 })).step).toBe(10);
    // min mode on the same sequence: best 0.5 at 2, then 0.6 and 0.55 are worse
    expect((await scripted([0.5, 0.6, 0.55, 0.6, 0.9], { mode: 'min', patience: 2 })).step).toBe(6);
    // patience 0 (Keras): the first evaluation that does not improve stops
    expect((await scripted([0.5, 0.6, 0.55], { mode: 'max', patience: 0 })).step).toBe(6);
    // never stops while the metric keeps improving: the session runs to its end
    expect((await scripted([0.1, 0.2, 0.3, 0.4], { mode: 'max', patience: 1, maxSteps: 12 })).step).toBe(12);
  });

  it('ignores results files already in model_dir when the session starts', async () => {
    const dir = tmp();
    const out = new ModelDirLayout(dir);
    fs.mkdirSync(out.eval, { recursive: true });
    // a stale evaluation at step 2 with a value nothing in this run beats
    fs.writeFileSync(out.evalResultsAt(2), JSON.stringify({ global_step: 2, loss: 1, accuracy: 1 }));
    const r = await scripted([], { mode: 'max', patience: 1, maxSteps: 4, dir });
    expect(r.step).toBe(4);
  });

  it('rejects a bad mode, a bad patience and a metric the evaluation lacks', async () => {
    expect(() => new EarlyStoppingHook({ metric: 'accuracy', mode: 'up' as MetricMode, patience: 1 })).toThrow(/mode must be 'min' or 'max', got 'up'/);
    expect(() => new EarlyStoppingHook({ metric: 'accuracy', mode: 'max', patience: -1 })).toThrow(/patience must be an integer ≥ 0/);
    const out = new ModelDirLayout(tmp());
    fs.mkdirSync(out.eval, { recursive: true });
    const session = { out, startStep: 0, globalStep: 0, runMs: 0, log: () => {}, interrupted: false } as unknown as Session;
    const err = await runSession([new EarlyStoppingHook({ metric: 'acc', mode: 'max', patience: 1, where: 'runconfig.early_stopping' })], async () => session, async (s) => {
      fs.writeFileSync(out.evalResultsAt(1), JSON.stringify({ global_step: 1, loss: 1, accuracy: 0.5 }));
      return { step: s.globalStep + 1, loss: 1, samples: 1, simulatedCycles: 1 };
    }).catch((e) => e);
    expect(err).toBeInstanceOf(UserError);
    expect(err.message).toBe("runconfig.early_stopping: the evaluation at step 1 has no metric 'acc'; it has loss, accuracy (evalMetricOps of modelFn, and loss)");
  });

  it('runconfig.early_stopping stops a real train_and_eval where the evaluations say, without a second final evaluation', async () => {
    const dir = tmp();
    const md = await loadModelDir(FIXTURE, { overrides: { runconfig: { model_dir: dir, save_checkpoints_steps: 2, max_steps: 30, early_stopping: { metric: 'loss', mode: 'max', patience: 2 } } } });
    const lines: string[] = [];
    const est = new Estimator(md, { machine: loadMachine('wse2'), log: (l) => void lines.push(l), progress: false });
    const r = await est.trainAndEvaluate({ evalSteps: 1 });
    // the expected stop, replayed from the evaluations written (Keras' rule, spelled out independently)
    const evals = fs.readdirSync(path.join(dir, 'eval')).filter((f) => /^results-\d+\.json$/.test(f)).map((f) => JSON.parse(fs.readFileSync(path.join(dir, 'eval', f), 'utf8'))).sort((a, b) => a.global_step - b.global_step);
    let best = -Infinity;
    let wait = 0;
    let expected: number | undefined;
    for (const e of evals) {
      if (e.loss > best) [best, wait] = [e.loss, 0];
      else if (++wait >= 2) {
        expected = e.global_step;
        break;
      }
    }
    expect(expected).toBeDefined();
    expect(expected).toBeLessThan(30);
    expect(r.train.globalStep).toBe(expected);
    expect(evals.at(-1).global_step).toBe(expected); // nothing was evaluated after the stop
    expect(r.eval?.global_step).toBe(expected);
    expect(lines.filter((l) => l.startsWith(`Evaluation at step ${expected} `))).toHaveLength(1);
    expect(lines).toContain(`Finished training at step ${expected}: saved checkpoint ${path.join(dir, `model.ckpt-${expected}.safetensors`)}`);
    expect(readIndex(dir)!.model_checkpoint_path).toBe(`model.ckpt-${expected}.safetensors`);
    await expect(loadModelDir(FIXTURE, { overrides: { runconfig: { early_stopping: { metric: 'loss', mode: 'down', patience: 2 } } } })).rejects.toThrow(/runconfig\.early_stopping\.mode/);
  });
});
