/**
 * Pass `route`: PlacedGraph → RoutedGraph. Gives every producer → consumer edge a Manhattan route on the
 * fabric and accounts the load of every directed link.
 *
 * A route is a bundle of parallel L-shaped lanes (fabric.ts, ir.ts `Route`): for order HV each lane leaves
 * the source along one of its rows, turns once, and enters the destination along one of its columns; VH is
 * the transpose. Lanes use distinct rows on one leg and distinct columns on the other, so a route never puts
 * two lanes on one link; there are `min(source rows, destination columns)` lanes (HV), each carrying an equal
 * share of the tensor, in a band at the low end, centre or high end of each side. External inputs enter at
 * the west edge (x = 0) on the destination's rows.
 *
 * Bytes per sample per edge: elements of the tensor × `machine.wordBytes`. In TRAIN the gradient of the same
 * size flows back along the reversed lanes (on the opposite-direction links), except for inputs and labels.
 * A producer's tensor going to several consumers is multicast: where their routes share a link it crosses
 * once (fabric.ts `linkLoads`); the gradients coming back are separate data and add up.
 * Routing is greedy and congestion-aware: edges in decreasing order of bytes, each taking the candidate
 * (order HV or VH, band positions) whose busiest link ends up least loaded (ties: the first, centred one).
 *
 * The busiest link bounds throughput: a link moves `linkBitsPerCycle / 8` bytes per cycle, so samples/s
 * ≤ clock / (busiest bytes per sample / bytes per cycle) — see estimate.ts `planEstimate`.
 */
import { addMulticastRouteLoad, anchor, busiestLink, forEachSegmentLink, lanePoints, multicastKey, type Rect } from '../fabric.ts';
import type { KernelEdge, PlacedGraph, PlacedKernel, Route, RoutedGraph } from '../ir.ts';
import type { Machine } from '../machine.ts';

/** Offsets of a band of `lanes` tracks inside a span of `span` tracks: low end, centre, high end. */
function bandOffsets(span: number, lanes: number): number[] {
  const free = span - lanes;
  return [...new Set([Math.floor(free / 2), 0, free])];
}

/**
 * Candidate routes of an edge: orders HV and VH (HV only when the source is external), each with its lane
 * bands at the low end, the centre or the high end of the source's and destination's sides.
 */
export function candidateRoutes(e: KernelEdge, src: Rect | null, dst: Rect): Route[] {
  const base = { from: e.from, to: e.to, tensor: e.tensor, ...(e.viewOf ? { viewOf: e.viewOf } : {}), bytesPerSample: e.bytesPerSample, external: e.external, backward: e.backward };
  const [dx, dy] = anchor(dst);
  const out: Route[] = [];
  if (!src) {
    const lanes = Math.min(dst.height, dst.width);
    for (const a of bandOffsets(dst.height, lanes))
      for (const b of bandOffsets(dst.width, lanes))
        out.push({ ...base, order: 'HV', start: [0, dy], end: [dx, dy], lanes, firstTrack: dst.y + a, secondTrack: dst.x + b, hops: dx });
    return out;
  }
  const [sx, sy] = anchor(src);
  const hops = Math.abs(dx - sx) + Math.abs(dy - sy);
  const hv = Math.min(src.height, dst.width);
  for (const a of bandOffsets(src.height, hv))
    for (const b of bandOffsets(dst.width, hv))
      out.push({ ...base, order: 'HV', start: [sx, sy], end: [dx, dy], lanes: hv, firstTrack: src.y + a, secondTrack: dst.x + b, hops });
  const vh = Math.min(src.width, dst.height);
  for (const a of bandOffsets(src.width, vh))
    for (const b of bandOffsets(dst.height, vh))
      out.push({ ...base, order: 'VH', start: [sx, sy], end: [dx, dy], lanes: vh, firstTrack: src.x + a, secondTrack: dst.y + b, hops });
  return out;
}

/** Busiest link a route would create on top of the current loads (bytes per sample), multicast-aware. */
function peakWith(loads: Float64Array, share: Map<number, number>, r: Route, width: number, withBackward: boolean): number {
  const per = r.bytesPerSample / r.lanes;
  let peak = 0;
  const fwd = (i: number) => {
    const v = loads[i] + Math.max(0, per - (share.get(i) ?? 0));
    if (v > peak) peak = v;
  };
  const back = (i: number) => {
    if (loads[i] + per > peak) peak = loads[i] + per;
  };
  for (let i = 0; i < r.lanes; i++) {
    const [p, q, s] = lanePoints(r, i);
    forEachSegmentLink(p, q, width, fwd);
    forEachSegmentLink(q, s, width, fwd);
    if (withBackward && r.backward) {
      forEachSegmentLink(s, q, width, back);
      forEachSegmentLink(q, p, width, back);
    }
  }
  return peak;
}

/**
 * Pass `route`.
 * @param pg placed kernel graph.
 * @param machine the fabric (size).
 * @returns the routes (in edge order) and the busiest directed link (bytes per sample; multicast rule of
 *   fabric.ts `linkLoads`).
 * @throws Error when an edge names a kernel that was not placed.
 */
export function route(pg: PlacedGraph, machine: Machine): RoutedGraph {
  const { width: FW, height: FH } = machine.fabric;
  const withBackward = pg.mode === 'train';
  const byName = new Map<string, PlacedKernel>(pg.kernels.map((k) => [k.name, k]));
  const loads = new Float64Array(FW * FH * 4);
  const shares = new Map<string, Map<number, number>>();
  const order = pg.edges.map((e, i) => i).sort((a, b) => pg.edges[b].bytesPerSample - pg.edges[a].bytesPerSample || a - b);
  const routes: Route[] = new Array(pg.edges.length);
  for (const i of order) {
    const e = pg.edges[i];
    const dst = byName.get(e.to);
    if (!dst) throw new Error(`edge to unplaced kernel '${e.to}'`);
    const src = e.external ? null : byName.get(e.from);
    if (!e.external && !src) throw new Error(`edge from unplaced kernel '${e.from}'`);
    const key = multicastKey(e);
    let share = shares.get(key);
    if (!share) shares.set(key, (share = new Map()));
    const cands = candidateRoutes(e, src ?? null, dst);
    let best = cands[0];
    if (cands.length > 1) {
      let bestPeak = Infinity;
      for (const c of cands) {
        const p = peakWith(loads, share, c, FW, withBackward);
        if (p < bestPeak - 1e-9) {
          bestPeak = p;
          best = c;
        }
      }
    }
    addMulticastRouteLoad(loads, share, best, FW, withBackward);
    routes[i] = best;
  }
  return { ...pg, routes, busiestLink: busiestLink(loads, FW) };
}
