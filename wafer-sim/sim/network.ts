/**
 * The fabric as both simulation engines see it (docs/design.md §10): the streams of wavelets a plan's routes
 * carry, their lanes as sequences of directed links, and what each stream puts on each link per sample.
 * Shared by the flow-level (flow.ts) and the wavelet-level (wavelet.ts) engines, so the two can differ only
 * in how they move the wavelets.
 *
 * ## Ports (ids)
 * PE (x, y) owns eight one-way ports, id `(y · width + x) · 8 + d`: d = 0 E (+x), 1 W (−x), 2 N (+y), 3 S
 * (−y) (the fabric link leaving the PE's router in that direction); 4 ramp-in (PE → router) and 5 ramp-out
 * (router → PE) of forward data; 6 and 7 the same for gradients. Id `8 · width · height + y` is the wafer's
 * west-edge entry into PE (0, y)'s router, through which graph inputs arrive from the host. Every port
 * carries `linkBitsPerCycle / 32` wavelets per cycle.
 *
 * Why two ramps per PE: a route's lanes start and end at one PE per lane, near the anchors of its kernels;
 * those PEs stand for the kernel's copies (docs/design.md §7), and the forward activations go to and from
 * the forward copy while the gradients go to and from the backward and weight-update copies, which are
 * other PEs side by side. So forward data and gradients never share a ramp, while two forward inputs of
 * one kernel landing on the same PE do (as two tensors leaving one PE do).
 *
 * ## Streams
 * - a **forward stream** per multicast group (one producer's tensor, or one graph input, to all its
 *   consumers: compiler/fabric.ts `multicastKey`), over every route of the group;
 * - a **backward stream** per route whose gradient flows back in TRAIN (pass-graph `backward` dependencies),
 *   over the route's lanes reversed (opposite-direction links, from the consumer to the producer).
 * A route's tensor is `⌈bytes / 4⌉` 32-bit wavelets split over its lanes (lane i gets `⌊n/L⌋`, plus one
 * for i < n mod L). A lane's links are: its entry (ramp-in at its first PE, or the west-edge entry for a
 * graph input), the fabric links of its L-shaped path (compiler/fabric.ts `lanePoints`), and the ramp-out
 * at its last PE.
 *
 * **Multicast rule** (the router's, as compiler/fabric.ts `linkLoads` counts it): a link used by several
 * lanes of one stream carries the stream once, with the largest of those lanes' wavelet counts; routers copy
 * the wavelets to every output port a lane of the stream leaves by (wavelet.ts builds the copy tree).
 * Gradients of different routes are different streams and always add up.
 *
 * Units: wavelets (32 bits), bytes, hops (links), cycles.
 */
import { contains, forEachSegmentLink, lanePoints, multicastKey, overlaps } from '../../compiler/fabric.ts';
import type { PlacedKernel, Route } from '../../compiler/ir.ts';
import type { PassGraph } from '../../compiler/pass-graph.ts';
import { UserError } from '../../runtime/errors.ts';

/** Bytes per wavelet (32 bits). */
export const WAVELET_BYTES = 4;
/** Ports per PE (module doc). */
export const PORTS_PER_PE = 8;
/** Names of the per-PE port kinds, by `id % 8`. */
export const PORT_DIRS = ['E', 'W', 'N', 'S', 'ramp-in', 'ramp-out', 'ramp-in (gradient)', 'ramp-out (gradient)'] as const;
/** A port kind: fabric direction, ramp, or the west-edge entry. */
export type PortDir = (typeof PORT_DIRS)[number] | 'edge-in';

/** One lane of one route in one stream. */
export interface Lane {
  route: number;
  /** Lane index in the route. */
  index: number;
  /** Wavelets per sample. */
  wavelets: number;
  /** Fabric links crossed (entry and ramp-out excluded). */
  hops: number;
  /** Port ids in order: entry, fabric links, ramp-out. */
  links: Int32Array;
}

/** A stream of wavelets: one transfer per sample. */
export interface Stream {
  id: number;
  kind: 'forward' | 'backward';
  /** `producer → consumer, …` (forward) or `consumer ⇢ producer (gradient)` (backward). */
  name: string;
  /** Plan route indices it delivers over (forward: the multicast group; backward: one route). */
  routes: number[];
  /** True for a graph input entering from the host. */
  external: boolean;
  lanes: Lane[];
  /** Wavelets per sample on its busiest lane (the stream's length at one wavelet per cycle). */
  wavelets: number;
  /** Distinct ports it uses, the wavelets per sample on each (multicast rule), and the route whose lane
   * carries that many there (the first such). */
  links: Int32Array;
  counts: Int32Array;
  owners: Int32Array;
  /** Per entry of `routes`: the most fabric hops of a lane that carries wavelets (0 when none does). */
  maxLaneHops: number[];
}

/** The streams of a plan on its fabric. */
export interface Network {
  width: number;
  height: number;
  /** Number of port ids (`8 · width · height + height`). */
  portCount: number;
  streams: Stream[];
  /** Route index → its forward stream. */
  forwardStream: number[];
  /** Route index → its backward stream, or null. */
  backwardStream: (number | null)[];
  /** Ports used by ≥ 2 streams (CSR): port `ports[i]` is used by `streams[start[i] … start[i+1])`, with
   * `counts` wavelets per sample each, carried for the route `owners`. */
  shared: { ports: Int32Array; start: Int32Array; streams: Int32Array; counts: Int32Array; owners: Int32Array };
}

/** What the network reads of a plan. */
export interface NetworkPlan {
  machine: { fabric: { width: number; height: number } };
  kernels: readonly Pick<PlacedKernel, 'name' | 'x' | 'y' | 'width' | 'height'>[];
  routes: readonly Route[];
}

/** Port id of PE (x, y)'s port `d` (0–7). */
export function portId(x: number, y: number, d: number, width: number): number {
  return (y * width + x) * PORTS_PER_PE + d;
}

/** PE coordinates and kind of a port id. */
export function portName(id: number, width: number, height: number): { x: number; y: number; dir: PortDir } {
  const edge = PORTS_PER_PE * width * height;
  if (id >= edge) return { x: 0, y: id - edge, dir: 'edge-in' };
  const d = id % PORTS_PER_PE;
  const pe = (id - d) / PORTS_PER_PE;
  return { x: pe % width, y: Math.floor(pe / width), dir: PORT_DIRS[d] };
}

/** `(x,y,dir)`, the name a report gives a port. */
export function portLabel(id: number, width: number, height: number): string {
  const p = portName(id, width, height);
  return `(${p.x},${p.y},${p.dir})`;
}

/**
 * Checks that a plan's geometry is consistent: every kernel inside the fabric, no two kernels overlapping,
 * every lane's corners inside the fabric, starting in its source (or on the west edge for a graph input)
 * and ending in its destination.
 * @throws UserError naming the kernel or route (a corrupted plan.json).
 */
export function checkGeometry(plan: NetworkPlan): void {
  const { width: W, height: H } = plan.machine.fabric;
  const byName = new Map(plan.kernels.map((k) => [k.name, k]));
  for (const k of plan.kernels) {
    if (k.x < 0 || k.y < 0 || k.x + k.width > W || k.y + k.height > H) throw new UserError(`plan: kernel '${k.name}' (${k.width}×${k.height} at ${k.x},${k.y}) lies outside the ${W}×${H} fabric`);
  }
  const sorted = [...plan.kernels].sort((a, b) => a.x - b.x);
  for (let i = 0; i < sorted.length; i++) {
    for (let j = i + 1; j < sorted.length && sorted[j].x < sorted[i].x + sorted[i].width; j++) {
      if (overlaps(sorted[i], sorted[j])) throw new UserError(`plan: kernels '${sorted[i].name}' and '${sorted[j].name}' overlap`);
    }
  }
  plan.routes.forEach((r, ri) => {
    const what = `plan: route ${ri} (${r.from} → ${r.to})`;
    if (!Number.isInteger(r.lanes) || r.lanes < 1) throw new UserError(`${what} has ${r.lanes} lanes`);
    const src = byName.get(r.from);
    const dst = byName.get(r.to);
    if (!dst || (!r.external && !src)) throw new UserError(`${what} names a kernel that is not in the plan`);
    for (let i = 0; i < r.lanes; i++) {
      const pts = lanePoints(r, i);
      for (const [x, y] of pts) if (!(x >= 0 && y >= 0 && x < W && y < H)) throw new UserError(`${what} lane ${i} leaves the ${W}×${H} fabric at (${x},${y})`);
      const [p, , t] = pts;
      if (r.external ? p[0] !== 0 : !contains(src!, p[0], p[1])) throw new UserError(`${what} lane ${i} does not start ${r.external ? 'on the west edge' : `in '${r.from}'`}`);
      if (!contains(dst, t[0], t[1])) throw new UserError(`${what} lane ${i} does not end in '${r.to}'`);
    }
  });
}

/** Wavelets of lane i when n wavelets are split over L lanes. */
function laneWavelets(n: number, lanes: number, i: number): number {
  return Math.floor(n / lanes) + (i < n % lanes ? 1 : 0);
}

/** Port ids of a lane: entry, fabric links, ramp-out; reversed for a gradient. */
function lanePorts(r: Route, i: number, width: number, height: number, reverse: boolean): Int32Array {
  const [p, q, t] = lanePoints(r, i);
  const hops = Math.abs(q[0] - p[0]) + Math.abs(q[1] - p[1]) + Math.abs(t[0] - q[0]) + Math.abs(t[1] - q[1]);
  const links = new Int32Array(hops + 2);
  let n = 1;
  const visit = (idx4: number) => {
    links[n++] = (idx4 >> 2) * PORTS_PER_PE + (idx4 & 3);
  };
  if (reverse) {
    forEachSegmentLink(t, q, width, visit);
    forEachSegmentLink(q, p, width, visit);
  } else {
    forEachSegmentLink(p, q, width, visit);
    forEachSegmentLink(q, t, width, visit);
  }
  const [a, b] = reverse ? [t, p] : [p, t];
  const ramp = reverse ? 6 : 4;
  links[0] = !reverse && r.external ? PORTS_PER_PE * width * height + a[1] : portId(a[0], a[1], ramp, width);
  links[hops + 1] = portId(b[0], b[1], ramp + 1, width);
  return links;
}

/**
 * Builds the streams of a plan (module doc).
 * @param plan fabric, kernels and routes.
 * @param graph its pass graph (which routes carry gradients back).
 */
export function buildNetwork(plan: NetworkPlan, graph: PassGraph): Network {
  const { width, height } = plan.machine.fabric;
  const portCount = PORTS_PER_PE * width * height + height;
  const streams: Stream[] = [];
  const forwardStream = new Array<number>(plan.routes.length).fill(-1);
  const backwardStream = new Array<number | null>(plan.routes.length).fill(null);
  // per-port scratch: which stream last touched it and where it sits in that stream's list
  const mark = new Int32Array(portCount).fill(-1);
  const pos = new Int32Array(portCount);
  const users = new Uint16Array(portCount);
  const make = (kind: 'forward' | 'backward', routes: number[]): Stream => {
    const id = streams.length;
    const lanes: Lane[] = [];
    const maxLaneHops: number[] = [];
    for (const ri of routes) {
      const r = plan.routes[ri];
      const n = Math.ceil(r.bytesPerSample / WAVELET_BYTES);
      let mh = 0;
      for (let i = 0; i < r.lanes; i++) {
        const w = laneWavelets(n, r.lanes, i);
        if (w === 0) continue;
        const links = lanePorts(r, i, width, height, kind === 'backward');
        mh = Math.max(mh, links.length - 2);
        lanes.push({ route: ri, index: i, wavelets: w, hops: links.length - 2, links });
      }
      maxLaneHops.push(mh);
    }
    const links = new Int32Array(lanes.reduce((s, l) => s + l.links.length, 0));
    const counts = new Int32Array(links.length);
    const owners = new Int32Array(links.length);
    let used = 0;
    for (const { links: ls, wavelets: w, route } of lanes) {
      for (let j = 0; j < ls.length; j++) {
        const l = ls[j];
        if (mark[l] !== id) {
          mark[l] = id;
          pos[l] = used;
          links[used] = l;
          owners[used] = route;
          counts[used++] = w;
          users[l]++;
        } else if (w > counts[pos[l]]) {
          counts[pos[l]] = w;
          owners[pos[l]] = route;
        }
      }
    }
    const r0 = plan.routes[routes[0]];
    const name = kind === 'forward' ? `${r0.from} → ${routes.map((i) => plan.routes[i].to).join(', ')}` : `${r0.to} ⇢ ${r0.from} (gradient)`;
    const s: Stream = { id, kind, name, routes, external: kind === 'forward' && r0.external, lanes, wavelets: lanes.reduce((m, l) => Math.max(m, l.wavelets), 0), links: links.slice(0, used), counts: counts.slice(0, used), owners: owners.slice(0, used), maxLaneHops };
    streams.push(s);
    return s;
  };
  const groups = new Map<string, number[]>();
  const backwardRoutes = new Set<number>();
  for (const d of graph.deps) {
    if (d.route === null) continue;
    if (d.direction === 'backward') backwardRoutes.add(d.route);
    else {
      const key = multicastKey(plan.routes[d.route]);
      const g = groups.get(key) ?? [];
      if (!g.includes(d.route)) g.push(d.route);
      groups.set(key, g);
    }
  }
  for (const g of groups.values()) {
    const s = make('forward', g);
    for (const r of g) forwardStream[r] = s.id;
  }
  for (const r of [...backwardRoutes].sort((a, b) => a - b)) backwardStream[r] = make('backward', [r]).id;
  // ports used by ≥ 2 streams, as CSR (reusing `pos` as each shared port's slot cursor)
  const ports: number[] = [];
  for (let l = 0; l < portCount; l++) if (users[l] > 1) ports.push(l);
  const start = new Int32Array(ports.length + 1);
  ports.forEach((l, i) => {
    start[i + 1] = start[i] + users[l];
    pos[l] = start[i];
  });
  const sStreams = new Int32Array(start[ports.length]);
  const sCounts = new Int32Array(start[ports.length]);
  const sOwners = new Int32Array(start[ports.length]);
  for (const s of streams) {
    for (let j = 0; j < s.links.length; j++) {
      const l = s.links[j];
      if (users[l] < 2) continue;
      sStreams[pos[l]] = s.id;
      sOwners[pos[l]] = s.owners[j];
      sCounts[pos[l]++] = s.counts[j];
    }
  }
  return { width, height, portCount, streams, forwardStream, backwardStream, shared: { ports: Int32Array.from(ports), start, streams: sStreams, counts: sCounts, owners: sOwners } };
}

/**
 * Wavelets per batch on every used port, hottest first: Σ over streams of (transfers made) × (the stream's
 * wavelets per sample on the port).
 * @param transfers transfers each stream made (index = stream id).
 * @param limit ports to return at most.
 * @returns port ids and wavelets, hottest first (ties: lower id), the number of used ports, and a walk over
 *   every used fabric link (E, W, N, S ports; not ramps or the edge entry) with its PE and wavelets.
 */
export function portTraffic(
  net: Network,
  transfers: ArrayLike<number>,
  limit: number,
): { ports: { port: number; wavelets: number }[]; used: number; fabricWavelets: (visit: (x: number, y: number, wavelets: number) => void) => void } {
  const acc = new Float64Array(net.portCount);
  const used: number[] = [];
  for (const s of net.streams) {
    const t = transfers[s.id];
    if (!t) continue;
    for (let j = 0; j < s.links.length; j++) {
      const l = s.links[j];
      if (acc[l] === 0) used.push(l);
      acc[l] += t * s.counts[j];
    }
  }
  // the `limit` hottest by a min-heap (hotter = larger, then lower id)
  const hotter = (a: number, b: number) => acc[a] > acc[b] || (acc[a] === acc[b] && a < b);
  const heap: number[] = [];
  const down = (i: number) => {
    for (;;) {
      let c = 2 * i + 1;
      if (c >= heap.length) return;
      if (c + 1 < heap.length && hotter(heap[c], heap[c + 1])) c++;
      if (!hotter(heap[i], heap[c])) return;
      [heap[i], heap[c]] = [heap[c], heap[i]];
      i = c;
    }
  };
  for (const l of used) {
    if (heap.length < limit) {
      heap.push(l);
      for (let i = heap.length - 1; i > 0 && hotter(heap[(i - 1) >> 1], heap[i]); i = (i - 1) >> 1) [heap[i], heap[(i - 1) >> 1]] = [heap[(i - 1) >> 1], heap[i]];
    } else if (limit > 0 && hotter(l, heap[0])) {
      heap[0] = l;
      down(0);
    }
  }
  heap.sort((a, b) => (hotter(a, b) ? -1 : 1));
  const fabric = PORTS_PER_PE * net.width * net.height;
  return { ports: heap.map((port) => ({ port, wavelets: acc[port] })), used: used.length, fabricWavelets: (visit) => used.forEach((l) => l < fabric && l % PORTS_PER_PE < 4 && visit(Math.floor(l / PORTS_PER_PE) % net.width, Math.floor(l / PORTS_PER_PE / net.width), acc[l])) };
}
