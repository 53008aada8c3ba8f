/**
 * Fabric geometry shared by place, route, estimate and the simulator: rectangles, centres, route lanes and
 * per-link loads (with multicast: routes of one producer's tensor share links, see {@link linkLoads}).
 *
 * The fabric is a grid of `width × height` PEs; PE (x, y) has a directed link to each of its 4 neighbours:
 * E (+x), W (−x), N (+y), S (−y). Each link carries `machine.linkBitsPerCycle` per cycle in its direction
 * (docs/design.md §6).
 */
import type { LinkLoad, Route } from './ir.ts';

/** A rectangle of PEs: columns `x … x+width−1`, rows `y … y+height−1`. */
export interface Rect {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** Centre of a rectangle in PE units (may be a half-integer): `[x + width/2, y + height/2]`. */
export function centre(r: Rect): [number, number] {
  return [r.x + r.width / 2, r.y + r.height / 2];
}

/** L1 distance between the centres of two rectangles (PEs; ISPD 2020 wirelength term). */
export function centreDistance(a: Rect, b: Rect): number {
  return Math.abs(a.x + a.width / 2 - (b.x + b.width / 2)) + Math.abs(a.y + a.height / 2 - (b.y + b.height / 2));
}

/** True when two rectangles share at least one PE. */
export function overlaps(a: Rect, b: Rect): boolean {
  return a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height;
}

/** True when PE (x, y) lies in the rectangle. */
export function contains(r: Rect, x: number, y: number): boolean {
  return x >= r.x && x < r.x + r.width && y >= r.y && y < r.y + r.height;
}

/** The PE at (or just below-left of) a rectangle's centre: `[x + ⌊(width−1)/2⌋, y + ⌊(height−1)/2⌋]`. */
export function anchor(r: Rect): [number, number] {
  return [r.x + Math.floor((r.width - 1) / 2), r.y + Math.floor((r.height - 1) / 2)];
}

/** Direction codes of directed links (index 0–3 in a link array). */
export const DIRS = ['E', 'W', 'N', 'S'] as const;

/**
 * The three corner points of lane `i` of a route (see {@link Route}): start (in the source), corner, end (in
 * the destination).
 * @throws RangeError when `i` is not a lane index.
 */
export function lanePoints(r: Route, i: number): [[number, number], [number, number], [number, number]] {
  if (!(i >= 0 && i < r.lanes && Number.isInteger(i))) throw new RangeError(`lane ${i} of ${r.lanes}`);
  const a = r.firstTrack + i;
  const b = r.secondTrack + r.lanes - 1 - i;
  if (r.order === 'HV') return [[r.start[0], a], [b, a], [b, r.end[1]]];
  return [[a, r.start[1]], [a, b], [r.end[0], b]];
}

/**
 * Calls `visit(index)` for every directed link on the straight segment from `p` to `q` (axis-parallel),
 * where `index = ((y · width) + x) · 4 + dir` is the link leaving PE (x, y) in direction dir (0 E, 1 W,
 * 2 N, 3 S).
 */
export function forEachSegmentLink(
  p: [number, number],
  q: [number, number],
  width: number,
  visit: (index: number) => void,
): void {
  let [x, y] = p;
  const [tx, ty] = q;
  while (x !== tx) {
    const dir = tx > x ? 0 : 1;
    visit((y * width + x) * 4 + dir);
    x += tx > x ? 1 : -1;
  }
  while (y !== ty) {
    const dir = ty > y ? 2 : 3;
    visit((y * width + x) * 4 + dir);
    y += ty > y ? 1 : -1;
  }
}

/**
 * Adds one route's bytes per sample to a link-load array, on its own (no multicast sharing): each lane carries `bytesPerSample / lanes` from
 * source to destination (forward activations), and, when `withBackward` and the route carries gradients,
 * the same amount back along the reversed lane (TRAIN: the backward copy of the consumer sends the input
 * gradient to the producer on the opposite-direction links).
 * @param loads Float64Array of `width · height · 4` directed links, bytes per sample (mutated).
 */
export function addRouteLoad(loads: Float64Array, r: Route, width: number, withBackward: boolean): void {
  if (r.lanes <= 0 || r.bytesPerSample <= 0) return;
  const per = r.bytesPerSample / r.lanes;
  const add = (idx: number) => {
    loads[idx] += per;
  };
  const back = withBackward && r.backward;
  for (let i = 0; i < r.lanes; i++) {
    const [p, q, s] = lanePoints(r, i);
    forEachSegmentLink(p, q, width, add);
    forEachSegmentLink(q, s, width, add);
    if (back) {
      forEachSegmentLink(s, q, width, add);
      forEachSegmentLink(q, p, width, add);
    }
  }
}

/** Routes carrying the same tensor from the same producer (a multicast group): key `from \0 tensor`, where layout
 * views count as the tensor they view (`viewOf`: a channels-first layer's transposes move no data). */
export function multicastKey(r: Pick<Route, 'from' | 'tensor' | 'viewOf'>): string {
  return `${r.from}\u0000${r.viewOf ?? r.tensor}`;
}

/**
 * Adds one route to a load array under the multicast rule: the forward activations of one producer's tensor
 * are sent once and copied by the routers, so on a link used by several routes of the same multicast group
 * the group counts once, with its largest per-lane share (`share` holds the group's share per link and is
 * updated). Gradients flowing back (TRAIN) are each consumer's own data and always add up.
 * @param loads bytes per sample per directed link (mutated).
 * @param share the route's multicast group's per-link forward share so far (mutated).
 */
export function addMulticastRouteLoad(loads: Float64Array, share: Map<number, number>, r: Route, width: number, withBackward: boolean): void {
  if (r.lanes <= 0 || r.bytesPerSample <= 0) return;
  const per = r.bytesPerSample / r.lanes;
  const fwd = (idx: number) => {
    const s = share.get(idx) ?? 0;
    if (per > s) {
      loads[idx] += per - s;
      share.set(idx, per);
    }
  };
  const back = (idx: number) => {
    loads[idx] += per;
  };
  const withBack = withBackward && r.backward;
  for (let i = 0; i < r.lanes; i++) {
    const [p, q, t] = lanePoints(r, i);
    forEachSegmentLink(p, q, width, fwd);
    forEachSegmentLink(q, t, width, fwd);
    if (withBack) {
      forEachSegmentLink(t, q, width, back);
      forEachSegmentLink(q, p, width, back);
    }
  }
}

/**
 * Per-link loads of a set of routes on a `width × height` fabric, with the multicast rule of
 * {@link addMulticastRouteLoad} (one producer's tensor crosses a shared link once; gradients add up).
 * @returns bytes per sample on every directed link (index as in {@link forEachSegmentLink}).
 */
export function linkLoads(routes: readonly Route[], width: number, height: number, withBackward: boolean): Float64Array {
  const loads = new Float64Array(width * height * 4);
  const shares = new Map<string, Map<number, number>>();
  for (const r of routes) {
    const key = multicastKey(r);
    let share = shares.get(key);
    if (!share) shares.set(key, (share = new Map()));
    addMulticastRouteLoad(loads, share, r, width, withBackward);
  }
  return loads;
}

/** The busiest link of a load array, or null if every link is idle. */
export function busiestLink(loads: Float64Array, width: number): LinkLoad | null {
  let best = -1;
  let bestV = 0;
  for (let i = 0; i < loads.length; i++) {
    if (loads[i] > bestV) {
      bestV = loads[i];
      best = i;
    }
  }
  if (best < 0) return null;
  const dir = best % 4;
  const pe = (best - dir) / 4;
  return { x: pe % width, y: Math.floor(pe / width), dir: DIRS[dir], bytesPerSample: bestV };
}
