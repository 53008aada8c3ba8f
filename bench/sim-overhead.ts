/**
 * Cost of the timing simulation on a training run (issues 6 and 11; not a test): training step time of
 * examples/mnist (batch 64, real MNIST) on the same Wafer code with the simulated clock (flow level) and
 * route-traffic counting on, and with them off (`WaferOptions.simulate: false`; the numerics are identical).
 * Alternates blocks of on/off steps so that machine noise hits both alike; prints the mean step times and the
 * per-step overhead, then the one-off cost of simulating the plan's batch size (the clock simulates each batch
 * size once, uncached here) as a share of the whole run (`runconfig.max_steps` steps), and the clock's own
 * per-step work timed alone (the A/B difference is within the noise of a shared machine). Target: ≤ 5%.
 *
 *   npx tsx bench/sim-overhead.ts [--blocks 6] [--steps 25] [--compute-workers 2]
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { loadMachine } from '../compiler/machine.ts';
import { compileGraph } from '../compiler/pipeline.ts';
import { firstBatch, loadModelDir, signatureOf, traceModel } from '../host/model-dir.ts';
import { SupportServer } from '../host/input/support-server.ts';
import type { Batch } from '../runtime/batch.ts';
import { SimClock } from '../wafer-sim/clock.ts';
import { clearSimCache } from '../wafer-sim/sim/index.ts';
import { Wafer } from '../wafer-sim/wafer.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({ options: { blocks: { type: 'string', default: '6' }, steps: { type: 'string', default: '25' }, 'compute-workers': { type: 'string' } } });
const blocks = Number(values.blocks);
const steps = Number(values.steps);

const md = await loadModelDir(path.join(root, 'examples/mnist'));
const machine = loadMachine(md.params.runconfig.machine, md.dir);
const first = await firstBatch(md, 'train');
const graph = traceModel(md, 'train', signatureOf(first, md.dataFile));
const plan = compileGraph(graph, machine, { batchSize: first.features.image.shape[0] }).plan!;
const server = await SupportServer.start({ dataModule: md.dataFile, params: md.params, mode: 'train' });
const batches: Batch[] = [];
for (let i = 0; i < steps; i++) batches.push((await server.next()).value as Batch);
await server.close();
const copy = (b: Batch): Batch => structuredClone(b);

const wafers = {
  on: await Wafer.load(plan, graph, machine, { computeWorkers: Number(values['compute-workers'] ?? 0), simulate: true }),
  off: await Wafer.load(plan, graph, machine, { computeWorkers: Number(values['compute-workers'] ?? 0), simulate: false }),
};
const ms = { on: [] as number[], off: [] as number[] };
let step = 0;
for (const w of Object.values(wafers)) for (let i = 0; i < 5; i++) await w.trainStep(copy(batches[i]), i); // warm-up
for (let b = 0; b < blocks; b++) {
  for (const mode of (b % 2 === 0 ? ['on', 'off'] : ['off', 'on']) as ('on' | 'off')[]) {
    const t0 = performance.now();
    for (let i = 0; i < steps; i++) await wafers[mode].trainStep(copy(batches[i]), step + i);
    ms[mode].push((performance.now() - t0) / steps);
  }
  step += steps;
}
await Promise.all(Object.values(wafers).map((w) => w.close()));
const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;
const on = mean(ms.on);
const off = mean(ms.off);
console.log(`examples/mnist, batch 64, ${wafers.on.computeWorkers} compute workers, ${blocks} alternating blocks of ${steps} steps`);
console.log(`step time, bookkeeping on : ${on.toFixed(2)} ms  (blocks: ${ms.on.map((x) => x.toFixed(1)).join(' ')})`);
console.log(`step time, bookkeeping off: ${off.toFixed(2)} ms  (blocks: ${ms.off.map((x) => x.toFixed(1)).join(' ')})`);
console.log(`per-step overhead: ${(100 * (on / off - 1)).toFixed(2)}%  (target ≤ 5%)`);
const once: number[] = [];
for (let i = 0; i < 3; i++) {
  clearSimCache();
  const t0 = performance.now();
  new SimClock(plan, { simLevel: 'flow' });
  once.push(performance.now() - t0);
}
const oneOff = once.sort((a, b) => a - b)[1];
// The clock's own work per step (a cached batch time and the route-byte sums), timed alone: free of the
// noise of the A/B step times on a shared machine.
const clock = new SimClock(plan, { simLevel: 'flow' });
const traffic = { forward: plan.routes.map(() => 1000), backward: plan.routes.map(() => 1000) };
const reps = 100_000;
const t1 = performance.now();
for (let i = 0; i < reps; i++) clock.advance(plan.batchSize, traffic);
const perAdvance = (performance.now() - t1) / reps;
console.log(`clock.advance per step: ${(1000 * perAdvance).toFixed(2)} µs = ${((100 * perAdvance) / off).toFixed(4)}% of a step`);
const runSteps = md.params.runconfig.max_steps ?? 1;
console.log(`one-off flow simulation of batch ${plan.batchSize}: ${oneOff.toFixed(0)} ms (median of 3) = ${((100 * oneOff) / (runSteps * off)).toFixed(3)}% of a ${runSteps}-step run; total overhead ${(100 * ((on * runSteps + oneOff) / (off * runSteps) - 1)).toFixed(2)}%`);
