/**
 * Kill soak (issue 14): `csrun train` is killed with SIGKILL at random points — during start-up, during
 * training, and mid-checkpoint (the checkpoint and index writes are slowed with the fault injector of
 * runtime/fs.ts, `CSRUN_FS_FAULT=slow:<ms>:<name>`, and the kill lands while a temp file is half written) —
 * and resumed each time. Afterwards the final weights are bit-identical to an uninterrupted run, no temp
 * file is left anywhere in model_dir, every checkpoint file is in the index, and no lock is left.
 *
 * The suite runs a short variant (`CSRUN_SOAK_KILLS`, default 8 kills); `npm run soak` runs 30.
 * `CSRUN_SOAK_SEED` fixes the random kill points (the seed is printed).
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { readIndex } from '../../runtime/checkpoint.ts';
import { csrunAsync, csrunSync, filesUnder, latestWeights, tinyModelDir, waitForOutput } from '../helpers/cli-model-dir.ts';

const KILLS = Number(process.env.CSRUN_SOAK_KILLS ?? 8);
const SEED = Number(process.env.CSRUN_SOAK_SEED ?? Date.now() % 1e6);
/** Checkpoint and index writes pause this long half-written: the mid-checkpoint kill window. */
const FAULT = { CSRUN_FS_FAULT: 'slow:30:model.ckpt-,slow:30:checkpoint' };
const TEMP = /\.tmp-\d+-\d+$/;

/** Resolves when a temp file of a checkpoint or the index appears in `dir`, or the process ends. */
function whenCheckpointTemp(dir: string, closed: Promise<unknown>): Promise<string | undefined> {
  return new Promise((resolve) => {
    let done = false;
    const t = setInterval(() => {
      let names: string[] = [];
      try {
        names = fs.readdirSync(dir);
      } catch {}
      const hit = names.find((n) => TEMP.test(n) && (n.startsWith('.model.ckpt-') || n.startsWith('.checkpoint.')));
      if (hit && !done) {
        done = true;
        clearInterval(t);
        resolve(hit);
      }
    }, 2);
    closed.then(() => {
      clearInterval(t);
      if (!done) resolve(undefined);
    });
  });
}

describe('kill soak', () => {
  it(`SIGKILL at ${KILLS} random points (start-up, training, mid-checkpoint), resuming each time: final weights bit-identical, nothing left over`, async () => {
    console.log(`kill soak: ${KILLS} kills, CSRUN_SOAK_SEED=${SEED}`);
    let s = SEED >>> 0 || 1;
    const rnd = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
    const { dir, out } = tinyModelDir({ save_checkpoints_steps: 4, keep_checkpoint_max: 3, log_step_count_steps: 1000 });
    let maxSteps = 60;
    const log: string[] = [];
    let kills = 0;
    let midCheckpoint = 0;
    for (let run = 0; kills < KILLS; run++) {
      expect(run, log.join('\n')).toBeLessThan(KILLS * 3);
      const r = csrunAsync(['train', dir, '--max-steps', String(maxSteps), '--model-dir', out, '--no-progress'], FAULT);
      const kind = (['startup', 'training', 'checkpoint'] as const)[run % 3];
      let temp: string | undefined;
      if (kind === 'startup') await Promise.race([new Promise((res) => setTimeout(res, rnd() * 2000)), r.closed]);
      else if (kind === 'training') await Promise.race([waitForOutput(r, /Training from step/).then(() => new Promise((res) => setTimeout(res, rnd() * 400))), r.closed]).catch(() => {});
      else temp = await whenCheckpointTemp(out, r.closed);
      const alive = r.p.exitCode === null && r.p.signalCode === null;
      if (alive) r.p.kill('SIGKILL');
      const { code, signal } = await r.closed;
      const text = r.output();
      const step = latestWeightsStep(out);
      const notes = [/took over the lock/, /Adopted checkpoint/, /Removed \d+ checkpoint/, /Restored/].filter((re) => re.test(text)).map((re) => re.source.split(' ')[0].replace(/\\d\+/, ''));
      log.push(`run ${run}: ${kind}${temp ? ` (${temp})` : ''} → ${signal ?? `exit ${code}`}; latest checkpoint step ${step}; ${notes.join(', ')}`);
      if (signal === 'SIGKILL') {
        kills++;
        if (temp) midCheckpoint++;
      } else {
        // Ended before the kill: it must have finished cleanly; train further next time.
        expect(code, `${log.join('\n')}\n${text}`).toBe(0);
        maxSteps += 40;
      }
      expect(text, log.join('\n')).not.toMatch(/internal error|corrupted|error:/);
    }
    const last = csrunSync(['train', dir, '--max-steps', String(maxSteps), '--model-dir', out]);
    log.push(`final run → exit ${last.code}`);
    expect(last.code, `${log.join('\n')}\n${last.stdout}${last.stderr}`).toBe(0);
    console.log(log.join('\n'));

    const ref = `${out}-uninterrupted`;
    expect(csrunSync(['train', dir, '--max-steps', String(maxSteps), '--model-dir', ref]).code).toBe(0);
    const a = latestWeights(out);
    const b = latestWeights(ref);
    expect(a.step).toBe(maxSteps);
    expect(b.step).toBe(maxSteps);
    expect(a.tensors).toEqual(b.tensors);

    expect(kills).toBeGreaterThanOrEqual(KILLS);
    expect(midCheckpoint, log.join('\n')).toBeGreaterThanOrEqual(Math.floor(KILLS / 3));
    const files = filesUnder(out);
    expect(files.filter((f) => TEMP.test(f) || /\.stale-|csrun\.lock/.test(f))).toEqual([]);
    const idx = readIndex(out)!;
    expect(files.filter((f) => f.endsWith('.safetensors')).sort()).toEqual([...idx.all_model_checkpoint_paths].sort());
  });
});

/** The step of the latest indexed checkpoint (0 when there is none). */
function latestWeightsStep(out: string): number {
  try {
    return fs.existsSync(path.join(out, 'checkpoint')) ? latestWeights(out).step : 0;
  } catch (e) {
    return -1; // reported in the log; the final assertions catch a real problem
  }
}
