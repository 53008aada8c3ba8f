/**
 * The wavelet-level transport (docs/design.md §10): the fabric cycle by cycle, for fabrics of at most
 * 64 × 64 PEs, to cross-check the flow-level engine (flow.ts) under the same pipeline rules (core.ts).
 *
 * ## Rules (units: wavelets = 32 bits, cycles)
 * - Every PE has a router with 5 ports (N, E, S, W and the ramp to and from its PE); network.ts names the
 *   one-way ports (the ramp as separate forward and gradient ports: the lanes' end PEs stand for different
 *   PE copies). Each port sends at most one wavelet per cycle (links of 32 bits per cycle).
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
 *
 * A cycle evaluates only the ports with a started transfer through them (the active list); idle stretches
 * (no transfer in flight) are skipped to the pipeline's next event.
 */
import type { Transport, TransportSink } from './events.ts';
import type { Network } from './network.ts';

/** Wavelets a router queues per color and input port (ASSUMPTION: a small fixed depth). */
export const QUEUE_DEPTH = 4;
const QMASK = QUEUE_DEPTH - 1; // QUEUE_DEPTH is a power of two
/** The largest fabric side the wavelet engine accepts. */
export const WAVELET_MAX_SIDE = 64;

// A channel (a color on a port) is one record of STRIDE int32s in `R`, so that a port update touches few
// cache lines: its progress, its queue (at the port's receiving end) and its static links.
const SENT_S = 0; // next wavelet to send: sample …
const SENT_K = 1; // … and index within the sample
const Q_HEAD = 2;
const Q_LEN = 3;
const HEAD_REM = 4; // children that still have to send the queue's head
const PARENT = 5; // channel record offset of the upstream channel, −1 for an entry port
const N = 6; // wavelets per sample
const MAX_CHILD_N = 7;
const MIN_CHILD_N = 8;
const CHILD_0 = 9; // children: childList[CHILD_0 … CHILD_1)
const CHILD_1 = 10;
const PORT = 11; // sending port index
const STREAM = 12;
const RAMP_OUT = 13;
const QUEUE = 16; // QUEUE_DEPTH entries of (ready cycle, sample, index)
const STRIDE = QUEUE + 3 * QUEUE_DEPTH;

/** The wavelet transport of one batch (module doc). */
export class WaveletTransport implements Transport {
  /** Router-port updates (a port with a started transfer through it, evaluated for one cycle) and wavelets
   * moved so far. */
  portUpdates = 0;
  wavelets = 0;
  private cycle = 0;
  private work = 0;
  /** Channel records (see STRIDE); channel c's record starts at `c · STRIDE`. */
  private readonly R: Int32Array;
  /** Children of each channel, as record offsets. */
  private readonly childList: Int32Array;
  /** Ramp-out channels (by channel index): lanes ending there as (route slot, lane wavelets). */
  private readonly ends: { slot: number; n: number }[][];
  // per sending port
  private readonly portStart: Int32Array;
  /** Channel record offsets, grouped by port. */
  private readonly portList: Int32Array;
  private readonly rr: Int32Array;
  /** Per port: channels with wavelets of a started transfer still to send; ports with any are on the active
   * list, the only ones a cycle evaluates (a port is dropped from the list when a sweep finds it with none). */
  private readonly pend: Int32Array;
  private readonly active: Int32Array;
  private readonly inList: Uint8Array;
  private nActive = 0;
  /** Per stream: its channels (record offsets). */
  private readonly channels: number[][];
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
    this.ends = ends;
    this.srcCount = srcCount;
    const R = (this.R = new Int32Array(C * STRIDE));
    // children (CSR, record offsets) and the most and fewest wavelets a child needs
    const nc = new Int32Array(C + 1);
    for (const p of parent) if (p >= 0) nc[p + 1]++;
    for (let i = 0; i < C; i++) nc[i + 1] += nc[i];
    this.childList = new Int32Array(nc[C]);
    const fillc = nc.slice(0, C);
    for (let ch = 0; ch < C; ch++) {
      const c = ch * STRIDE;
      R[c + PARENT] = parent[ch] < 0 ? -1 : parent[ch] * STRIDE;
      R[c + N] = n[ch];
      R[c + MIN_CHILD_N] = 2 ** 30;
      R[c + CHILD_0] = nc[ch];
      R[c + CHILD_1] = nc[ch + 1];
      R[c + STREAM] = stream[ch];
      R[c + RAMP_OUT] = rampOut[ch];
    }
    parent.forEach((p, ch) => {
      if (p < 0) return;
      this.childList[fillc[p]++] = ch * STRIDE;
      R[p * STRIDE + MAX_CHILD_N] = Math.max(R[p * STRIDE + MAX_CHILD_N], n[ch]);
      R[p * STRIDE + MIN_CHILD_N] = Math.min(R[p * STRIDE + MIN_CHILD_N], n[ch]);
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
    port.forEach((p, ch) => {
      this.portList[fillp[pIndex.get(p)!]++] = ch * STRIDE;
      R[ch * STRIDE + PORT] = pIndex.get(p)!;
    });
    this.rr = new Int32Array(ports.length);
    this.pend = new Int32Array(ports.length);
    this.active = new Int32Array(ports.length);
    this.inList = new Uint8Array(ports.length);
    this.channels = net.streams.map(() => []);
    this.srcWavelets = new Int32Array(net.streams.length);
    parent.forEach((p, ch) => {
      this.channels[stream[ch]].push(ch * STRIDE);
      if (p < 0) this.srcWavelets[stream[ch]] += n[ch];
    });
    this.started = new Int32Array(net.streams.length);
    this.srcLeft = new Int32Array(net.streams.length * B);
    net.streams.forEach((s) => this.srcLeft.fill(srcCount[s.id], s.id * B, (s.id + 1) * B));
    this.laneDone = new Int32Array(this.slotRoute.length * B);
  }

  start(k: number, s: number, now: number): void {
    if (this.work === 0) this.cycle = Math.max(this.cycle, Math.ceil(now));
    if (this.cycle >= 2 ** 31 - 1e6) throw new RangeError('the wavelet engine counts cycles in 31 bits');
    this.started[k] = s + 1;
    for (const c of this.channels[k]) if (this.R[c + SENT_S] === s) this.addPend(this.R[c + PORT]);
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

  /** A channel of port `pi` has a wavelet available: the port joins the active list if it is not on it. */
  private addPend(pi: number): void {
    this.pend[pi]++;
    if (!this.inList[pi]) {
      this.inList[pi] = 1;
      this.active[this.nActive++] = pi;
    }
  }

  /** Children of the channel at record c that need its wavelet k of a sample. */
  private needing(c: number, k: number): number {
    const R = this.R;
    if (k < R[c + MIN_CHILD_N]) return R[c + CHILD_1] - R[c + CHILD_0];
    let m = 0;
    for (let i = R[c + CHILD_0]; i < R[c + CHILD_1]; i++) if (R[this.childList[i] + N] > k) m++;
    return m;
  }

  /** Simulates cycle t (= `nextTime()`). */
  advance(t: number): void {
    const { R, batchSize: B, portStart, portList, rr, pend, started, active, inList } = this;
    const L = this.hopLatencyCycles;
    let moved = 0;
    let updates = 0;
    let work = this.work;
    // backwards over the active ports: a port with nothing available leaves the list (the last one takes its
    // place: already swept, or added this cycle and not ready before t + L); ports added join at the end
    for (let ai = this.nActive - 1; ai >= 0; ai--) {
      const pi = active[ai];
      if (pend[pi] === 0) {
        active[ai] = active[--this.nActive];
        inList[pi] = 0;
        continue;
      }
      updates++;
      const a = portStart[pi];
      const m = portStart[pi + 1] - a;
      const r0 = rr[pi];
      for (let i = 0; i < m; i++) {
        const idx = r0 + i < m ? r0 + i : r0 + i - m;
        const c = portList[a + idx];
        const s = R[c + SENT_S];
        if (s >= B) continue;
        const k = R[c + SENT_K];
        const p = R[c + PARENT];
        if (p < 0) {
          if (started[R[c + STREAM]] <= s) continue;
        } else {
          if (R[p + Q_LEN] === 0) continue;
          const h = p + QUEUE + 3 * R[p + Q_HEAD];
          if (R[h] > t || R[h + 1] !== s || R[h + 2] !== k) continue;
        }
        const ramp = R[c + RAMP_OUT] === 1;
        const keep = !ramp && k < R[c + MAX_CHILD_N];
        if (keep && R[c + Q_LEN] >= QUEUE_DEPTH) continue;
        // send wavelet (s, k) over this port
        rr[pi] = idx + 1 < m ? idx + 1 : 0;
        moved++;
        const last = k + 1 === R[c + N];
        if (last) {
          R[c + SENT_K] = 0;
          R[c + SENT_S] = s + 1;
        } else R[c + SENT_K] = k + 1;
        if (last && started[R[c + STREAM]] <= s + 1) pend[pi]--;
        if (p < 0) {
          work--;
          if (last && --this.srcLeft[R[c + STREAM] * B + s] === 0) this.sink.injected(R[c + STREAM], s, t + 1);
        } else if (--R[p + HEAD_REM] === 0) {
          const hd = (R[p + Q_HEAD] + 1) & QMASK;
          R[p + Q_HEAD] = hd;
          work--;
          if (--R[p + Q_LEN] > 0) R[p + HEAD_REM] = this.needing(p, R[p + QUEUE + 3 * hd + 2]);
        }
        if (ramp) this.deliver(c / STRIDE, s, k, t);
        else if (keep) {
          const len = R[c + Q_LEN];
          const e = c + QUEUE + 3 * ((R[c + Q_HEAD] + len) & QMASK);
          R[e] = t + L;
          R[e + 1] = s;
          R[e + 2] = k;
          R[c + Q_LEN] = len + 1;
          if (len === 0) R[c + HEAD_REM] = this.needing(c, k);
          work++;
        }
        break;
      }
    }
    this.work = work;
    this.wavelets += moved;
    this.portUpdates += updates;
    this.cycle = t + 1;
  }

  private deliver(ch: number, s: number, k: number, t: number): void {
    const B = this.batchSize;
    for (const e of this.ends[ch]) {
      if (e.n !== k + 1) continue;
      if (++this.laneDone[e.slot * B + s] === this.slotLanes[e.slot]) this.sink.delivered(this.slotStream[e.slot], this.slotRoute[e.slot], s, t + 1);
    }
  }
}
