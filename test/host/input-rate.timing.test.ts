/**
 * The input analyzer's measured rates (host/input/analyze.ts) on test/fixtures/input-busy, which busy-waits
 * 5 ms of wall time per sample: one worker must deliver 200 samples/s and two 400, within 15%. Runs in the
 * vitest project 'timing' (vitest.config.ts): after the rest of the suite and alone, because the rates are
 * real threads' and another process on the same cores lowers them. Also: the capacity a slow consumer
 * (csrun train) sees agrees with the analyzer's flat-out rate on examples/mnist (issue #20: within 25%).
 */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadParams } from '../../runtime/params.ts';
import { measureInput } from '../../host/input/analyze.ts';
import { SupportServer } from '../../host/input/support-server.ts';
import { PROBE_BATCHES, PROBE_INTERVAL, WARMUP_BATCHES } from '../../host/input/lanes.ts';

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

  it('examples/mnist: the capacity a slow consumer measures (cost probes) is within 25% of analyze-input', async () => {
    const dir = path.resolve(__dirname, '../../examples/mnist');
    const params = loadParams(path.join(dir, 'configs/params.yaml'));
    const dataModule = path.join(dir, 'data.ts');
    const [flat] = (await measureInput({ dataModule, params, mode: 'train', workers: [1], seconds: 2 })).measurements;
    const server = await SupportServer.start({ dataModule, params, mode: 'train', numWorkers: 1 });
    try {
      // Past the second probe, with the worker idle between batches as in csrun train (~125 ms per step
      // there; 10 ms here is enough to let the worker fall idle and its caches cool).
      const batches = 2 * WARMUP_BATCHES + 2 * PROBE_BATCHES + PROBE_INTERVAL + 8;
      for (let i = 0; i < batches; i++) {
        await server.next();
        await new Promise((r) => setTimeout(r, 10));
      }
      const st = server.stats();
      expect(st.probes[0]).toBeGreaterThanOrEqual(2);
      const ratio = st.capacitySamplesPerSecond / flat.per_worker_samples_per_s;
      expect(ratio).toBeGreaterThan(0.75);
      expect(ratio).toBeLessThan(1.25);
    } finally {
      await server.close();
    }
  }, 120_000);
});
