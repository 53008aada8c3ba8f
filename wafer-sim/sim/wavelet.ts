/**
 * The wavelet-level transport (docs/design.md §10): the fabric cycle by cycle, for fabrics of at most
 * 64 × 64 PEs, to cross-check the flow-level engine (flow.ts) under the same pipeline rules (core.ts).
 *
 * ## Rules (units: wavelets = 32 bits, cycles)
 * - Every PE has a router with 5 ports (N, E, S, W and the ramp to and from its PE); network.ts names the
 *   one-way ports. Each port sends at most one wavelet per cycle (links of 32 bits per cycle).
 * - Each stream is a color. A port's receiving end keeps one queue per color of {@link QUEUE_DEPTH}
 *   wavelets; a wavelet may cross a port only if the color's queue behind it has room (credit-based flow
 *   control). Crossing a port takes `hopLatencyCycles` (the wavelet can move on that many cycles later);
 *   ramp-out delivers to the PE at the end of the cycle, into the receive slot its transfer reserved.
 * - **Round-robin arbitration**: each cycle a port sends the first eligible color after the one it sent
 *   last.
 * - **Multicast**: a color's ports form a copy tree. Each port takes its wavelets from one upstream port
 *   (of the lanes through it, the one with the most wavelets); a router copies a queued wavelet to every
 *   downstream port of the color that needs it and frees it when all have sent it. A port needs the first
 *   n wavelets of each sample, n being the most any lane through it carries (the multicast rule of
 *   network.ts); wavelets no downstream port needs are dropped on arrival.
 * - A transfer's source PEs inject each lane's wavelets through their ramps (a graph input through the
 *   west-edge entry of its row), once the pipeline started the transfer (core.ts); it has left the source
 *   when every entry port sent its wavelets, and arrived over a route when every lane of the route
 *   delivered its last wavelet.
 * With no contention a lane of n wavelets and h fabric hops delivers at `n + (h + 1) · hopLatencyCycles`
 * after its start, as the flow engine assumes.
 */
import type { Transport, TransportSink } from './core.ts';
import type { Network } from './network.ts';

/** Wavelets a router queues per color and input port (ASSUMPTION: a small fixed depth). */
export const QUEUE_DEPTH = 4;
/** The largest fabric side the wavelet engine accepts. */
export const WAVELET_MAX_SIDE = 64;

/** The wavelet transport of one batch (module doc). */
export class WaveletTransport implements Transport {
  /** Router-port updates (an active port, one with a wavelet waiting for it, evaluated in a cycle) and
   * wavelets moved so far. */
  portUpdates = 0;
  wavelets = 0;
  private cycle = 0;
  private work = 0;
  private readonly Q = QUEUE_DEPTH;
  // static, per channel (a color on a port)
  private readonly chStream: Int32Array;
  private readonly chN: Int32Array;
  private readonly chParent: Int32Array;
  private readonly chMaxChildN: Int32Array;
  private readonly chRampOut: Uint8Array;
  private readonly childStart: Int32Array;
  private readonly childList: Int32Array;
  /** Ramp-out channels: lanes ending there as (route slot, lane wavelets). */
  private readonly ends: { slot: number; n: number }[][];
  // static, per sending port
  private readonly portStart: Int32Array;
  private readonly portList: Int32Array;
  private readonly rr: Int32Array;
  /** Per channel: its sending port's index. */
  private readonly chPort: Int32Array;
  /** Per port: channels with a wavelet available to them (their parent queue is not empty, or their source
   * transfer has wavelets left); ports with any are the active list, the only ones a cycle evaluates. */
  private readonly pend: Int32Array;
  private readonly active: Int32Array;
  private readonly activePos: Int32Array;
  private nActive = 0;
  /** Per port: the last cycle it was evaluated (a port is evaluated at most once per cycle). */
  private readonly seen: Float64Array;
  /** Per stream: its entry channels. */
  private readonly sources: number[][];
  // dynamic
  private readonly sentS: Int32Array;
  private readonly sentK: Int32Array;
  private readonly qHead: Int32Array;
  private readonly qLen: Int32Array;
  private readonly headRem: Int32Array;
  private readonly qReady: Float64Array;
  private readonly qS: Int32Array;
  private readonly qK: Int32Array;
  private readonly started: Int32Array;
  private readonly srcLeft: Int32Array;
  private readonly srcCount: Int32Array;
  /** Wavelets per transfer over each stream's entry ports. */
  private readonly srcWavelets: Int32Array;
  private readonly slotRoute: number[] = [];
  private readonly slotStream: number[] = [];
  private readonly slotLanes: number[] = [];
  private readonly laneDone: Int32Array;

  /**
   * @param net the plan's streams (on a fabric of at most {@link WAVELET_MAX_SIDE} per side; the caller
   *   checks).
   * @param batchSize samples per batch.
   * @param hopLatencyCycles cycles a wavelet takes to cross a port (an integer ≥ 1).
   */
  constructor(
    private readonly net: Network,
    private readonly batchSize: number,
    private readonly hopLatencyCycles: number,
    private readonly sink: TransportSink,
  ) {
    const B = batchSize;
    const stream: number[] = [];
    const n: number[] = [];
    const parent: number[] = [];
    const port: number[] = [];
    const rampOut: number[] = [];
    const ends: { slot: number; n: number }[][] = [];
    const srcCount = new Int32Array(net.streams.length);
    for (const s of net.streams) {
      const chOf = new Map<number, number>();
      const best = new Map<number, number>();
      const up = new Map<number, number>();
      const slotOf = new Map<number, number>();
      for (const r of s.routes) {
        slotOf.set(r, this.slotRoute.length);
        this.slotRoute.push(r);
        this.slotStream.push(s.id);
        this.slotLanes.push(s.lanes.filter((l) => l.route === r).length);
      }
      for (const lane of s.lanes) {
        lane.links.forEach((p, i) => {
          let ch = chOf.get(p);
          if (ch === undefined) {
            chOf.set(p, (ch = stream.length));
            stream.push(s.id);
            n.push(0);
            parent.push(-1);
            port.push(p);
            rampOut.push(i === lane.links.length - 1 ? 1 : 0);
            ends.push([]);
            if (i === 0) srcCount[s.id]++;
          }
          n[ch] = Math.max(n[ch], lane.wavelets);
          if (i > 0 && lane.wavelets > (best.get(ch) ?? 0)) {
            best.set(ch, lane.wavelets);
            up.set(ch, lane.links[i - 1]);
          }
          if (i === lane.links.length - 1) ends[ch].push({ slot: slotOf.get(lane.route)!, n: lane.wavelets });
        });
      }
      for (const [ch, p] of up) parent[ch] = chOf.get(p)!;
    }
    const C = stream.length;
    this.chStream = Int32Array.from(stream);
    this.chN = Int32Array.from(n);
    this.chParent = Int32Array.from(parent);
    this.chRampOut = Uint8Array.from(rampOut);
    this.ends = ends;
    this.srcCount = srcCount;
    // children (CSR) and the most wavelets any child needs
    const nc = new Int32Array(C + 1);
    for (const p of parent) if (p >= 0) nc[p + 1]++;
    for (let i = 0; i < C; i++) nc[i + 1] += nc[i];
    this.childStart = nc;
    this.childList = new Int32Array(nc[C]);
    const fillc = nc.slice(0, C);
    this.chMaxChildN = new Int32Array(C);
    parent.forEach((p, ch) => {
      if (p < 0) return;
      this.childList[fillc[p]++] = ch;
      this.chMaxChildN[p] = Math.max(this.chMaxChildN[p], n[ch]);
    });
    // sending ports (CSR over ports that carry a channel)
    const ports = [...new Set(port)].sort((a, b) => a - b);
    const pIndex = new Map(ports.map((p, i) => [p, i]));
    const ps = new Int32Array(ports.length + 1);
    for (const p of port) ps[pIndex.get(p)! + 1]++;
    for (let i = 0; i < ports.length; i++) ps[i + 1] += ps[i];
    this.portStart = ps;
    this.portList = new Int32Array(C);
    const fillp = ps.slice(0, ports.length);
    port.forEach((p, ch) => (this.portList[fillp[pIndex.get(p)!]++] = ch));
    this.rr = new Int32Array(ports.length);
    this.chPort = Int32Array.from(port, (p) => pIndex.get(p)!);
    this.pend = new Int32Array(ports.length);
    this.active = new Int32Array(ports.length);
    this.activePos = new Int32Array(ports.length).fill(-1);
    this.seen = new Float64Array(ports.length).fill(-1);
    this.sources = net.streams.map(() => []);
    parent.forEach((p, ch) => {
      if (p < 0) this.sources[stream[ch]].push(ch);
    });
    [this.sentS, this.sentK, this.qHead, this.qLen, this.headRem] = [0, 0, 0, 0, 0].map(() => new Int32Array(C));
    this.qReady = new Float64Array(C * this.Q);
    this.qS = new Int32Array(C * this.Q);
    this.qK = new Int32Array(C * this.Q);
    this.started = new Int32Array(net.streams.length);
    this.srcLeft = new Int32Array(net.streams.length * B);
    net.streams.forEach((s) => this.srcLeft.fill(srcCount[s.id], s.id * B, (s.id + 1) * B));
    this.laneDone = new Int32Array(this.slotRoute.length * B);
    this.srcWavelets = new Int32Array(net.streams.length);
    parent.forEach((p, ch) => {
      if (p < 0) this.srcWavelets[stream[ch]] += n[ch];
    });
  }

  start(k: number, s: number, now: number): void {
    if (this.work === 0) this.cycle = Math.max(this.cycle, Math.ceil(now));
    this.started[k] = s + 1;
    for (const ch of this.sources[k]) if (this.sentS[ch] === s) this.addPend(this.chPort[ch]);
    const st = this.net.streams[k];
    if (this.srcCount[k] === 0) this.sink.injected(k, s, now);
    for (const r of st.routes) if (!st.lanes.some((l) => l.route === r)) this.sink.delivered(k, r, s, now);
    this.work += this.srcWavelets[k];
  }

  nextTime(): number {
    return this.work > 0 ? this.cycle : Infinity;
  }

  limitingPort(): number {
    return -1;
  }

  private addPend(pi: number): void {
    if (this.pend[pi]++ === 0) {
      this.activePos[pi] = this.nActive;
      this.active[this.nActive++] = pi;
    }
  }

  private subPend(pi: number): void {
    if (--this.pend[pi] === 0) {
      const i = this.activePos[pi];
      const last = this.active[--this.nActive];
      this.active[i] = last;
      this.activePos[last] = i;
      this.activePos[pi] = -1;
    }
  }

  /** Channel p's queue became empty (−1) or not empty (+1): its children gain or lose an available wavelet. */
  private children(p: number, delta: 1 | -1): void {
    for (let i = this.childStart[p]; i < this.childStart[p + 1]; i++) {
      const pi = this.chPort[this.childList[i]];
      if (delta > 0) this.addPend(pi);
      else this.subPend(pi);
    }
  }

  /** Simulates cycle t (= `nextTime()`). */
  advance(t: number): void {
    const { Q, B } = { Q: this.Q, B: this.batchSize };
    const { portStart, portList, rr, chStream, chN, chParent, chRampOut, chMaxChildN, sentS, sentK, qHead, qLen, qReady, qS, qK, headRem, started, active, seen } = this;
    const L = this.hopLatencyCycles;
    // backwards over the active ports: a port removed during the sweep is replaced by one already swept
    // (or added this cycle, whose wavelets are not ready before t + L), and `seen` stops repeats
    for (let ai = this.nActive - 1; ai >= 0; ai--) {
      if (ai >= this.nActive) continue;
      const pi = active[ai];
      if (seen[pi] === t) continue;
      seen[pi] = t;
      this.portUpdates++;
      const a = portStart[pi];
      const m = portStart[pi + 1] - a;
      const r0 = rr[pi];
      for (let i = 0; i < m; i++) {
        const idx = r0 + i < m ? r0 + i : r0 + i - m;
        const ch = portList[a + idx];
        const s = sentS[ch];
        if (s >= B) continue;
        const k = sentK[ch];
        const p = chParent[ch];
        if (p < 0) {
          if (started[chStream[ch]] <= s) continue;
        } else {
          if (qLen[p] === 0) continue;
          const h = p * Q + qHead[p];
          if (qReady[h] > t || qS[h] !== s || qK[h] !== k) continue;
        }
        const keep = !chRampOut[ch] && k < chMaxChildN[ch];
        if (keep && qLen[ch] >= Q) continue;
        // send wavelet (s, k) over this port
        rr[pi] = idx + 1 < m ? idx + 1 : 0;
        this.wavelets++;
        if (k + 1 === chN[ch]) {
          sentK[ch] = 0;
          sentS[ch] = s + 1;
        } else sentK[ch] = k + 1;
        if (p < 0) {
          this.work--;
          if (k + 1 === chN[ch]) {
            if (started[chStream[ch]] <= s + 1) this.subPend(pi);
            if (--this.srcLeft[chStream[ch] * B + s] === 0) this.sink.injected(chStream[ch], s, t + 1);
          }
        } else if (--headRem[p] === 0) {
          qHead[p] = qHead[p] + 1 === Q ? 0 : qHead[p] + 1;
          this.work--;
          if (--qLen[p] > 0) headRem[p] = this.needing(p, qK[p * Q + qHead[p]]);
          else this.children(p, -1);
        }
        if (chRampOut[ch]) this.deliver(ch, s, k, t);
        else if (keep) {
          const e = ch * Q + ((qHead[ch] + qLen[ch]) % Q);
          qReady[e] = t + L;
          qS[e] = s;
          qK[e] = k;
          if (qLen[ch]++ === 0) {
            headRem[ch] = this.needing(ch, k);
            this.children(ch, 1);
          }
          this.work++;
        }
        break;
      }
    }
    this.cycle = t + 1;
  }

  /** Children of channel p that need its wavelet k of a sample. */
  private needing(p: number, k: number): number {
    let c = 0;
    for (let i = this.childStart[p]; i < this.childStart[p + 1]; i++) if (this.chN[this.childList[i]] > k) c++;
    return c;
  }

  private deliver(ch: number, s: number, k: number, t: number): void {
    const B = this.batchSize;
    for (const e of this.ends[ch]) {
      if (e.n !== k + 1) continue;
      if (++this.laneDone[e.slot * B + s] === this.slotLanes[e.slot]) this.sink.delivered(this.slotStream[e.slot], this.slotRoute[e.slot], s, t + 1);
    }
  }
}
