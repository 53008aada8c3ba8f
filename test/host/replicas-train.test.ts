/**
 * Training a multi-replica plan (compiler/replicas.ts; runtime/parallel/shards.ts): K replicas train the same
 * model as one replica at the same global batch (the shards' reduction in shard order is the replicas'
 * all-reduce), to float32 tolerance over 50 steps, and bit-identically on 1 and 2 compute workers.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadMachine } from '../../compiler/machine.ts';
import { Estimator } from '../../host/estimator.ts';
import { loadModelDir } from '../../host/model-dir.ts';
import { latestCheckpoint, readCheckpoint } from '../../runtime/checkpoint.ts';

const FIXTURE = path.resolve(__dirname, '../fixtures/estimator-tiny');
const machine = loadMachine('wse2');

/** Trains the tiny model 50 steps (dropout off, Adam 0.001); returns the losses, the final weights and the plan's K. */
async function run(runconfig: Record<string, unknown>) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'csrun-rep-'));
  const md = await loadModelDir(FIXTURE, { overrides: { runconfig: { model_dir: dir, max_steps: 50, save_checkpoints_steps: 50, ...runconfig } } });
  md.params.model.dropout = 0;
  md.params.optimizer.learning_rate = 0.001; // small steps: a reduction-order difference stays at float32 rounding
  const losses: number[] = [];
  await new Estimator(md, { machine, log: () => {}, progress: false }).train({ hooks: [{ afterRun: (_ctx, v) => void losses.push(v.loss) }] });
  const plan = JSON.parse(fs.readFileSync(path.join(dir, 'compile', 'train', 'plan.json'), 'utf8'));
  const weights = Object.fromEntries(Object.entries(readCheckpoint(latestCheckpoint(dir)!).tensors).map(([k, t]) => [k, Array.from(t.data as Float32Array)]));
  return { losses, weights, replicas: plan.replicas?.count ?? 1 };
}

describe('multi-replica training', () => {
  it('4 replicas match one replica at the same global batch, and 1 and 2 workers give the same bits', async () => {
    const four1 = await run({ num_replicas: 4, compute_workers: 1 });
    const four2 = await run({ num_replicas: 4, compute_workers: 2 });
    const one = await run({ compute_workers: 1 });
    expect(four1.replicas).toBe(4);
    expect(one.replicas).toBe(1);
    expect(four1.losses).toHaveLength(50);
    expect(four2.losses).toEqual(four1.losses);
    expect(four2.weights).toEqual(four1.weights);
    four1.losses.forEach((l, i) => expect(Math.abs(l - one.losses[i]) / Math.abs(one.losses[i])).toBeLessThan(1e-5));
  }, 240_000);
});
