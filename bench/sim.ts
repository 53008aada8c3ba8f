/**
 * Timing-simulation benchmark (not a test): `npx tsx bench/sim.ts`.
 *
 * 1. Flow engine on examples/resnet50 TRAIN on WSE-2 at batch 64 (target < 1 s per (plan, batch)), cold and
 *    warm (median of 3, cache cleared), with and without the Chrome trace; and on every example's plan at
 *    its batch size, beside the compile estimate.
 * 2. Wavelet engine on 64 × 64 fabrics (configs/tiny.yaml's size): router-port updates per second (target
 *    ≥ 2·10⁷; an update is one port with a started transfer through it, evaluated for one cycle), over seeded
 *    random DAGs placed and routed by the compiler; per wall-clock second and per CPU second (the machine
 *    may be shared).
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadMachine } from '../compiler/machine.ts';
import { passGraph } from '../compiler/pass-graph.ts';
import { compileGraph } from '../compiler/pipeline.ts';
import { traceModelDir } from '../host/model-dir.ts';
import { randomPlan } from '../test/wafer-sim/random-dags.ts';
import { PipelineSim } from '../wafer-sim/sim/core.ts';
import { clearSimCache, simulate } from '../wafer-sim/sim/index.ts';
import { buildNetwork } from '../wafer-sim/sim/network.ts';
import { WaveletTransport } from '../wafer-sim/sim/wavelet.ts';
import { table } from './lib.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const n = (x: number, d = 0) => x.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
const machine = loadMachine('wse2');

async function plan(example: string, mode: 'train' | 'eval', batchSize?: number) {
  const t = await traceModelDir(path.join(root, 'examples', example), { mode });
  return compileGraph(t.graph, machine, { batchSize: batchSize ?? t.firstBatchRows }).plan!;
}

/** Wall ms of `f`, and its CPU ms (user + system of this process: what a loaded, shared machine does not
 * inflate) as `timed.cpu`. */
function timed(f: () => void): number {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  f();
  const c = process.cpuUsage(c0);
  timed.cpu = (c.user + c.system) / 1000;
  return performance.now() - t0;
}
timed.cpu = 0;

async function benchFlow(): Promise<void> {
  const p = await plan('resnet50', 'train', 64);
  const run = (trace: boolean): [number, number] => {
    clearSimCache();
    const wall = timed(() => simulate(p, { batchSize: 64, trace }));
    return [wall, timed.cpu];
  };
  const cold = run(true);
  const pair = (xs: [number, number][]) => `${n(median(xs.map((x) => x[0])))} (${n(median(xs.map((x) => x[1])))})`;
  const warm = pair([run(true), run(true), run(true)]);
  const warmNoTrace = pair([run(false), run(false), run(false)]);
  const r = simulate(p, { batchSize: 64 });
  console.log('\nFlow engine, ResNet-50 TRAIN on WSE-2, batch 64 (target < 1000 ms)');
  console.log(table(['run', 'wall ms (CPU ms)'], [['cold (first call, trace)', pair([cold])], ['warm, trace (median of 3)', warm], ['warm, no trace (median of 3)', warmNoTrace]]));
  console.log(`  ${p.kernels.length} kernels, ${passGraph(p).passes.length} passes, ${r.trace!.traceEvents.length} trace events, ${n(r.linksUsed)} ports used`);

  const rows: string[][] = [];
  for (const ex of ['mnist', 'fc_mnist', 'alexnet_params', 'resnet50']) {
    for (const mode of ['train', 'eval'] as const) {
      const q = await plan(ex, mode);
      clearSimCache();
      let s = simulate(q, { batchSize: q.batchSize, trace: false });
      const ms = timed(() => {
        clearSimCache();
        s = simulate(q, { batchSize: q.batchSize, trace: false });
      });
      const diff = (s.samplesPerS / q.estimate.samplesPerS - 1) * 100;
      rows.push([`${ex} ${mode}`, String(q.batchSize), n(q.estimate.samplesPerS), n(s.samplesPerS), `${diff >= 0 ? '+' : ''}${diff.toFixed(1)}%`, `${s.bottleneck.kind} ${s.bottleneck.name}`, s.errors.length ? s.errors.map((e) => e.kernel).join(' ') : '-', n(ms)]);
    }
  }
  console.log('\nFlow engine on the examples (WSE-2, each plan at its batch size)');
  console.log(table(['plan', 'B', 'estimate samples/s', 'simulated samples/s', 'diff', 'bottleneck', 'stash errors', 'ms'], rows));
}

function benchWavelet(): void {
  const tiny = loadMachine(path.join(root, 'configs/tiny.yaml'));
  let updates = 0;
  let wavelets = 0;
  let cycles = 0;
  let ms = 0;
  let cpuMs = 0;
  for (let seed = 1; seed <= 12; seed++) {
    const p = randomPlan(seed, tiny.fabric.width, 64);
    const g = passGraph(p);
    const net = buildNetwork(p, g);
    const sim = new PipelineSim(p, g, net, { batchSize: 64, buffers: 'sram', ioBytesPerCycle: tiny.ioBytesPerS! / tiny.clockHz, bufferShare: p.mode === 'train' ? 0.5 : 1 });
    const tr = new WaveletTransport(net, 64, p.machine.hopLatencyCycles, sim);
    const cpu = process.cpuUsage();
    ms += timed(() => sim.run(tr));
    cpuMs += process.cpuUsage(cpu).user / 1000;
    updates += tr.portUpdates;
    wavelets += tr.wavelets;
    cycles += sim.sampleDone[63];
  }
  console.log('\nWavelet engine, 12 random DAGs on 64 × 64, batch 64 (target ≥ 2e7 router-port updates/s)');
  console.log(table(['figure', 'value'], [
    ['simulated cycles', n(cycles)],
    ['router-port updates', n(updates)],
    ['wavelets moved', n(wavelets)],
    ['wall ms (CPU ms)', `${n(ms)} (${n(cpuMs)})`],
    ['router-port updates/s, wall (per CPU second)', `${n((updates / ms) * 1000)} (${n((updates / cpuMs) * 1000)})`],
    ['wavelets/s, wall (per CPU second)', `${n((wavelets / ms) * 1000)} (${n((wavelets / cpuMs) * 1000)})`],
  ]));
}

await benchFlow();
benchWavelet();
process.exit(0);
