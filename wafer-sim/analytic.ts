/**
 * `sim_level: analytic` (docs/design.md §10): the compiler's estimate (compiler/estimate.ts) stated in the
 * shape of a simulation result, so that the clock, `model_dir/sim/` and `csrun report` treat all three
 * levels alike. A batch of B samples takes `fill + (B − 1) · interval`; kernel k is busy
 * `cyclesPerSample_k · B` cycles of it from the cycle its first sample arrives (`kernelStartCycles`) and is
 * starved for the rest of its active window; links carry the estimate's per-link bytes (compiler/fabric.ts
 * `linkLoads`, multicast rule included); the critical path is the estimate's (kernels in order). Nothing here
 * is simulated: there are no credits, no stash and no host I/O time.
 */
import { batchCycles, criticalPath, kernelBusyCycles, kernelStartCycles } from '../compiler/estimate.ts';
import { DIRS, linkLoads } from '../compiler/fabric.ts';
import type { Plan } from '../compiler/ir.ts';
import { linkBytesPerCycle } from '../compiler/machine.ts';
import { passGraph } from '../compiler/pass-graph.ts';
import { linkHeat, type BottleneckKind, type CriticalStep, type LinkSim, type SimResult, type TraceEvent } from './sim/index.ts';

/**
 * The analytic model of one batch as a {@link SimResult} (`simLevel: 'analytic'`).
 * @param plan a compiled plan (its estimate, kernels, edges and routes).
 * @param batchSize samples in the batch, an integer ≥ 1.
 * @param maxLinks links listed at most, hottest first (default 1000).
 * @throws RangeError for a batch size < 1.
 */
export function analyticResult(plan: Plan, batchSize: number, maxLinks = 1000): SimResult {
  const B = batchSize;
  const e = plan.estimate;
  const m = plan.machine;
  const batch = batchCycles(e, B);
  const starts = kernelStartCycles(plan.kernels, plan.edges, plan.routes, m.hopLatencyCycles);
  const graph = passGraph(plan);
  const words = (bytes: number) => bytes / m.wordBytes;
  const kernels = plan.kernels.map((k, i) => {
    const busy = kernelBusyCycles(k, B);
    const fill = Math.min(batch, starts[i]);
    const drain = Math.max(0, batch - fill - ((B - 1) * e.intervalCycles + k.cyclesPerSample));
    const pass = { kind: 'forward' as const, busyCycles: busy, starvedCycles: Math.max(0, batch - busy - fill - drain), blockedCycles: 0, fillCycles: fill, drainCycles: drain, utilization: busy / batch };
    return {
      name: k.name, op: k.op, passes: [pass], sramWordsPerPe: words(m.sramBytesPerPe), memoryWordsPerPe: k.memoryWordsPerPe, receiveSlots: null, bufferWordsPerPe: 0,
      stashWordsPerSample: 0, stashHighWaterSamples: 0, stashHighWaterWordsPerPe: 0, sramHighWaterWordsPerPe: k.memoryWordsPerPe,
    };
  });
  const train = plan.mode === 'train';
  const kernelNames = new Set(plan.kernels.map((k) => k.name));
  const routes = plan.routes.map((r, i) => ({
    route: i, from: r.from, to: r.to, tensor: r.tensor, bytesPerSample: r.bytesPerSample, bytesForward: r.bytesPerSample * B,
    bytesBackward: train && r.backward && kernelNames.has(r.from) ? r.bytesPerSample * B : 0,
  }));
  const { width, height } = m.fabric;
  const loads = linkLoads(plan.routes, width, height, train);
  const used: number[] = [];
  loads.forEach((v, i) => v > 0 && used.push(i));
  used.sort((a, b) => loads[b] - loads[a]);
  const bpc = linkBytesPerCycle(m);
  const links: LinkSim[] = used.slice(0, maxLinks).map((i) => {
    const d = i % 4;
    const pe = (i - d) / 4;
    const bytes = loads[i] * B;
    return { x: pe % width, y: Math.floor(pe / width), dir: DIRS[d], bytes, busyCycles: bytes / bpc, utilization: bytes / bpc / batch };
  });
  const cp = criticalPath(plan.kernels, plan.edges, plan.routes, m.hopLatencyCycles);
  const index = new Map(plan.kernels.map((k, i) => [k.name, i]));
  const path: CriticalStep[] = cp.path.map((name) => {
    const i = index.get(name)!;
    const k = plan.kernels[i];
    return { kind: 'pass', name, pass: 'forward', samples: [0, 0], count: 1, startCycle: starts[i], endCycle: starts[i] + k.cyclesPerSample, cycles: k.cyclesPerSample, via: 'input' };
  });
  const linkBound = e.bottleneck.startsWith('link ');
  const bottleneck: { kind: BottleneckKind; name: string } = linkBound ? { kind: 'link', name: e.bottleneck.slice(5) } : { kind: 'kernel', name: e.bottleneck };
  const us = (c: number) => (c / m.clockHz) * 1e6;
  const trace: TraceEvent[] = [{ name: 'process_name', ph: 'M', pid: 1, tid: 0, args: { name: `wafer ${m.name} (${plan.mode}, analytic)` } }];
  plan.kernels.forEach((k, i) => {
    trace.push({ name: 'thread_name', ph: 'M', pid: 1, tid: i + 1, args: { name: `${k.name} (${k.op})` } });
    trace.push({ name: k.name, cat: plan.mode, ph: 'X', pid: 1, tid: i + 1, ts: us(starts[i]), dur: us((B - 1) * e.intervalCycles + k.cyclesPerSample), args: { samples: B, busy_cycles: kernels[i].passes[0].busyCycles } });
  });
  return {
    simLevel: 'analytic', transfer: 'whole', buffers: 'unbounded', ioBytesPerS: Infinity, planHash: plan.hash, mode: plan.mode, machine: m.name, batchSize: B,
    batchCycles: batch, firstSampleLatencyCycles: e.fillCycles, steadyIntervalCycles: e.intervalCycles, samplesPerS: (B * m.clockHz) / batch, steadySamplesPerS: m.clockHz / e.intervalCycles,
    bottleneck, errors: [], kernels, routes, links, linksUsed: used.length,
    linkHeat: linkHeat(width, height, (visit) => used.forEach((i) => visit(((i - (i % 4)) / 4) % width, Math.floor((i - (i % 4)) / 4 / width), (loads[i] * B) / bpc / batch))),
    io: { ingressBytesPerSample: graph.ingressBytesPerSample, egressBytesPerSample: graph.egress.reduce((s, x) => s + x.bytesPerSample, 0), ingressBusyCycles: 0, egressBusyCycles: 0 },
    criticalPath: path,
    trace: { traceEvents: trace, displayTimeUnit: 'ns', otherData: { machine: m.name, mode: plan.mode, sim_level: 'analytic', batch_size: B, plan_hash: plan.hash } },
  };
}
