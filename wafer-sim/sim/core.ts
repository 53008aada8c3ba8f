/**
 * The pipeline semantics both simulation engines share (docs/design.md §10): kernel passes as in-order
 * servers, receive buffers with credits, the TRAIN activation stash, and the host's ingress and egress. The
 * engines differ only in their {@link Transport}, which moves a stream's wavelets over the fabric (flow.ts:
 * fluid rates; wavelet.ts: cycle by cycle).
 *
 * ## Rules (units: cycles, bytes, words)
 * - **Passes** (compiler/pass-graph.ts) serve samples 0 … B−1 in order, `cyclesPerSample` each. A pass starts
 *   sample s when (1) it finished s − 1, (2) the whole input of s arrived on every input edge (no
 *   cut-through: a kernel computes on a complete tensor, as the analytic model of docs/design.md §7 assumes),
 *   (3) its local dependency finished s (B_k and W_k need F_k's stash), and (4) every output of s − 1 has been
 *   handed to the fabric (one output per stream may wait in the producer's SRAM; a pass waiting for that is
 *   *blocked*; one waiting for input is *starved*).
 * - **Streams** (network.ts) carry one transfer per sample, in order; transfer s starts when its producer
 *   finished s (or the host's ingress delivered s), transfer s − 1 has left the source (one injection at a
 *   time, FIFO), and every destination has a free receive slot (credit), which it reserves.
 * - **Receive buffers**: an input edge (stream, route) at kernel k holds whole samples. The sample in service
 *   lives in the kernel's working set (`memoryWordsPerPe`), so every edge has 1 slot plus extra slots from
 *   the SRAM its PEs have spare: `spare = sramBytesPerPe − memoryWordsPerPe · wordBytes`; the receive buffers
 *   get `bufferShare · spare` (TRAIN 0.5: the rest is the stash's; otherwise 1), split so every input edge
 *   of the kernel gets the same number of extra slots, `⌊budget / Σ edge bytes per PE⌋`, at most B − 1. An
 *   edge's bytes per PE are its bytes per sample over the PEs of one copy (`width · height / copies`). A
 *   slot is freed when every pass of the kernel that reads the edge finished the sample.
 * - **Stash** (TRAIN): a kernel with B/W passes keeps each sample's forward inputs (Σ bytes of its forward
 *   input edges, per PE of one copy) from the end of F_k(s) until B_k(s) and W_k(s) both finished.
 * - **SRAM high-water** per kernel: `memoryWordsPerPe` plus the most bytes per PE that queued samples (slots
 *   beyond the one in service) and the stash held at one time. Above `sramBytesPerPe` it is an error of the
 *   plan (reported, not thrown): the stash does not fit beside the receive buffers.
 * - **Host I/O**: sample s's graph inputs (pass-graph `ingressBytesPerSample`) enter at `ioBytesPerS`
 *   (one sample after the other, the host buffering the rest), then stream from the west edge; each sink's
 *   output leaves after the last sink finished s, at the same rate (output routes are not in the plan:
 *   ASSUMPTION, no fabric cost). A sample is complete when all its passes and its egress are done.
 *
 * Every start records its cause (the condition satisfied last); walking the causes back from the last
 * completion gives the critical path of the actual event chain (result.ts).
 */
import type { PassGraph } from '../../compiler/pass-graph.ts';
import { EventQueue, Rec, Via, type CoreOptions, type EventLog, type InEdge, type KernelSram, type PassCounters, type SimPlan, type Transport, type TransportSink } from './events.ts';
import type { Network } from './network.ts';

const EPS_READY = Number.NaN;

/** One simulated batch through the pipeline (module doc). Build, then {@link run}. */
export class PipelineSim implements TransportSink {
  readonly B: number;
  readonly log: EventLog = { kind: [], a: [], b: [], sample: [], start: [], end: [], cause: [], via: [] };
  readonly counters: PassCounters[];
  /** Per kernel: receive slots per input edge, buffer bytes per PE, stash budget (bytes per PE). */
  readonly kernelSram: KernelSram[];
  readonly inEdges: InEdge[] = [];
  /** Completion cycle of every sample. */
  readonly sampleDone: Float64Array;
  /** Transfers made and injection cycles per stream. */
  readonly transfers: Int32Array;
  readonly injectCycles: Float64Array;
  ingressBusy = 0;
  egressBusy = 0;
  /** Record id of the batch's last completion. */
  lastRec = -1;
  transport!: Transport;

  private readonly q = new EventQueue();
  private now = 0;
  private readonly passRec: Int32Array;
  private readonly injRec: Int32Array;
  private readonly ingRec: Int32Array;
  private readonly egRec: Int32Array;
  private readonly next: Int32Array;
  private readonly done: Int32Array;
  private readonly busy: Uint8Array;
  private readonly pending: Int32Array;
  private readonly readyAt: Float64Array;
  private readonly passIn: number[][];
  private readonly passOut: number[][];
  private readonly local: number[];
  private readonly localDeps: number[][];
  private readonly streamSrc: number[];
  private readonly streamDest: number[][];
  private readonly ready: Int32Array;
  private readonly started: Int32Array;
  private readonly injecting: Uint8Array;
  private readonly ieOf = new Map<number, number>();
  private readonly sinkDone: Int32Array;
  private readonly remaining: Int32Array;
  private readonly stashLeft: Int32Array;
  private readonly dirtyPass: number[] = [];
  private readonly dirtyStream: number[] = [];
  private readonly sinks: Set<number>;
  private readonly ingressCycles: number;
  private readonly egressCycles: number;

  constructor(
    readonly plan: SimPlan,
    readonly graph: PassGraph,
    readonly net: Network,
    readonly opts: CoreOptions,
  ) {
    const B = (this.B = opts.batchSize);
    const P = graph.passes.length;
    const S = net.streams.length;
    this.counters = graph.passes.map(() => ({ busy: 0, starved: 0, blocked: 0, fill: 0, lastEnd: 0 }));
    this.passRec = new Int32Array(P * B).fill(-1);
    this.injRec = new Int32Array(S * B).fill(-1);
    this.ingRec = new Int32Array(B).fill(-1);
    this.egRec = new Int32Array(B).fill(-1);
    this.next = new Int32Array(P);
    this.done = new Int32Array(P);
    this.busy = new Uint8Array(P);
    this.pending = new Int32Array(P);
    this.readyAt = new Float64Array(P).fill(EPS_READY);
    this.passIn = graph.passes.map(() => []);
    this.passOut = graph.passes.map(() => []);
    this.local = graph.passes.map(() => -1);
    this.localDeps = graph.passes.map(() => []);
    this.streamSrc = new Array<number>(S).fill(-1);
    this.streamDest = net.streams.map(() => []);
    this.ready = new Int32Array(S);
    this.started = new Int32Array(S);
    this.injecting = new Uint8Array(S);
    this.transfers = new Int32Array(S);
    this.injectCycles = new Float64Array(S);
    this.sampleDone = new Float64Array(B);
    this.sinkDone = new Int32Array(B);
    this.sinks = new Set(graph.egress.map((e) => e.pass));
    const hasEgress = graph.egress.length > 0;
    this.remaining = new Int32Array(B).fill(P + (hasEgress ? 1 : 0));
    const io = opts.ioBytesPerCycle;
    this.ingressCycles = graph.ingressBytesPerSample > 0 ? graph.ingressBytesPerSample / io : 0;
    const egressBytes = graph.egress.reduce((s, e) => s + e.bytesPerSample, 0);
    this.egressCycles = egressBytes > 0 ? egressBytes / io : 0;
    const K = plan.kernels.length;
    const bw = graph.passes.map(() => 0);
    for (let k = 0; k < K; k++) for (const p of [graph.backward[k], graph.weight[k]]) if (p !== null) bw[graph.forward[k]]++;
    this.stashLeft = new Int32Array(K * B);
    for (let k = 0; k < K; k++) this.stashLeft.fill(bw[graph.forward[k]], k * B, (k + 1) * B);

    // input edges and stream endpoints
    for (const d of graph.deps) {
      if (d.route === null) {
        this.local[d.to] = d.from!;
        this.localDeps[d.from!].push(d.to);
        continue;
      }
      const stream = d.direction === 'forward' ? net.forwardStream[d.route] : net.backwardStream[d.route]!;
      this.streamSrc[stream] = d.from ?? -1;
      const key = stream * plan.routes.length + d.route;
      let ie = this.ieOf.get(key);
      if (ie === undefined) {
        ie = this.inEdges.length;
        this.ieOf.set(key, ie);
        this.inEdges.push({
          stream, route: d.route, kernel: graph.passes[d.to].kernel, consumers: [], bytesPerPe: 0, cap: Infinity, used: 0, delivered: 0,
          delTime: new Float64Array(B), delRec: new Int32Array(B), done: new Int32Array(B), relTime: new Float64Array(B), relRec: new Int32Array(B).fill(-1),
        });
        this.streamDest[stream].push(ie);
      }
      this.inEdges[ie].consumers.push(d.to);
      this.passIn[d.to].push(ie);
    }
    net.streams.forEach((_, s) => {
      const src = this.streamSrc[s];
      if (src >= 0) this.passOut[src].push(s);
    });

    // receive buffers and stash budgets
    const m = plan.machine;
    this.kernelSram = plan.kernels.map((k, ki) => {
      const pes = (k.width * k.height) / k.copies;
      const edges = this.inEdges.filter((e) => e.kernel === ki);
      for (const e of edges) e.bytesPerPe = plan.routes[e.route].bytesPerSample / pes;
      const perSample = edges.reduce((s, e) => s + e.bytesPerPe, 0);
      const spare = m.sramBytesPerPe - k.memoryWordsPerPe * m.wordBytes;
      const fwdIn = edges.filter((e) => net.streams[e.stream].kind === 'forward').reduce((s, e) => s + plan.routes[e.route].bytesPerSample / pes, 0);
      const stashBytesPerSample = bw[graph.forward[ki]] > 0 ? fwdIn : 0;
      let slots = Infinity;
      let bufferBytes = 0;
      if (opts.buffers === 'sram') {
        const extra = perSample > 0 ? Math.min(B - 1, Math.max(0, Math.floor((opts.bufferShare * Math.max(0, spare)) / perSample))) : B - 1;
        slots = 1 + extra;
        bufferBytes = extra * perSample;
      }
      for (const e of edges) e.cap = slots;
      return { slots, bufferBytes, spareBytes: spare, stashBytesPerSample, stashHigh: 0, stash: 0, dynamic: 0, dynamicHigh: 0 };
    });
  }

  private record(kind: Rec, a: number, b: number, s: number, start: number, end: number, cause: number, via: Via): number {
    const L = this.log;
    L.kind.push(kind);
    L.a.push(a);
    L.b.push(b);
    L.sample.push(s);
    L.start.push(start);
    L.end.push(end);
    L.cause.push(cause);
    L.via.push(via);
    return L.kind.length - 1;
  }

  /** Runs the batch to completion. */
  run(transport: Transport): void {
    this.transport = transport;
    const B = this.B;
    // the host's ingress: one sample after the other from cycle 0
    for (let s = 0; s < B; s++) {
      const start = s * this.ingressCycles;
      const end = (s + 1) * this.ingressCycles;
      this.q.push(end, () => {
        this.ingRec[s] = this.record(Rec.Ingress, -1, -1, s, start, end, s > 0 ? this.ingRec[s - 1] : -1, s > 0 ? Via.Server : Via.Start);
        this.ingressBusy += end - start;
        this.net.streams.forEach((st, k) => {
          if (this.streamSrc[k] < 0) {
            this.ready[k] = s + 1;
            this.dirtyStream.push(k);
          }
        });
      });
    }
    for (let j = 0; j < this.graph.passes.length; j++) this.dirtyPass.push(j);
    this.settle();
    for (;;) {
      const tc = this.q.peek();
      const tt = transport.nextTime();
      if (tc === Infinity && tt === Infinity) break;
      if (tc <= tt) {
        this.now = tc;
        this.q.pop()();
      } else {
        this.now = tt;
        transport.advance(tt);
      }
      this.settle();
    }
    const stuck = this.sampleDone.findIndex((t, s) => this.remaining[s] > 0);
    if (stuck >= 0) throw new Error(`simulation deadlocked: sample ${stuck} never completed`);
  }

  injected(stream: number, sample: number, time: number): void {
    this.q.push(time, () => {
      this.injecting[stream] = 0;
      const r = this.injRec[stream * this.B + sample];
      this.log.end[r] = time;
      this.injectCycles[stream] += time - this.log.start[r];
      this.transfers[stream]++;
      this.dirtyStream.push(stream);
    });
  }

  delivered(stream: number, route: number, sample: number, time: number): void {
    this.q.push(time, () => {
      const e = this.inEdges[this.ieOf.get(stream * this.plan.routes.length + route)!];
      if (e.delivered !== sample) throw new Error(`stream ${stream} delivered sample ${sample} out of order`);
      e.delivered = sample + 1;
      e.delTime[sample] = time;
      const inj = this.injRec[stream * this.B + sample];
      e.delRec[sample] = this.record(Rec.Deliver, stream, route, sample, this.log.end[inj], time, inj, Via.Latency);
      for (const c of e.consumers) this.dirtyPass.push(c);
    });
  }

  private settle(): void {
    while (this.dirtyPass.length || this.dirtyStream.length) {
      while (this.dirtyStream.length) this.tryStream(this.dirtyStream.pop()!);
      while (this.dirtyPass.length) this.tryPass(this.dirtyPass.pop()!);
    }
  }

  private tryStream(k: number): void {
    const s = this.started[k];
    if (this.injecting[k] || s >= this.ready[k]) return;
    const dests = this.streamDest[k];
    for (const ie of dests) if (this.inEdges[ie].used >= this.inEdges[ie].cap) return;
    const B = this.B;
    const src = this.streamSrc[k];
    let cause = src >= 0 ? this.passRec[src * B + s] : this.ingRec[s];
    let via = Via.Source;
    let t = this.log.end[cause];
    if (s > 0) {
      const f = this.injRec[k * B + s - 1];
      if (this.log.end[f] > t) [t, cause, via] = [this.log.end[f], f, Via.Fifo];
    }
    for (const ie of dests) {
      const e = this.inEdges[ie];
      if (++e.used > 1) this.sram(e.kernel, e.bytesPerPe);
      if (s >= e.cap) {
        const r = e.relRec[s - e.cap];
        if (this.log.end[r] > t) [t, cause, via] = [this.log.end[r], r, Via.Credit];
      }
    }
    this.started[k] = s + 1;
    this.injecting[k] = 1;
    this.injRec[k * B + s] = this.record(Rec.Inject, k, -1, s, this.now, this.now, cause, via);
    if (src >= 0 && --this.pending[src] === 0) this.dirtyPass.push(src);
    this.transport.start(k, s, this.now);
  }

  private tryPass(j: number): void {
    const s = this.next[j];
    if (this.busy[j] || s >= this.B) return;
    const B = this.B;
    const L = this.log;
    let t = -Infinity;
    let cause = -1;
    let via = Via.Start;
    if (s > 0) [t, cause, via] = [L.end[this.passRec[j * B + s - 1]], this.passRec[j * B + s - 1], Via.Server];
    for (const ie of this.passIn[j]) {
      const e = this.inEdges[ie];
      if (e.delivered <= s) return;
      if (e.delTime[s] > t) [t, cause, via] = [e.delTime[s], e.delRec[s], Via.Input];
    }
    const f = this.local[j];
    if (f >= 0) {
      if (this.done[f] <= s) return;
      const r = this.passRec[f * B + s];
      if (L.end[r] > t) [t, cause, via] = [L.end[r], r, Via.Local];
    }
    if (Number.isNaN(this.readyAt[j])) this.readyAt[j] = this.now;
    if (this.pending[j] > 0) return;
    if (s > 0) {
      for (const k of this.passOut[j]) {
        const r = this.injRec[k * B + s - 1];
        if (L.start[r] > t) [t, cause, via] = [L.start[r], r, Via.Grant];
      }
    }
    // start sample s
    const c = this.counters[j];
    const now = this.now;
    if (s === 0) c.fill = now;
    else {
      const idle = now - c.lastEnd;
      const starved = Math.min(idle, Math.max(0, this.readyAt[j] - c.lastEnd));
      c.starved += starved;
      c.blocked += idle - starved;
    }
    this.readyAt[j] = EPS_READY;
    this.busy[j] = 1;
    this.next[j] = s + 1;
    const dur = this.graph.passes[j].cyclesPerSample;
    const rec = this.record(Rec.Pass, j, -1, s, now, now + dur, cause, via);
    this.passRec[j * B + s] = rec;
    c.busy += dur;
    this.q.push(now + dur, () => this.finishPass(j, s, rec));
  }

  private finishPass(j: number, s: number, rec: number): void {
    const now = this.now;
    const B = this.B;
    this.busy[j] = 0;
    this.done[j] = s + 1;
    this.counters[j].lastEnd = now;
    const outs = this.passOut[j];
    this.pending[j] = outs.length;
    for (const k of outs) {
      this.ready[k] = s + 1;
      this.dirtyStream.push(k);
    }
    for (const ie of this.passIn[j]) {
      const e = this.inEdges[ie];
      if (++e.done[s] === e.consumers.length) {
        if (e.used-- > 1) this.sram(e.kernel, -e.bytesPerPe);
        e.relTime[s] = now;
        e.relRec[s] = rec;
        this.dirtyStream.push(e.stream);
      }
    }
    const pass = this.graph.passes[j];
    const ks = this.kernelSram[pass.kernel];
    if (pass.kind === 'forward' && ks.stashBytesPerSample > 0) {
      ks.stash++;
      ks.stashHigh = Math.max(ks.stashHigh, ks.stash);
      this.sram(pass.kernel, ks.stashBytesPerSample);
    } else if (pass.kind !== 'forward' && ks.stashBytesPerSample > 0 && --this.stashLeft[pass.kernel * B + s] === 0) {
      ks.stash--;
      this.sram(pass.kernel, -ks.stashBytesPerSample);
    }
    for (const d of this.localDeps[j]) this.dirtyPass.push(d);
    this.dirtyPass.push(j);
    this.complete(s, rec);
    if (this.sinks.has(j) && ++this.sinkDone[s] === this.sinks.size) this.egress(s, rec);
  }

  /** Adds bytes per PE to a kernel's dynamic SRAM use. */
  private sram(kernel: number, bytes: number): void {
    const ks = this.kernelSram[kernel];
    ks.dynamic += bytes;
    if (ks.dynamic > ks.dynamicHigh) ks.dynamicHigh = ks.dynamic;
  }

  private egress(s: number, sinkRec: number): void {
    const prev = s > 0 ? this.egRec[s - 1] : -1;
    const prevEnd = prev >= 0 ? this.log.end[prev] : -Infinity;
    const start = Math.max(this.now, prevEnd);
    const [cause, via] = prevEnd > this.now ? [prev, Via.Server] : [sinkRec, Via.Input];
    const end = start + this.egressCycles;
    this.egRec[s] = this.record(Rec.Egress, -1, -1, s, start, end, cause, via);
    this.egressBusy += this.egressCycles;
    const rec = this.egRec[s];
    this.q.push(end, () => this.complete(s, rec));
  }

  private complete(s: number, rec: number): void {
    if (--this.remaining[s] > 0) return;
    this.sampleDone[s] = this.now;
    if (s === this.B - 1) this.lastRec = rec;
  }

  /** Record id of pass j's sample s (−1 if it never ran). */
  passRecord(j: number, s: number): number {
    return this.passRec[j * this.B + s];
  }

  /** Record id of the host's ingress of sample s. */
  ingressRecord(s: number): number {
    return this.ingRec[s];
  }

  /** The pass that produces stream k's transfers (−1: the host). */
  streamSource(k: number): number {
    return this.streamSrc[k];
  }

  /** The input edge of stream k over route r. */
  inEdge(k: number, r: number): InEdge {
    return this.inEdges[this.ieOf.get(k * this.plan.routes.length + r)!];
  }
}
