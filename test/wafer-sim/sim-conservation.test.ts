/**
 * Conservation (docs/design.md §10): on a real training run (test/fixtures/estimator-tiny on WSE-2, compute
 * workers with two shards), the bytes the simulation moves per route — forward activations and TRAIN
 * gradients — equal the element counts the compute workers actually moved × the machine's word bytes; and
 * the wafer's clock advances by the simulation's batch time (flow) or the estimate's (analytic).
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Plan } from '../../compiler/ir.ts';
import { loadMachine } from '../../compiler/machine.ts';
import { compileGraph } from '../../compiler/pipeline.ts';
import { loadModelDir, signatureOf, traceModel } from '../../host/model-dir.ts';
import { SupportServer } from '../../host/input/support-server.ts';
import type { Batch } from '../../runtime/batch.ts';
import type { Graph } from '../../runtime/graph.ts';
import { simulate } from '../../wafer-sim/sim/index.ts';
import { Wafer } from '../../wafer-sim/wafer.ts';

const FIXTURE = path.resolve(__dirname, '../fixtures/estimator-tiny');
const machine = loadMachine('wse2');
let batches: Batch[];
let graph: Graph;
let plan: Plan;

beforeAll(async () => {
  const md = await loadModelDir(FIXTURE);
  const server = await SupportServer.start({ dataModule: md.dataFile, params: md.params, mode: 'train', inProcess: true });
  batches = [];
  for (let i = 0; i < 3; i++) batches.push((await server.next()).value as Batch);
  await server.close();
  graph = traceModel(md, 'train', signatureOf(batches[0] as never, md.dataFile));
  plan = compileGraph(graph, machine, { batchSize: md.params.train_input.batch_size! }).plan!;
}, 120_000);

const wafers: Wafer[] = [];
afterAll(async () => {
  for (const w of wafers) await w.close();
});

describe('conservation', () => {
  it('bytes per route in the simulation = the compute workers\' element counts × word bytes', async () => {
    const wafer = await Wafer.load(plan, graph, machine, { computeWorkers: 1, computeShards: 2 });
    wafers.push(wafer);
    for (let s = 0; s < 3; s++) await wafer.trainStep(batches[s], s);
    const sim = simulate(plan, { batchSize: plan.batchSize });
    expect(plan.routes.some((r) => r.backward && !r.external)).toBe(true);
    plan.routes.forEach((r, i) => {
      expect(wafer.clock.measuredForward[i], `route ${i} forward`).toBe(3 * sim.routes[i].bytesForward);
      expect(wafer.clock.measuredBackward[i], `route ${i} backward`).toBe(3 * sim.routes[i].bytesBackward);
      expect(sim.routes[i].bytesForward).toBe(plan.batchSize * r.bytesPerSample);
    });
    expect(wafer.clock.measuredBackward.some((b) => b > 0)).toBe(true);
    // the flow clock: three batches of the simulated batch time
    expect(wafer.clock.level).toBe('flow');
    expect(wafer.clock.cycles).toBeCloseTo(3 * sim.batchCycles, 6);
    const u = JSON.parse(wafer.clock.files()['utilization.json']);
    u.routes.forEach((r: any) => expect(r.measured_bytes_forward).toBe(r.bytes_forward));
  }, 120_000);

  it('sim_level analytic advances by the compile estimate', async () => {
    const wafer = await Wafer.load(plan, graph, machine, { computeWorkers: 1, simLevel: 'analytic' });
    wafers.push(wafer);
    await wafer.trainStep(batches[0], 0);
    expect(wafer.clock.samplesPerSecond / plan.estimate.samplesPerS).toBeCloseTo(1, 12);
  }, 120_000);
});
