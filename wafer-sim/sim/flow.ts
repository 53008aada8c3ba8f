/**
 * The flow-level transport (docs/design.md §10, default engine; any fabric size): each transfer is a fluid
 * flow of wavelets whose rate is recomputed whenever a flow starts or ends.
 *
 * ## Rules (units: wavelets = 32 bits, cycles)
 * - A transfer of stream k (network.ts) moves `A_k` wavelets on its busiest lane; its lanes move in
 *   lockstep at `ρ_k` wavelets per cycle on the busiest lane (a lane with fewer wavelets proportionally
 *   slower), so all lanes finish injecting together, after `A_k / ρ` cycles at constant rate. A lane runs on
 *   ports of `c = linkBitsPerCycle / 32` wavelets per cycle, so `ρ_k ≤ c`.
 * - A port shared by several streams carries at most `c`: `Σ_k (n_kp / A_k) · ρ_k ≤ c` over the active
 *   streams, `n_kp` being stream k's wavelets per sample on port p (multicast rule of network.ts). Rates are
 *   **max-min fair** in ρ (progressive filling: raise every unfrozen stream's rate together, freeze those on
 *   the first port to saturate, repeat): what round-robin arbitration of one wavelet per port per cycle
 *   gives streams that share a port (wavelet.ts). Ports with identical (stream, share) sets form one
 *   constraint; a constraint whose shares sum to ≤ 1 can never bind and is dropped; rates are recomputed
 *   only within the connected group of streams that share constraints with a starting or ending flow.
 * - The last wavelet reaches route r's destination `(h_r + 1) · hopLatencyCycles` after it left the source,
 *   h_r being the most fabric hops of r's lanes (the `+ 1`: the entry port, ramp-in or west-edge entry).
 * - `transfer: 'whole'` is the analytic limit: a transfer is one message of zero duration that arrives
 *   `route.hops · hopLatencyCycles` (anchor to anchor) later, sharing nothing.
 */
import type { Transport, TransportSink } from './core.ts';
import { EventQueue } from './core.ts';
import type { Network } from './network.ts';

/** A port constraint: streams and their shares `n_kp / A_k`. */
interface Constraint {
  port: number;
  streams: Int32Array;
  share: Float64Array;
}

/** The flow transport of one batch (module doc). */
export class FlowTransport implements Transport {
  private readonly q = new EventQueue();
  private now = 0;
  private readonly cap: number;
  private readonly latency: number[][];
  private readonly comp: Int32Array;
  private readonly compCons: Constraint[][] = [];
  private readonly compStreams: number[][] = [];
  private readonly dirty = new Set<number>();
  private readonly active: Uint8Array;
  private readonly sample: Int32Array;
  private readonly rem: Float64Array;
  private readonly rate: Float64Array;
  private readonly last: Float64Array;
  private readonly ver: Int32Array;
  private readonly limit: Int32Array;
  private readonly limitSince: Float64Array;
  /** Per stream: cycles each port limited its rate. */
  private readonly limitTime: Map<number, number>[];
  private readonly frozen: Uint8Array;
  /** An end event at the current rate is queued for the stream's transfer. */
  private readonly scheduled: Uint8Array;

  /**
   * @param net the plan's streams.
   * @param routeHops each route's anchor-to-anchor hops (`plan.routes[i].hops`; the `whole` latency).
   * @param linkBitsPerCycle, hopLatencyCycles from the machine.
   * @param transfer `chunked` (default engine) or `whole` (the analytic limit).
   */
  constructor(
    private readonly net: Network,
    routeHops: readonly number[],
    linkBitsPerCycle: number,
    hopLatencyCycles: number,
    private readonly transfer: 'chunked' | 'whole',
    private readonly sink: TransportSink,
  ) {
    const S = net.streams.length;
    this.cap = linkBitsPerCycle / 32;
    this.latency = net.streams.map((s) =>
      s.routes.map((r, i) => (transfer === 'whole' ? routeHops[r] : s.lanes.some((l) => l.route === r) ? s.maxLaneHops[i] + 1 : 0) * hopLatencyCycles),
    );
    [this.active, this.frozen, this.scheduled] = [new Uint8Array(S), new Uint8Array(S), new Uint8Array(S)];
    [this.sample, this.ver, this.limit] = [new Int32Array(S), new Int32Array(S), new Int32Array(S).fill(-1)];
    [this.rem, this.rate, this.last] = [new Float64Array(S), new Float64Array(S), new Float64Array(S)];
    this.comp = new Int32Array(S).fill(-1);
    this.limitSince = new Float64Array(S);
    this.limitTime = net.streams.map(() => new Map());
    if (transfer === 'whole') return;
    // constraints: ports shared by streams whose shares can exceed one port's capacity
    const seen = new Map<string, Constraint>();
    const sh = net.shared;
    for (let i = 0; i < sh.ports.length; i++) {
      const a = sh.start[i];
      const b = sh.start[i + 1];
      let sum = 0;
      for (let j = a; j < b; j++) sum += sh.counts[j] / net.streams[sh.streams[j]].wavelets;
      if (sum <= 1 + 1e-12) continue;
      let sig = '';
      for (let j = a; j < b; j++) sig += `${sh.streams[j]}:${sh.counts[j]},`;
      if (seen.has(sig)) continue;
      const streams = sh.streams.slice(a, b);
      seen.set(sig, { port: sh.ports[i], streams, share: Float64Array.from(streams, (k, j) => sh.counts[a + j] / net.streams[k].wavelets) });
    }
    // connected groups of streams (union-find)
    const parent = Int32Array.from({ length: S }, (_, i) => i);
    const find = (i: number): number => {
      while (parent[i] !== i) i = parent[i] = parent[parent[i]];
      return i;
    };
    const cons = [...seen.values()];
    for (const c of cons) for (const k of c.streams) parent[find(k)] = find(c.streams[0]);
    const ids = new Map<number, number>();
    for (const c of cons) {
      const root = find(c.streams[0]);
      let g = ids.get(root);
      if (g === undefined) {
        ids.set(root, (g = this.compCons.length));
        this.compCons.push([]);
        this.compStreams.push([]);
      }
      this.compCons[g].push(c);
    }
    for (let k = 0; k < S; k++) {
      const g = ids.get(find(k));
      if (g === undefined) continue;
      this.comp[k] = g;
      this.compStreams[g].push(k);
    }
  }

  start(k: number, s: number, now: number): void {
    this.now = now;
    const A = this.net.streams[k].wavelets;
    this.sample[k] = s;
    if (this.transfer === 'whole' || A === 0) {
      this.finish(k, s, now);
      return;
    }
    this.active[k] = 1;
    this.scheduled[k] = 0;
    this.rem[k] = A;
    this.last[k] = now;
    if (this.comp[k] >= 0) this.dirty.add(this.comp[k]);
    else this.setRate(k, this.cap, -1);
  }

  nextTime(): number {
    for (const g of this.dirty) this.recompute(g);
    this.dirty.clear();
    return this.q.peek();
  }

  advance(t: number): void {
    this.now = t;
    while (this.q.peek() <= t) this.q.pop()();
  }

  /** The port that limited the stream for the most cycles (−1: none did). */
  limitingPort(k: number): number {
    let best = -1;
    let most = 0;
    for (const [p, t] of this.limitTime[k]) if (t > most) [best, most] = [p, t];
    return best;
  }

  /** Charges the time since the last change to the stream's limiting port, then sets a new one. */
  private setLimit(k: number, port: number): void {
    const p = this.limit[k];
    if (p >= 0) this.limitTime[k].set(p, (this.limitTime[k].get(p) ?? 0) + this.now - this.limitSince[k]);
    this.limit[k] = port;
    this.limitSince[k] = this.now;
  }

  private finish(k: number, s: number, t: number): void {
    this.sink.injected(k, s, t);
    const st = this.net.streams[k];
    st.routes.forEach((r, i) => this.sink.delivered(k, r, s, t + this.latency[k][i]));
  }

  private setRate(k: number, rate: number, port: number): void {
    this.rate[k] = rate;
    this.scheduled[k] = 1;
    this.setLimit(k, port);
    const v = ++this.ver[k];
    const s = this.sample[k];
    this.q.push(this.now + this.rem[k] / rate, () => {
      if (this.ver[k] !== v || !this.active[k]) return;
      this.active[k] = 0;
      this.rem[k] = 0;
      this.setLimit(k, -1);
      if (this.comp[k] >= 0) this.dirty.add(this.comp[k]);
      this.finish(k, s, this.now);
    });
  }

  /** Max-min fair rates by progressive filling within one group of streams. */
  private recompute(g: number): void {
    const now = this.now;
    const act: number[] = [];
    for (const k of this.compStreams[g]) {
      if (!this.active[k]) continue;
      this.rem[k] = Math.max(0, this.rem[k] - this.rate[k] * (now - this.last[k]));
      this.last[k] = now;
      this.frozen[k] = 0;
      act.push(k);
    }
    if (!act.length) return;
    const cons = this.compCons[g];
    const newRate = new Map<number, [number, number]>();
    let left = act.length;
    while (left > 0) {
      let best = this.cap;
      let bestCons: Constraint[] = [];
      for (const c of cons) {
        let used = 0;
        let w = 0;
        for (let i = 0; i < c.streams.length; i++) {
          const k = c.streams[i];
          if (!this.active[k]) continue;
          if (this.frozen[k]) used += c.share[i] * newRate.get(k)![0];
          else w += c.share[i];
        }
        if (w === 0) continue;
        const lvl = (this.cap - used) / w;
        if (lvl < best * (1 - 1e-12)) {
          best = lvl;
          bestCons = [c];
        } else if (lvl <= best * (1 + 1e-12) && bestCons.length) bestCons.push(c);
      }
      const freeze = (k: number, port: number) => {
        if (this.frozen[k]) return;
        this.frozen[k] = 1;
        newRate.set(k, [best, port]);
        left--;
      };
      if (bestCons.length) {
        for (const c of bestCons) for (const k of c.streams) if (this.active[k]) freeze(k, c.port);
      } else for (const k of act) freeze(k, -1);
    }
    for (const k of act) {
      const [r, port] = newRate.get(k)!;
      if (!this.scheduled[k] || r !== this.rate[k]) this.setRate(k, r, port);
      else if (port !== this.limit[k]) this.setLimit(k, port);
    }
  }
}
