/**
 * SIGTERM and SIGINT during `csrun train` (host/stop-signals.ts): the current step finishes, a checkpoint
 * is written at it, the exit code is 143 / 130 with a line saying so, and resuming from that checkpoint
 * gives bit-identical final weights to an uninterrupted run. A second signal exits at once.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { csrunAsync, csrunSync, latestWeights, tinyModelDir, waitForOutput } from '../helpers/cli-model-dir.ts';
import { signalExitCode, StopSignals } from '../../host/stop-signals.ts';

describe('csrun train and SIGTERM', () => {
  it('SIGTERM mid-train saves a checkpoint at the current step and exits 143; resuming matches an uninterrupted run bit for bit', async () => {
    const { dir, out } = tinyModelDir({ save_checkpoints_steps: 1000, log_step_count_steps: 3 });
    const run = csrunAsync(['train', dir, '--max-steps', '100000', '--model-dir', out, '--no-progress']);
    await waitForOutput(run, /^step 6: loss/m); // mid-train, between periodic checkpoints
    run.p.kill('SIGTERM');
    const { code } = await run.closed;
    expect(code).toBe(143);
    const text = run.output();
    expect(text).toMatch(/SIGTERM: finishing the current step and saving a checkpoint/);
    const m = /Interrupted at step (\d+): saved checkpoint .*model\.ckpt-(\d+)\.safetensors/.exec(text);
    expect(m, text).not.toBeNull();
    const step = Number(m![1]);
    expect(step).toBeGreaterThan(0);
    expect(step).toBeLessThan(1000); // no periodic checkpoint was written: this one is the signal's
    expect(Number(m![2])).toBe(step);
    expect(text).toContain(`csrun: stopped by SIGTERM at step ${step} (checkpoint model.ckpt-${step}.safetensors); exit 143, run the same command to resume`);
    expect(latestWeights(out).step).toBe(step);
    expect(fs.existsSync(path.join(out, 'csrun.lock'))).toBe(false);

    const resumed = csrunSync(['train', dir, '--max-steps', String(step + 5), '--model-dir', out]);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stdout).toContain(`Restored ${path.join(out, `model.ckpt-${step}.safetensors`)}`);
    const out2 = `${out}-uninterrupted`;
    const straight = csrunSync(['train', dir, '--max-steps', String(step + 5), '--model-dir', out2]);
    expect(straight.code, straight.stderr).toBe(0);
    const a = latestWeights(out);
    const b = latestWeights(out2);
    expect(a.step).toBe(step + 5);
    expect(b.step).toBe(step + 5);
    expect(Object.keys(a.tensors).length).toBeGreaterThan(4);
    expect(a.tensors).toEqual(b.tensors);
  });
});

describe('StopSignals', () => {
  afterEach(() => vi.restoreAllMocks());

  it('the first signal requests a stop, a second one exits at once with 128 + its number', () => {
    const lines: string[] = [];
    const exit = vi.spyOn(process, 'exit').mockImplementation(((c: number) => {
      throw new Error(`exit ${c}`);
    }) as never);
    vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    const s = StopSignals.install((l) => lines.push(l));
    try {
      process.emit('SIGINT');
      expect(s.received).toBe('SIGINT');
      expect(lines).toEqual(['SIGINT: finishing the current step and saving a checkpoint (send it again to exit at once)']);
      expect(exit).not.toHaveBeenCalled();
      expect(() => process.emit('SIGTERM')).toThrow('exit 143');
    } finally {
      s.uninstall();
    }
    expect(process.listenerCount('SIGINT')).toBe(0);
    expect(signalExitCode('SIGINT')).toBe(130);
  });
});
