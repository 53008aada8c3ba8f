/**
 * The input analyzer's measured rates (host/input/analyze.ts) on test/fixtures/input-busy, which busy-waits
 * 5 ms of wall time per sample: one worker must deliver 200 samples/s and two 400, within 15%. Runs in the
 * vitest project 'timing' (vitest.config.ts): after the rest of the suite and alone, because the rates are
 * real threads' and another process on the same cores lowers them.
 */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadParams } from '../../runtime/params.ts';
import { measureInput } from '../../host/input/analyze.ts';

const FIXTURE = path.resolve(__dirname, '../fixtures/input-busy');
const MS_PER_SAMPLE = 5;

describe('analyze-input rates', () => {
  it('measures a busy-waiting pipeline within 15% of its implied rate, for 1 and 2 workers', async () => {
    const params = loadParams(path.join(FIXTURE, 'configs/params.yaml'));
    const { measurements, batchSize, bytesPerSample } = await measureInput({ dataModule: path.join(FIXTURE, 'data.ts'), params, mode: 'train', workers: [1, 2], seconds: 2 });
    expect(batchSize).toBe(8);
    expect(bytesPerSample).toBe(64 * 4 + 4);
    const implied = 1000 / MS_PER_SAMPLE;
    expect(measurements[0].samples_per_s).toBeGreaterThan(implied * 0.85);
    expect(measurements[0].samples_per_s).toBeLessThan(implied * 1.15);
    expect(measurements[1].samples_per_s).toBeGreaterThan(2 * implied * 0.85);
    expect(measurements[1].samples_per_s).toBeLessThan(2 * implied * 1.15);
    // Each worker spins, so the workers' CPU-seconds per second ≈ their count.
    expect(measurements[1].cpu_s_per_s).toBeGreaterThan(1.5);
    // A spinning worker is on a CPU all the time it produces: samples per CPU-second ≈ the implied rate.
    expect(measurements[0].per_worker_samples_per_s).toBeGreaterThan(implied * 0.85);
    expect(measurements[0].per_worker_samples_per_s).toBeLessThan(implied * 1.15);
  }, 60_000);

});
