/**
 * The result of a timing simulation (docs/design.md §10), as plain JSON for `sim/utilization.json`,
 * `sim/links.json` and `sim/trace.json`: batch time and rates, the bottleneck with its kind, per-kernel
 * pass counters and SRAM high-water, per-route bytes, per-port traffic, the critical path of the actual event
 * chain and the Chrome trace. Built from a finished {@link PipelineSim} by {@link buildResult}.
 *
 * ## Bottleneck rule
 * The critical path is walked back from the last completion through each record's cause (the condition its
 * start waited for last); each step is charged the time until the next step starts. Then:
 * 1. a stash above its SRAM budget → `stash` (the plan cannot run as timed);
 * 2. ≥ 2 credit waits on the path and no resource holding half of its time → `credits`, named by the
 *    edge whose receive slots were waited for most;
 * 3. otherwise the resource holding the most path time: a pass → `kernel`, a stream's injection → `link`
 *    (the port that limited its rate for the most cycles, or else its own busiest port, a fabric link on ties), the host → `ingress` / `egress`.
 *
 * Units: cycles (rates in samples/s at `machine.clockHz`), bytes, words (`machine.wordBytes`), µs in the trace.
 */
import type { PassKind } from '../../compiler/pass-graph.ts';
import type { SimLevel } from '../../runtime/params.ts';
import type { PipelineSim } from './core.ts';
import { Rec, VIA, Via } from './events.ts';
import { PORTS_PER_PE, portLabel, portName, portTraffic, WAVELET_BYTES, type PortDir } from './network.ts';

/** What bounds the simulated rate. */
export type BottleneckKind = 'kernel' | 'link' | 'ingress' | 'egress' | 'credits' | 'stash';

/** Counters of one pass over the batch, cycles (busy + starved + blocked + fill + drain = batch cycles). */
export interface PassSim {
  kind: PassKind;
  busyCycles: number;
  /** Idle after its first sample, waiting for an input (or its forward pass). */
  starvedCycles: number;
  /** Idle with its input ready, waiting for an output to be handed to the fabric (credit or stream queue). */
  blockedCycles: number;
  /** Before its first sample started. */
  fillCycles: number;
  /** After its last sample finished, until the batch ended. */
  drainCycles: number;
  /** busy / batch cycles. */
  utilization: number;
}

/** One kernel's passes and SRAM (words per PE). */
export interface KernelSim {
  name: string;
  op: string;
  passes: PassSim[];
  sramWordsPerPe: number;
  /** The plan's memory (weights and working set). */
  memoryWordsPerPe: number;
  /** Receive slots of each input edge (samples; null: unbounded). */
  receiveSlots: number | null;
  /** Words per PE allocated to the extra receive slots. */
  bufferWordsPerPe: number;
  /** TRAIN stash: words per PE per sample, the most samples held, and that in words per PE. */
  stashWordsPerSample: number;
  stashHighWaterSamples: number;
  stashHighWaterWordsPerPe: number;
  /** memory + the most that queued inputs and the stash held at one time. */
  sramHighWaterWordsPerPe: number;
}

/** Traffic of one plan route over the batch (forward activations, TRAIN gradients back). */
export interface RouteSim {
  route: number;
  from: string;
  to: string;
  tensor: string;
  bytesPerSample: number;
  bytesForward: number;
  bytesBackward: number;
}

/** One port's traffic over the batch. */
export interface LinkSim {
  x: number;
  y: number;
  dir: PortDir;
  bytes: number;
  /** Cycles it carried a wavelet: wavelets / (linkBitsPerCycle / 32). */
  busyCycles: number;
  /** busy / batch cycles. */
  utilization: number;
}

/** Every used fabric link, coarsened for a heat map: cells of `cellPes × cellPes` PEs (row-major, `cols ×
 * rows`), each the highest utilization of a link leaving one of its PEs (0 where none is used). */
export interface LinkHeat {
  cellPes: number;
  cols: number;
  rows: number;
  maxUtilization: number[];
}

/** Cells per side of a {@link LinkHeat} at most (ASSUMPTION: enough to see routes on a WSE-2 drawing). */
export const LINK_HEAT_CELLS = 150;

/**
 * The heat grid of a fabric's links.
 * @param each calls its argument with every used link's PE and utilization (0…1).
 */
export function linkHeat(width: number, height: number, each: (visit: (x: number, y: number, utilization: number) => void) => void): LinkHeat {
  const cellPes = Math.max(1, Math.ceil(Math.max(width, height) / LINK_HEAT_CELLS));
  const cols = Math.ceil(width / cellPes);
  const rows = Math.ceil(height / cellPes);
  const max = new Array<number>(cols * rows).fill(0);
  each((x, y, u) => {
    const i = Math.floor(y / cellPes) * cols + Math.floor(x / cellPes);
    if (u > max[i]) max[i] = u;
  });
  return { cellPes, cols, rows, maxUtilization: max };
}

/** A run of consecutive records of one resource on the critical path. */
export interface CriticalStep {
  kind: 'pass' | 'transfer' | 'latency' | 'ingress' | 'egress';
  /** Kernel, stream or `host`. */
  name: string;
  pass?: PassKind;
  /** First and last sample of the run, and the number of records. */
  samples: [number, number];
  count: number;
  startCycle: number;
  endCycle: number;
  /** Path time charged to the run (until the next run starts). */
  cycles: number;
  /** How the run's first record waited for the previous run. */
  via: (typeof VIA)[number];
}

/** A plan error found by the simulation (reported, not thrown). */
export interface SimError {
  kind: 'stash' | 'memory';
  kernel: string;
  message: string;
}

/** One Chrome trace event (microseconds of simulated time). */
export interface TraceEvent {
  name: string;
  ph: 'X' | 'M' | 's' | 'f';
  pid: number;
  tid: number;
  ts?: number;
  dur?: number;
  cat?: string;
  id?: number;
  bp?: 'e';
  args?: Record<string, unknown>;
}

/** A Chrome trace-event document (loads in Perfetto). */
export interface TraceDoc {
  traceEvents: TraceEvent[];
  displayTimeUnit: 'ns';
  otherData: Record<string, unknown>;
}

/** The result of one simulated batch. */
export interface SimResult {
  /** `analytic` only for the estimate restated (wafer-sim/analytic.ts). */
  simLevel: SimLevel;
  transfer: 'chunked' | 'whole';
  buffers: 'sram' | 'unbounded';
  /** Host I/O bytes/s per direction used (Infinity: free). */
  ioBytesPerS: number;
  planHash: string;
  mode: string;
  machine: string;
  batchSize: number;
  /** Cycles from the batch's start to its last sample's completion. */
  batchCycles: number;
  /** Completion cycle of the first sample. */
  firstSampleLatencyCycles: number;
  /** Mean spacing of completions over the batch's second half (cycles; the batch cycles when B = 1). */
  steadyIntervalCycles: number;
  /** `B · clockHz / batchCycles`. */
  samplesPerS: number;
  /** `clockHz / steadyIntervalCycles`. */
  steadySamplesPerS: number;
  bottleneck: { kind: BottleneckKind; name: string; pass?: PassKind };
  errors: SimError[];
  kernels: KernelSim[];
  routes: RouteSim[];
  /** Hottest ports first (at most `maxLinks`), and the number of ports used. */
  links: LinkSim[];
  linksUsed: number;
  /** All used fabric links, coarsened (links.svg). */
  linkHeat: LinkHeat;
  io: { ingressBytesPerSample: number; egressBytesPerSample: number; ingressBusyCycles: number; egressBusyCycles: number };
  criticalPath: CriticalStep[];
  trace: TraceDoc | null;
  /** Data-parallel replicas of a multi-replica plan (absent: one): kernels, routes and links above are one
   * replica's, each with ⌈batchSize / replicas⌉ samples; `batchCycles` and the rates are the whole wafer's. */
  replicas?: number;
  /** Cycles of the gradient all-reduce included in `batchCycles` (multi-replica TRAIN plans). */
  allreduceCycles?: number;
}

/** Assembles the result of a finished simulation. */
export function buildResult(sim: PipelineSim, meta: { simLevel: SimResult['simLevel']; transfer: SimResult['transfer']; ioBytesPerS: number; maxLinks: number; trace: boolean }): SimResult {
  const { plan, graph, net, B } = sim;
  const m = plan.machine;
  const batch = sim.sampleDone[B - 1];
  const h = Math.floor((B - 1) / 2);
  const interval = B > 1 ? (sim.sampleDone[B - 1] - sim.sampleDone[h]) / (B - 1 - h) : batch;
  const words = (bytes: number) => bytes / m.wordBytes;
  const errors: SimError[] = [];
  const kernels: KernelSim[] = plan.kernels.map((k, ki) => {
    const ks = sim.kernelSram[ki];
    const sram = m.sramBytesPerPe;
    if (ks.spareBytes < 0) errors.push({ kind: 'memory', kernel: k.name, message: `kernel '${k.name}' needs ${k.memoryWordsPerPe} words per PE, more than the ${words(sram)} of SRAM` });
    const stashHigh = ks.stashHigh * ks.stashBytesPerSample;
    const high = k.memoryWordsPerPe + words(ks.dynamicHigh);
    if (ks.spareBytes >= 0 && stashHigh > 0 && high > words(sram) + 1e-9) {
      errors.push({ kind: 'stash', kernel: k.name, message: `kernel '${k.name}': the TRAIN stash (up to ${ks.stashHigh} samples, ${words(stashHigh).toFixed(1)} words per PE) with its queued inputs raises SRAM use to ${high.toFixed(1)} words per PE, more than the ${words(sram)} available` });
    }
    const passes = [graph.forward[ki], graph.backward[ki], graph.weight[ki]].flatMap((j) => {
      if (j === null) return [];
      const c = sim.counters[j];
      return [{ kind: graph.passes[j].kind, busyCycles: c.busy, starvedCycles: c.starved, blockedCycles: c.blocked, fillCycles: c.fill, drainCycles: batch - c.lastEnd, utilization: batch > 0 ? c.busy / batch : 0 }];
    });
    return {
      name: k.name, op: k.op, passes, sramWordsPerPe: words(m.sramBytesPerPe), memoryWordsPerPe: k.memoryWordsPerPe,
      receiveSlots: Number.isFinite(ks.slots) ? ks.slots : null, bufferWordsPerPe: words(ks.bufferBytes),
      stashWordsPerSample: words(ks.stashBytesPerSample), stashHighWaterSamples: ks.stashHigh, stashHighWaterWordsPerPe: words(stashHigh),
      sramHighWaterWordsPerPe: k.memoryWordsPerPe + words(ks.dynamicHigh),
    };
  });
  const routes: RouteSim[] = plan.routes.map((r, i) => {
    const f = net.forwardStream[i];
    const b = net.backwardStream[i];
    return { route: i, from: r.from, to: r.to, tensor: r.tensor, bytesPerSample: r.bytesPerSample, bytesForward: f >= 0 ? sim.transfers[f] * r.bytesPerSample : 0, bytesBackward: b !== null ? sim.transfers[b] * r.bytesPerSample : 0 };
  });
  const wpc = m.linkBitsPerCycle / 32;
  const traffic = portTraffic(net, sim.transfers, meta.maxLinks);
  const links = traffic.ports.map(({ port, wavelets }) => ({ ...portName(port, net.width, net.height), bytes: wavelets * WAVELET_BYTES, busyCycles: wavelets / wpc, utilization: batch > 0 ? wavelets / wpc / batch : 0 }));
  const heat = linkHeat(net.width, net.height, (visit) => traffic.fabricWavelets((x, y, w) => visit(x, y, batch > 0 ? w / wpc / batch : 0)));
  const path = eventChain(sim);
  return {
    simLevel: meta.simLevel, transfer: meta.transfer, buffers: sim.opts.buffers, ioBytesPerS: meta.ioBytesPerS,
    planHash: plan.hash, mode: plan.mode, machine: m.name, batchSize: B,
    batchCycles: batch, firstSampleLatencyCycles: sim.sampleDone[0], steadyIntervalCycles: interval,
    samplesPerS: (B * m.clockHz) / batch, steadySamplesPerS: m.clockHz / interval,
    bottleneck: bottleneck(sim, path, errors), errors, kernels, routes, links, linksUsed: traffic.used, linkHeat: heat,
    io: { ingressBytesPerSample: graph.ingressBytesPerSample, egressBytesPerSample: graph.egress.reduce((s, e) => s + e.bytesPerSample, 0), ingressBusyCycles: sim.ingressBusy, egressBusyCycles: sim.egressBusy },
    criticalPath: path.steps,
    trace: meta.trace ? trace(sim, meta.simLevel) : null,
  };
}

interface PathInfo {
  steps: CriticalStep[];
  /** Path time per resource key (`p<pass>`, `s<stream>`, `ingress`, `egress`). */
  time: Map<string, number>;
  /** Credit waits per input-edge label. */
  credits: Map<string, number>;
  total: number;
}

/** Walks the causes back from the last completion (module doc). */
function eventChain(sim: PipelineSim): PathInfo {
  const L = sim.log;
  const recs: number[] = [];
  for (let r = sim.lastRec; r >= 0; r = L.cause[r]) recs.push(r);
  recs.reverse();
  const { plan, graph, net } = sim;
  const steps: CriticalStep[] = [];
  const time = new Map<string, number>();
  const credits = new Map<string, number>();
  let prevKey = '';
  recs.forEach((r, i) => {
    const until = i + 1 < recs.length ? L.start[recs[i + 1]] : L.end[r];
    const cycles = Math.max(0, until - L.start[r]);
    const a = L.a[r];
    let key: string;
    let step: Omit<CriticalStep, 'samples' | 'count' | 'startCycle' | 'endCycle' | 'cycles' | 'via'>;
    switch (L.kind[r]) {
      case Rec.Pass:
        key = `p${a}`;
        step = { kind: 'pass', name: graph.passes[a].name, pass: graph.passes[a].kind };
        break;
      case Rec.Inject:
        key = `s${a}`;
        step = { kind: 'transfer', name: net.streams[a].name };
        break;
      case Rec.Deliver:
        key = `d${a}:${L.b[r]}`;
        step = { kind: 'latency', name: net.streams[a].name };
        break;
      default:
        key = L.kind[r] === Rec.Ingress ? 'ingress' : 'egress';
        step = { kind: key === 'ingress' ? 'ingress' : 'egress', name: 'host' };
    }
    if (L.kind[r] !== Rec.Deliver) time.set(key, (time.get(key) ?? 0) + cycles);
    if (L.via[r] === Via.Credit && L.kind[r] === Rec.Inject) {
      const cause = L.cause[r];
      const kernel = graph.passes[L.a[cause]].kernel;
      const ie = net.streams[a].routes.map((ri) => sim.inEdge(a, ri)).find((e) => e.kernel === kernel);
      const rt = plan.routes[ie?.route ?? net.streams[a].routes[0]];
      const label = `${rt.from} → ${rt.to}`;
      credits.set(label, (credits.get(label) ?? 0) + 1);
    }
    const last = steps[steps.length - 1];
    if (last && key === prevKey) {
      last.samples[1] = L.sample[r];
      last.count++;
      last.endCycle = L.end[r];
      last.cycles += cycles;
    } else steps.push({ ...step, samples: [L.sample[r], L.sample[r]], count: 1, startCycle: L.start[r], endCycle: L.end[r], cycles, via: VIA[L.via[r]] });
    prevKey = key;
  });
  const total = [...time.values()].reduce((s, v) => s + v, 0);
  return { steps, time, credits, total };
}

function bottleneck(sim: PipelineSim, path: PathInfo, errors: SimError[]): SimResult['bottleneck'] {
  const stash = errors.find((e) => e.kind === 'stash');
  if (stash) return { kind: 'stash', name: stash.kernel };
  let top = '';
  let topTime = -1;
  for (const [k, v] of path.time) {
    if (v > topTime) [top, topTime] = [k, v];
  }
  const creditWaits = [...path.credits.values()].reduce((s, v) => s + v, 0);
  if (creditWaits >= 2 && topTime < 0.5 * path.total) {
    const [name] = [...path.credits.entries()].sort((a, b) => b[1] - a[1])[0];
    return { kind: 'credits', name };
  }
  if (top === 'ingress' || top === 'egress') return { kind: top, name: 'host' };
  const id = Number(top.slice(1));
  if (top.startsWith('p')) return { kind: 'kernel', name: sim.graph.passes[id].name, pass: sim.graph.passes[id].kind };
  const { net } = sim;
  let port = sim.transport.limitingPort(id);
  if (port < 0) {
    const s = net.streams[id];
    // its busiest port, a fabric link rather than a ramp on ties
    const fabric = (l: number) => l < PORTS_PER_PE * net.width * net.height && l % PORTS_PER_PE < 4;
    let best = -1;
    s.counts.forEach((c, j) => {
      if (c > best || (c === best && fabric(s.links[j]) && !fabric(port))) [best, port] = [c, s.links[j]];
    });
  }
  return { kind: 'link', name: port >= 0 ? portLabel(port, net.width, net.height) : net.streams[id].name };
}

/** The Chrome trace of the batch: pass spans per kernel pass, stream injections, host I/O, sample flows. */
function trace(sim: PipelineSim, level: string): TraceDoc {
  const { plan, graph, net, log: L, B } = sim;
  const us = (c: number) => (c / plan.machine.clockHz) * 1e6;
  const ev: TraceEvent[] = [
    { name: 'process_name', ph: 'M', pid: 1, tid: 0, args: { name: `wafer ${plan.machine.name} (${plan.mode}, ${level})` } },
    { name: 'process_name', ph: 'M', pid: 2, tid: 0, args: { name: 'fabric streams' } },
    { name: 'process_name', ph: 'M', pid: 3, tid: 0, args: { name: 'host I/O' } },
    { name: 'thread_name', ph: 'M', pid: 3, tid: 1, args: { name: 'ingress' } },
    { name: 'thread_name', ph: 'M', pid: 3, tid: 2, args: { name: 'egress' } },
  ];
  graph.passes.forEach((p, j) => {
    ev.push({ name: 'thread_name', ph: 'M', pid: 1, tid: j + 1, args: { name: `${p.name} ${p.kind}` } });
    ev.push({ name: 'thread_sort_index', ph: 'M', pid: 1, tid: j + 1, args: { sort_index: p.kernel * 3 + (p.kind === 'forward' ? 0 : p.kind === 'backward' ? 1 : 2) } });
  });
  net.streams.forEach((s, k) => ev.push({ name: 'thread_name', ph: 'M', pid: 2, tid: k + 1, args: { name: s.name } }));
  const span = (r: number): { pid: number; tid: number } => {
    switch (L.kind[r]) {
      case Rec.Pass:
        return { pid: 1, tid: L.a[r] + 1 };
      case Rec.Inject:
        return { pid: 2, tid: L.a[r] + 1 };
      default:
        return { pid: 3, tid: L.kind[r] === Rec.Ingress ? 1 : 2 };
    }
  };
  for (let r = 0; r < L.kind.length; r++) {
    if (L.kind[r] === Rec.Deliver) continue;
    const name = L.kind[r] === Rec.Pass ? `${graph.passes[L.a[r]].name} ${graph.passes[L.a[r]].kind}` : L.kind[r] === Rec.Inject ? net.streams[L.a[r]].name : L.kind[r] === Rec.Ingress ? 'ingress' : 'egress';
    ev.push({ name, cat: L.kind[r] === Rec.Pass ? graph.passes[L.a[r]].kind : 'io', ph: 'X', ...span(r), ts: us(L.start[r]), dur: us(L.end[r] - L.start[r]), args: { sample: L.sample[r] } });
  }
  // per-sample flows: producer span → consumer spans, for every delivery
  let id = 0;
  for (let r = 0; r < L.kind.length; r++) {
    if (L.kind[r] !== Rec.Deliver) continue;
    const k = L.a[r];
    const s = L.sample[r];
    const src = sim.streamSource(k);
    const from = src >= 0 ? sim.passRecord(src, s) : sim.ingressRecord(s);
    const ts = us(L.start[from] + 0.999 * (L.end[from] - L.start[from]));
    for (const c of sim.inEdge(k, L.b[r]).consumers) {
      const to = sim.passRecord(c, s);
      id++;
      ev.push({ name: `sample ${s}`, cat: 'sample', ph: 's', id, ...span(from), ts });
      ev.push({ name: `sample ${s}`, cat: 'sample', ph: 'f', bp: 'e', id, ...span(to), ts: us(L.start[to]) });
    }
  }
  return { traceEvents: ev, displayTimeUnit: 'ns', otherData: { machine: plan.machine.name, mode: plan.mode, sim_level: level, batch_size: B, plan_hash: plan.hash } };
}
