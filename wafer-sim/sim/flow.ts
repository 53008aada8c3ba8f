/**
 * The flow-level transport (docs/design.md §10, default engine; any fabric size): each transfer is a fluid
 * flow of wavelets whose rate is recomputed whenever a flow starts or ends.
 *
 * ## Rules (units: wavelets = 32 bits, cycles)
 * - A flow is one route's share of one transfer: the route's lanes move in lockstep at ρ wavelets per
 *   cycle on its busiest lane (a lane with fewer wavelets proportionally slower), so it has left the source
 *   after `A_u / ρ` cycles at constant rate, `A_u` being its busiest lane's wavelets. The routes of a
 *   multicast stream are separate flows (as the wavelet engine's copy tree lets a route with short,
 *   uncontended lanes finish before a sibling); the transfer has left the source when all of them have.
 *   A lane runs on ports of `c = linkBitsPerCycle / 32` wavelets per cycle, so `ρ ≤ c`.
 * - A port used by several streams carries at most `c`: `Σ_u (n_up / A_u) · ρ_u ≤ c` over the active flows,
 *   `n_up` being flow u's wavelets per sample on port p, the port's load averaged over the flow. A port a
 *   stream's routes share counts once for the stream, for the route with the most wavelets there (the
 *   multicast rule of network.ts). Rates are **max-min fair** in ρ (progressive filling: raise every
 *   unfrozen flow's rate together, freeze those on the first port to saturate, repeat): what round-robin
 *   arbitration of one wavelet per port per cycle gives flows that share a port (wavelet.ts). Ports with
 *   identical (flow, share) sets form one constraint; a constraint whose shares sum to ≤ 1 can never bind and
 *   is dropped; rates are recomputed only within the connected group of flows that share constraints with a
 *   starting or ending flow.
 * - The last wavelet reaches route r's destination `(h_r + 1) · hopLatencyCycles` after it left the source,
 *   h_r being the most fabric hops of r's lanes (the `+ 1`: the entry port, ramp-in or west-edge entry).
 * - `transfer: 'whole'` is the analytic limit: a transfer is one message of zero duration that arrives
 *   `route.hops · hopLatencyCycles` (anchor to anchor) later, sharing nothing.
 */
import { EventQueue, type Transport, type TransportSink } from './events.ts';
import type { Network } from './network.ts';

/** A port constraint: flows and their shares `n_up / A_u`. */
interface Constraint {
  port: number;
  units: Int32Array;
  share: Float64Array;
}

/** The flow transport of one batch (module doc). */
export class FlowTransport implements Transport {
  private readonly q = new EventQueue();
  private now = 0;
  private readonly cap: number;
  // flows ("units"): one per (stream, route of the stream)
  private readonly unitStream: Int32Array;
  private readonly unitRoute: Int32Array;
  /** Wavelets on the route's busiest lane, and the delay from leaving the source to arrival. */
  private readonly unitLen: Float64Array;
  private readonly unitLat: Float64Array;
  private readonly streamUnits: number[][];
  /** Per stream: flows of the current transfer still leaving the source, and its sample. */
  private readonly left: Int32Array;
  private readonly sample: Int32Array;
  private readonly comp: Int32Array;
  private readonly compCons: Constraint[][] = [];
  private readonly compUnits: number[][] = [];
  private readonly dirty = new Set<number>();
  private readonly active: Uint8Array;
  /** Wavelets sent on the flow's busiest lane at `last`. */
  private readonly pos: Float64Array;
  private readonly rate: Float64Array;
  private readonly last: Float64Array;
  private readonly ver: Int32Array;
  private readonly frozen: Uint8Array;
  /** An end event at the current rate is queued for the flow. */
  private readonly scheduled: Uint8Array;
  private readonly limit: Int32Array;
  private readonly limitSince: Float64Array;
  /** Per stream: cycles each port limited one of its flows. */
  private readonly limitTime: Map<number, number>[];

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
    this.cap = linkBitsPerCycle / 32;
    const us: number[] = [];
    const ur: number[] = [];
    const len: number[] = [];
    const lat: number[] = [];
    // a route has one forward and at most one backward stream: its flow in each, by route index
    const unitOf = [new Int32Array(routeHops.length), new Int32Array(routeHops.length)];
    this.streamUnits = net.streams.map((s) =>
      s.routes.map((r, i) => {
        const n = s.lanes.reduce((m, l) => (l.route === r ? Math.max(m, l.wavelets) : m), 0);
        unitOf[s.kind === 'forward' ? 0 : 1][r] = us.length;
        us.push(s.id);
        ur.push(r);
        len.push(n);
        lat.push((transfer === 'whole' ? routeHops[r] : n > 0 ? s.maxLaneHops[i] + 1 : 0) * hopLatencyCycles);
        return us.length - 1;
      }),
    );
    const U = us.length;
    [this.unitStream, this.unitRoute] = [Int32Array.from(us), Int32Array.from(ur)];
    [this.unitLen, this.unitLat] = [Float64Array.from(len), Float64Array.from(lat)];
    const S = net.streams.length;
    [this.left, this.sample] = [new Int32Array(S), new Int32Array(S)];
    [this.active, this.frozen, this.scheduled] = [new Uint8Array(U), new Uint8Array(U), new Uint8Array(U)];
    [this.ver, this.limit, this.comp] = [new Int32Array(U), new Int32Array(U).fill(-1), new Int32Array(U).fill(-1)];
    [this.pos, this.rate, this.last, this.limitSince] = [new Float64Array(U), new Float64Array(U), new Float64Array(U), new Float64Array(U)];
    this.limitTime = net.streams.map(() => new Map());
    if (transfer === 'whole') return;
    // constraints: ports shared by flows whose shares can exceed one port's capacity
    // deduplicated by a hash of the (flow, wavelets) pairs, confirmed entry by entry
    const seen = new Map<number, Constraint[]>();
    const cons: Constraint[] = [];
    const sh = net.shared;
    for (let i = 0; i < sh.ports.length; i++) {
      const a = sh.start[i];
      const b = sh.start[i + 1];
      const unit = (j: number) => unitOf[net.streams[sh.streams[j]].kind === 'forward' ? 0 : 1][sh.owners[j]];
      let sum = 0;
      let hash = 0x811c9dc5;
      for (let j = a; j < b; j++) {
        const u = unit(j);
        sum += sh.counts[j] / len[u];
        hash = Math.imul(hash ^ u, 16777619);
        hash = Math.imul(hash ^ sh.counts[j], 16777619);
      }
      if (sum <= 1 + 1e-12) continue;
      const same = (c: Constraint) => c.units.length === b - a && c.units.every((u, j) => u === unit(a + j) && c.share[j] === sh.counts[a + j] / len[u]);
      const bucket = seen.get(hash) ?? [];
      if (bucket.some(same)) continue;
      const units = Int32Array.from({ length: b - a }, (_, j) => unit(a + j));
      const c = { port: sh.ports[i], units, share: Float64Array.from(units, (u, j) => sh.counts[a + j] / len[u]) };
      bucket.push(c);
      seen.set(hash, bucket);
      cons.push(c);
    }
    // connected groups of flows (union-find)
    const parent = Int32Array.from({ length: U }, (_, i) => i);
    const find = (i: number): number => {
      while (parent[i] !== i) i = parent[i] = parent[parent[i]];
      return i;
    };
    for (const c of cons) for (const u of c.units) parent[find(u)] = find(c.units[0]);
    const ids = new Map<number, number>();
    for (const c of cons) {
      const root = find(c.units[0]);
      let g = ids.get(root);
      if (g === undefined) {
        ids.set(root, (g = this.compCons.length));
        this.compCons.push([]);
        this.compUnits.push([]);
      }
      this.compCons[g].push(c);
    }
    for (let u = 0; u < U; u++) {
      const g = ids.get(find(u));
      if (g === undefined) continue;
      this.comp[u] = g;
      this.compUnits[g].push(u);
    }
  }

  start(k: number, s: number, now: number): void {
    this.now = now;
    this.sample[k] = s;
    const units = this.streamUnits[k];
    this.left[k] = units.length;
    for (const u of units) {
      if (this.transfer === 'whole' || this.unitLen[u] === 0) {
        this.done(u, k, s);
        continue;
      }
      this.active[u] = 1;
      this.scheduled[u] = 0;
      this.pos[u] = 0;
      this.last[u] = now;
      if (this.comp[u] >= 0) this.dirty.add(this.comp[u]);
      else this.setRate(u, this.cap, -1);
    }
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

  /** The port that limited the stream's flows for the most cycles (−1: none did). */
  limitingPort(k: number): number {
    let best = -1;
    let most = 0;
    for (const [p, t] of this.limitTime[k]) if (t > most) [best, most] = [p, t];
    return best;
  }

  /** Charges the time since the last change to the flow's limiting port, then sets a new one. */
  private setLimit(u: number, port: number): void {
    const p = this.limit[u];
    const m = this.limitTime[this.unitStream[u]];
    if (p >= 0) m.set(p, (m.get(p) ?? 0) + this.now - this.limitSince[u]);
    this.limit[u] = port;
    this.limitSince[u] = this.now;
  }

  /** Flow u of stream k's transfer s has left the source: it arrives after its latency. */
  private done(u: number, k: number, s: number): void {
    this.sink.delivered(k, this.unitRoute[u], s, this.now + this.unitLat[u]);
    if (--this.left[k] === 0) this.sink.injected(k, s, this.now);
  }

  /** Sets the flow's rate and queues the end of its injection at that rate. */
  private setRate(u: number, rate: number, port: number): void {
    this.rate[u] = rate;
    this.scheduled[u] = 1;
    this.setLimit(u, port);
    const v = ++this.ver[u];
    const k = this.unitStream[u];
    const s = this.sample[k];
    this.q.push(this.last[u] + (this.unitLen[u] - this.pos[u]) / rate, () => {
      if (this.ver[u] !== v || !this.active[u]) return;
      this.active[u] = 0;
      this.setLimit(u, -1);
      if (this.comp[u] >= 0) this.dirty.add(this.comp[u]);
      this.done(u, k, s);
    });
  }

  /** Max-min fair rates by progressive filling within one group of flows. */
  private recompute(g: number): void {
    const now = this.now;
    const act: number[] = [];
    for (const u of this.compUnits[g]) {
      if (!this.active[u]) continue;
      this.pos[u] += this.rate[u] * (now - this.last[u]);
      this.last[u] = now;
      this.frozen[u] = 0;
      act.push(u);
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
        for (let i = 0; i < c.units.length; i++) {
          const u = c.units[i];
          if (!this.active[u]) continue;
          if (this.frozen[u]) used += c.share[i] * newRate.get(u)![0];
          else w += c.share[i];
        }
        if (w === 0) continue;
        const lvl = (this.cap - used) / w;
        if (lvl < best * (1 - 1e-12)) {
          best = lvl;
          bestCons = [c];
        } else if (lvl <= best * (1 + 1e-12) && bestCons.length) bestCons.push(c);
      }
      const freeze = (u: number, port: number) => {
        if (this.frozen[u]) return;
        this.frozen[u] = 1;
        newRate.set(u, [best, port]);
        left--;
      };
      if (bestCons.length) {
        for (const c of bestCons) for (const u of c.units) if (this.active[u]) freeze(u, c.port);
      } else for (const u of act) freeze(u, -1);
    }
    for (const u of act) {
      const [r, port] = newRate.get(u)!;
      if (!this.scheduled[u] || r !== this.rate[u]) this.setRate(u, r, port);
      else if (port !== this.limit[u]) this.setLimit(u, port);
    }
  }
}
