/**
 * SessionRunHooks: the session loop's call order (unit, on a fake session), the NaN guard and StopAtStep
 * semantics, and user hooks in a real Estimator run (train and eval) on test/fixtures/estimator-tiny.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadMachine } from '../../compiler/machine.ts';
import { Estimator } from '../../host/estimator.ts';
import { NanTensorHook, StopAtStepHook } from '../../host/hooks/basic.ts';
import { runSession, type RunValues, type Session, type SessionRunHook } from '../../host/hooks/session.ts';
import { loadModelDir } from '../../host/model-dir.ts';
import { readIndex } from '../../runtime/checkpoint.ts';
import { UserError } from '../../runtime/errors.ts';

const FIXTURE = path.resolve(__dirname, '../fixtures/estimator-tiny');
const machine = loadMachine('wse2');

/** A hook recording every call as `<name>:<method>[@step]`. */
function recorder(name: string, calls: string[]): SessionRunHook {
  return {
    begin: () => void calls.push(`${name}:begin`),
    afterCreateSession: (s) => void calls.push(`${name}:afterCreateSession@${s.globalStep}`),
    beforeRun: (ctx) => void calls.push(`${name}:beforeRun@${ctx.session.globalStep}`),
    afterRun: (_ctx, v) => void calls.push(`${name}:afterRun@${v.step}`),
    end: (s) => void calls.push(`${name}:end@${s.globalStep}`),
    close: () => void calls.push(`${name}:close`),
  };
}

/** A session with no wafer behind it: enough for hooks that only read the step bookkeeping. */
function fakeSession(startStep = 0): Session {
  const s: Partial<Session> = { mode: 'train', startStep, globalStep: startStep, runMs: 0, log: () => {}, interrupted: false, inputStats: () => ({ numWorkers: 1, inputWaitFraction: 0, samples: 0, bytes: 0, capacitySamplesPerSecond: 0 }) };
  return s as Session;
}

const step = (loss = 1) => async (s: Session): Promise<RunValues> => ({ step: s.globalStep + 1, loss, samples: 4, simulatedCycles: 10 });

describe('runSession', () => {
  it('calls begin, afterCreateSession, beforeRun/afterRun per step, end and close, hooks in list order', async () => {
    const calls: string[] = [];
    const created: string[] = [];
    await runSession([recorder('a', calls), recorder('b', calls), new StopAtStepHook({ numSteps: 2 })], async () => {
      created.push(calls.join(','));
      return fakeSession(5);
    }, step());
    expect(created).toEqual(['a:begin,b:begin']);
    expect(calls).toEqual([
      'a:begin', 'b:begin',
      'a:afterCreateSession@5', 'b:afterCreateSession@5',
      'a:beforeRun@5', 'b:beforeRun@5', 'a:afterRun@6', 'b:afterRun@6',
      'a:beforeRun@6', 'b:beforeRun@6', 'a:afterRun@7', 'b:afterRun@7',
      'a:end@7', 'b:end@7',
      'a:close', 'b:close',
    ]);
  });

  it('stops when the input ends; on an error skips end but still closes', async () => {
    const calls: string[] = [];
    let n = 0;
    const s = await runSession([recorder('a', calls)], async () => fakeSession(), async (s) => (n++ < 3 ? step()(s) : undefined));
    expect(s.globalStep).toBe(3);
    expect(calls.at(-2)).toBe('a:end@3');
    const calls2: string[] = [];
    const err = await runSession([new NanTensorHook(), recorder('a', calls2)], async () => fakeSession(), step(NaN)).catch((e) => e);
    expect(err).toBeInstanceOf(UserError);
    expect(err.message).toMatch(/^loss is NaN at step 1: training stopped/);
    expect(calls2).toEqual(['a:begin', 'a:afterCreateSession@0', 'a:beforeRun@0', 'a:close']);
  });

  it('NanTensorHook({ failOnNanLoss: false }) logs and requests a stop instead of throwing', async () => {
    const lines: string[] = [];
    const s = await runSession([new NanTensorHook({ failOnNanLoss: false })], async () => ({ ...fakeSession(), log: (l: string) => void lines.push(l) }), step(Infinity));
    expect(s.globalStep).toBe(1);
    expect(lines).toEqual([expect.stringMatching(/^loss is Infinity at step 1/)]);
  });

  it('StopAtStepHook needs exactly one of lastStep and numSteps', () => {
    expect(() => new StopAtStepHook({})).toThrow(/exactly one of lastStep and numSteps/);
    expect(() => new StopAtStepHook({ lastStep: 3, numSteps: 2 })).toThrow(/exactly one/);
  });
});

describe('Estimator with user hooks', () => {
  it('runs a training hook after the built-in ones, lets it stop training, and runs eval hooks', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'csrun-hooks-'));
    const md = await loadModelDir(FIXTURE, { overrides: { runconfig: { model_dir: dir, save_checkpoints_steps: 2 } } });
    const evalCalls: string[] = [];
    const est = new Estimator(md, { machine, log: () => {}, progress: false, hooks: { eval: [recorder('e', evalCalls)] } });
    const calls: string[] = [];
    const losses: number[] = [];
    const stopAt3: SessionRunHook = {
      afterRun: (ctx, v) => {
        losses.push(v.loss);
        // The checkpoint saver ran before this hook: step 2's checkpoint is already the latest.
        if (v.step === 2) calls.push(`latest ${path.basename(ctx.session.lastCheckpoint!)}`);
        if (v.step === 3) ctx.requestStop();
      },
    };
    const r = await est.train({ maxSteps: 20, hooks: [recorder('u', calls), stopAt3] });
    expect(r.globalStep).toBe(3);
    expect(r.stepsRun).toBe(3);
    expect(losses).toHaveLength(3);
    expect(r.loss).toBe(losses[2]);
    expect(calls).toContain('latest model.ckpt-2.safetensors');
    expect(calls.filter((c) => c.startsWith('u:afterRun'))).toEqual(['u:afterRun@1', 'u:afterRun@2', 'u:afterRun@3']);
    expect(calls.slice(-2)).toEqual(['u:end@3', 'u:close']);
    expect(readIndex(dir)!.all_model_checkpoint_paths).toEqual(['model.ckpt-2.safetensors', 'model.ckpt-3.safetensors']);
    const perf = JSON.parse(fs.readFileSync(path.join(dir, 'performance.json'), 'utf8'));
    expect(perf.steps).toBe(3);
    const res = await est.evaluate({ steps: 2 });
    expect(res.global_step).toBe(3);
    expect(evalCalls).toEqual(['e:begin', 'e:afterCreateSession@3', 'e:beforeRun@3', 'e:afterRun@3', 'e:beforeRun@3', 'e:afterRun@3', 'e:beforeRun@3', 'e:end@3', 'e:close']);
  });
});

describe('hooks returned by modelFn (EstimatorSpec.trainingHooks / evaluationHooks)', () => {
  /** The fixture's model directory with a modelFn that adds `extra` to the EstimatorSpec it returns. */
  async function withSpecHooks(dir: string, extra: (mode: string) => Record<string, unknown>) {
    const md = await loadModelDir(FIXTURE, { overrides: { runconfig: { model_dir: dir, save_checkpoints_steps: 0 } } });
    const inner = md.modelFn;
    md.modelFn = (f, l, mode, p) => ({ ...inner(f, l, mode, p), ...extra(mode) });
    return md;
  }

  it('train runs trainingHooks after the built-in hooks and before the Estimator and call hooks; evaluate runs evaluationHooks', async () => {
    const calls: string[] = [];
    const md = await withSpecHooks(fs.mkdtempSync(path.join(os.tmpdir(), 'csrun-spec-hooks-')), (mode) => ({
      trainingHooks: [recorder(`spec-train-${mode}`, calls)],
      evaluationHooks: [recorder(`spec-eval-${mode}`, calls)],
    }));
    const est = new Estimator(md, { machine, log: () => {}, progress: false, hooks: { train: [recorder('opt', calls)], eval: [recorder('opt-eval', calls)] } });
    let latestAtSpecEnd: string | undefined;
    const r = await est.train({ maxSteps: 2, hooks: [recorder('call', calls), { end: () => void (latestAtSpecEnd = calls.filter((c) => c.includes(':end')).join(',')) }] });
    expect(r.globalStep).toBe(2);
    // only the TRAIN spec's trainingHooks ran, in order with the others
    expect(calls.filter((c) => c.endsWith('afterRun@2'))).toEqual(['spec-train-train:afterRun@2', 'opt:afterRun@2', 'call:afterRun@2']);
    expect(latestAtSpecEnd).toBe('spec-train-train:end@2,opt:end@2,call:end@2');
    expect(calls.some((c) => c.startsWith('spec-eval'))).toBe(false);
    calls.length = 0;
    await est.evaluate({ steps: 1 });
    expect(calls).toEqual(['spec-eval-eval:begin', 'opt-eval:begin', 'spec-eval-eval:afterCreateSession@2', 'opt-eval:afterCreateSession@2', 'spec-eval-eval:beforeRun@2', 'opt-eval:beforeRun@2', 'spec-eval-eval:afterRun@2', 'opt-eval:afterRun@2', 'spec-eval-eval:beforeRun@2', 'opt-eval:beforeRun@2', 'spec-eval-eval:end@2', 'opt-eval:end@2', 'spec-eval-eval:close', 'opt-eval:close']);
  });

  it('a trainingHooks entry that is not a hook is a UserError naming the model file and the entry', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'csrun-spec-hooks-bad-'));
    const est = (extra: Record<string, unknown>) => withSpecHooks(dir, () => extra).then((md) => new Estimator(md, { machine, log: () => {}, progress: false }));
    await expect((await est({ trainingHooks: [{ afterRun: 3 }] })).train({ maxSteps: 1 })).rejects.toThrow(/model\.ts: EstimatorSpec\.trainingHooks\[0\] is not a SessionRunHook \(afterRun is not a function;/);
    await expect((await est({ trainingHooks: [recorder('a', []), null] })).train({ maxSteps: 1 })).rejects.toThrow(/EstimatorSpec\.trainingHooks\[1\] is not a SessionRunHook \(not an object/);
    await expect((await est({ trainingHooks: recorder('a', []) })).train({ maxSteps: 1 })).rejects.toThrow(/EstimatorSpec\.trainingHooks must be a list of SessionRunHooks, got object/);
    expect(fs.existsSync(path.join(dir, 'checkpoint'))).toBe(false);
  });
});
