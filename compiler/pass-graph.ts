/**
 * The pass graph of a plan: the DAG of the kernel passes that process every sample, with what each
 * dependency carries, and the exact analytic limit of a pipeline of in-order servers (docs/design.md §7,
 * §10). It is structure, not a timing model: the wafer simulator (wafer-sim/sim/) and the analytic estimate
 * both build on it, so the analytic model is a limit of the simulator rather than a copy of it.
 *
 * ## Passes
 * - every kernel k has a forward pass F_k in every mode;
 * - in TRAIN a kernel with `copies ≥ 2` also has a backward pass B_k (the input gradient), and one with
 *   `copies = 3` a weight-gradient pass W_k, each on its own PE copy (docs/design.md §7: the forward,
 *   backward and weight-update copies lie side by side), running concurrently.
 * Each pass costs the kernel's `cyclesPerSample`: each copy does its part of a sample in that time.
 *
 * ## Dependencies (per sample)
 * - `forward`: edge i from kernel f (or a graph input: `from = null`, the host) to kernel t gives
 *   F_f → F_t along route i;
 * - `backward` (TRAIN, edges with `backward`, i.e. not inputs or labels): the gradient of edge i's tensor
 *   flows from B_t back along the reverse of route i to B_f and to W_f (W has the same inputs as B);
 * - `local`: F_k → B_k and F_k → W_k on the same kernel (the activation stash; no route, no bytes).
 * A dependency carries its route index, bytes per sample and the route's anchor-to-anchor hops.
 * Samples leave through the wafer edge after the forward pass of each sink kernel (no outgoing edge): the
 * `egress` list, with the sink's output elements (from its spec's shapes) × word bytes.
 *
 * Units: cycles, bytes, hops (PE-to-PE links).
 */
import type { KernelEdge, KernelSpec, PlacedKernel, Route } from './ir.ts';
import { kernelKind } from './kernels/registry.ts';
import type { Machine } from './machine.ts';
import type { Mode } from '../runtime/graph.ts';

/** F (forward), B (input gradient), W (weight gradient). */
export type PassKind = 'forward' | 'backward' | 'weight';

/** One pass of one kernel: an in-order server of samples. */
export interface KernelPass {
  /** Index of the kernel in `plan.kernels`. */
  kernel: number;
  /** Kernel name. */
  name: string;
  kind: PassKind;
  /** Cycles per sample (the kernel's). */
  cyclesPerSample: number;
}

/** A per-sample dependency between two passes. */
export interface PassDep {
  /** Producing pass index, or null for the host (a graph input entering at the wafer edge). */
  from: number | null;
  /** Consuming pass index. */
  to: number;
  /** Index in `plan.routes` (= `plan.edges`), or null for a `local` dependency. */
  route: number | null;
  /** `forward`: along the route; `backward`: along its reverse (gradients); `local`: same kernel. */
  direction: 'forward' | 'backward' | 'local';
  /** Bytes per sample carried (0 for `local`). */
  bytesPerSample: number;
  /** The route's anchor-to-anchor hops (0 for `local`). */
  hops: number;
}

/** The pass DAG of a plan. */
export interface PassGraph {
  mode: Mode;
  passes: KernelPass[];
  deps: PassDep[];
  /** Pass indices in a topological order. */
  order: number[];
  /** Index-aligned with `plan.kernels`: the kernel's F, B (or null) and W (or null) pass. */
  forward: number[];
  backward: (number | null)[];
  weight: (number | null)[];
  /** Forward passes of sink kernels and the bytes per sample each sends out through the wafer edge. */
  egress: { pass: number; bytesPerSample: number }[];
  /** Bytes per sample entering from the host: Σ over distinct external tensors (a view counts as the tensor it views). */
  ingressBytesPerSample: number;
}

/** What {@link passGraph} reads of a plan. */
export interface PassGraphPlan {
  mode: Mode;
  machine: Pick<Machine, 'wordBytes'>;
  kernels: readonly Pick<PlacedKernel, 'name' | 'copies' | 'cyclesPerSample' | 'spec'>[];
  edges: readonly KernelEdge[];
  routes: readonly Pick<Route, 'from' | 'to' | 'tensor' | 'hops'>[];
}

/** Output elements per sample of a kernel (its spec's output shape; the kind module's `outputElements`,
 * e.g. conv `⌈H/T⌉·⌈W/U⌉·K`, loss 1: the sample's loss). */
export function outputElements(spec: KernelSpec): number {
  return kernelKind(spec.kind).outputElements(spec);
}

/**
 * Builds the pass graph of a plan (module doc).
 * @param plan mode, word size, kernels, edges and the routes index-aligned with them.
 * @throws Error when routes and edges are not index-aligned, an edge names an unknown kernel, or the kernel
 *   graph has a cycle.
 */
export function passGraph(plan: PassGraphPlan): PassGraph {
  const { kernels, edges, routes } = plan;
  if (routes.length !== edges.length) throw new Error(`plan has ${edges.length} edges but ${routes.length} routes`);
  const index = new Map(kernels.map((k, i) => [k.name, i]));
  const passes: KernelPass[] = [];
  const add = (kernel: number, kind: PassKind): number => {
    const k = kernels[kernel];
    passes.push({ kernel, name: k.name, kind, cyclesPerSample: k.cyclesPerSample });
    return passes.length - 1;
  };
  const train = plan.mode === 'train';
  const forward = kernels.map((_, i) => add(i, 'forward'));
  const backward = kernels.map((k, i) => (train && k.copies >= 2 ? add(i, 'backward') : null));
  const weight = kernels.map((k, i) => (train && k.copies === 3 ? add(i, 'weight') : null));
  const deps: PassDep[] = [];
  kernels.forEach((_, i) => {
    for (const p of [backward[i], weight[i]]) {
      if (p !== null) deps.push({ from: forward[i], to: p, route: null, direction: 'local', bytesPerSample: 0, hops: 0 });
    }
  });
  const hasOut = new Array<boolean>(kernels.length).fill(false);
  const external = new Map<string, number>();
  edges.forEach((e, r) => {
    const rt = routes[r];
    if (rt.from !== e.from || rt.to !== e.to || rt.tensor !== e.tensor) throw new Error(`route ${r} (${rt.from} → ${rt.to}) is not the route of edge ${r} (${e.from} → ${e.to})`);
    const t = index.get(e.to);
    if (t === undefined) throw new Error(`edge ${r} goes to unknown kernel '${e.to}'`);
    const f = e.external ? null : index.get(e.from);
    if (f === undefined) throw new Error(`edge ${r} comes from unknown kernel '${e.from}'`);
    const base = { route: r, bytesPerSample: e.bytesPerSample, hops: rt.hops };
    deps.push({ ...base, from: f === null ? null : forward[f], to: forward[t], direction: 'forward' });
    if (f === null) {
      external.set(e.viewOf ?? e.tensor, e.bytesPerSample);
      return;
    }
    hasOut[f] = true;
    const bt = backward[t];
    if (!e.backward || bt === null) return;
    for (const p of [backward[f], weight[f]]) if (p !== null) deps.push({ ...base, from: bt, to: p, direction: 'backward' });
  });
  const egress = kernels.flatMap((k, i) => (hasOut[i] ? [] : [{ pass: forward[i], bytesPerSample: outputElements(k.spec) * plan.machine.wordBytes }]));
  const ingressBytesPerSample = [...external.values()].reduce((s, b) => s + b, 0);
  return { mode: plan.mode, passes, deps, order: topologicalOrder(passes, deps), forward, backward, weight, egress, ingressBytesPerSample };
}

/** Kahn's algorithm over the pass DAG. @throws Error naming a pass on a cycle. */
function topologicalOrder(passes: readonly KernelPass[], deps: readonly PassDep[]): number[] {
  const indeg = new Int32Array(passes.length);
  const succ: number[][] = passes.map(() => []);
  for (const d of deps) {
    if (d.from === null) continue;
    indeg[d.to]++;
    succ[d.from].push(d.to);
  }
  const order: number[] = [];
  for (let i = 0; i < passes.length; i++) if (indeg[i] === 0) order.push(i);
  for (let h = 0; h < order.length; h++) for (const s of succ[order[h]]) if (--indeg[s] === 0) order.push(s);
  if (order.length < passes.length) {
    const p = passes[indeg.findIndex((d) => d > 0)];
    throw new Error(`kernel graph has a cycle through '${p.name}' (${p.kind})`);
  }
  return order;
}

/** The exact analytic limit of a pass graph for one batch (see {@link passGraphLimit}). */
export interface PassLimit {
  /** Cycles from the start of the batch to the completion of its last sample. */
  batchCycles: number;
  /** The longest path (the first sample's latency): `batchCycles` at B = 1. */
  fillCycles: number;
  /** The pass j attaining the maximum (ties: the larger cycles per sample, then the lower index). */
  bottleneck: number;
  /** Passes of the longest path through `bottleneck`, in order. */
  criticalPath: number[];
}

/**
 * The exact completion time of a batch of B samples through the pass graph when every pass is an in-order
 * server with service time c_j, buffers are unbounded, and transfers are whole samples at zero cost with
 * hop latency only (a dependency over a route of h hops delays by `h · hopLatencyCycles`; graph inputs are
 * all available at cycle 0):
 *
 * `batchCycles = max over passes j of [ (B − 1) · c_j + longest path through j ]`,
 * where a path's length is Σ c over its passes + Σ hops · hopLatencyCycles over its dependencies (from a
 * graph input or a pass without inputs to a pass without successors).
 *
 * Derivation (max-plus algebra). Let T(j, s) be the cycle at which pass j finishes sample s (s = 1 … B). An
 * in-order server starts s when it finished s − 1 and every input of s arrived:
 * `T(j, s) = c_j + max( T(j, s − 1), max over deps i → j of T(i, s) + d_ij )` with `T(j, 0) = 0` and
 * `T(host, s) = 0`. Unrolling this max-plus recursion, T(j, s) is the weight of the heaviest lattice path
 * ending at (j, s) in the grid (passes × samples), which moves either along a dependency i → j at the same
 * sample (weight d_ij) or from (j, s − 1) to (j, s) at the same pass, and collects c_j at every node it
 * visits. Such a path follows a DAG path P and makes exactly s − 1 "sample steps", each at some pass of P,
 * so its weight is `len(P) + Σ (steps taken at j) · c_j ≤ len(P) + (s − 1) · max over j ∈ P of c_j`, with
 * equality by taking all steps at P's slowest pass. Hence the batch's last completion
 * `max_j T(j, B) = max over paths P of [ len(P) + (B − 1) · max_{j∈P} c_j ]`
 * `= max over passes j of [ (B − 1) · c_j + max over paths P ∋ j of len(P) ]`. When the slowest pass lies on
 * a longest path this is `fill + (B − 1) · c_max`: the analytic model of docs/design.md §7 without the
 * transmission bound.
 * @param graph the pass graph ({@link passGraph}).
 * @param batchSize B, an integer ≥ 1.
 * @param hopLatencyCycles cycles per hop (`machine.hopLatencyCycles`).
 * @returns batch cycles, fill, the maximising pass and its longest path.
 * @throws RangeError when the batch size is not an integer ≥ 1.
 */
export function passGraphLimit(graph: PassGraph, batchSize: number, hopLatencyCycles: number): PassLimit {
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError(`batch size must be an integer ≥ 1, got ${batchSize}`);
  const n = graph.passes.length;
  const c = graph.passes.map((p) => p.cyclesPerSample);
  const into: PassDep[][] = graph.passes.map(() => []);
  const outOf: PassDep[][] = graph.passes.map(() => []);
  for (const d of graph.deps) {
    into[d.to].push(d);
    if (d.from !== null) outOf[d.from].push(d);
  }
  // head[j]: longest path ending with j's service (c_j included); tail[j]: longest path after j's service
  const head = new Float64Array(n);
  const tail = new Float64Array(n);
  const prev = new Int32Array(n).fill(-1);
  const next = new Int32Array(n).fill(-1);
  for (const j of graph.order) {
    let best = 0;
    for (const d of into[j]) {
      const v = (d.from === null ? 0 : head[d.from]) + d.hops * hopLatencyCycles;
      if (v > best || (d.from !== null && prev[j] < 0 && v >= best)) {
        best = v;
        prev[j] = d.from ?? -1;
      }
    }
    head[j] = best + c[j];
  }
  for (let h = graph.order.length - 1; h >= 0; h--) {
    const j = graph.order[h];
    let best = 0;
    for (const d of outOf[j]) {
      const v = d.hops * hopLatencyCycles + c[d.to] + tail[d.to];
      if (v > best) {
        best = v;
        next[j] = d.to;
      }
    }
    tail[j] = best;
  }
  let bottleneck = -1;
  let batch = -Infinity;
  let fill = 0;
  for (let j = 0; j < n; j++) {
    fill = Math.max(fill, head[j] + tail[j]);
    const v = (batchSize - 1) * c[j] + head[j] + tail[j];
    if (v > batch || (v === batch && c[j] > c[bottleneck])) {
      batch = v;
      bottleneck = j;
    }
  }
  if (bottleneck < 0) return { batchCycles: 0, fillCycles: 0, bottleneck: -1, criticalPath: [] };
  const path: number[] = [];
  for (let j = bottleneck; j >= 0; j = prev[j]) path.unshift(j);
  for (let j = next[bottleneck]; j >= 0; j = next[j]) path.push(j);
  return { batchCycles: batch, fillCycles: fill, bottleneck, criticalPath: path };
}
