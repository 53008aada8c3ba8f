/**
 * The schedule the wafer executes: which graph nodes each placed kernel runs, in data-flow order, and which
 * tensors cross the fabric between kernels (the routes whose traffic the simulator counts). Derived from a
 * Plan's kernels and routes; plain JSON so that it can be sent to compute workers.
 */

/** One kernel's share of the work: graph node indices (ascending, i.e. graph order). */
export interface ScheduledKernel {
  name: string;
  nodes: number[];
}

/** A tensor crossing the fabric from one kernel (or the host) to another along route `route`. */
export interface ScheduledTransfer {
  /** Index of the route in the Plan's `routes`. */
  route: number;
  /** Graph tensor id carried. */
  tensor: string;
  /** Producer kernel name, or undefined for data entering from the host (features, labels). */
  from?: string;
  to: string;
  /** True when the gradient of the tensor flows back along the route in training. */
  backward: boolean;
}

/** Kernel order and transfers of one compiled mode. */
export interface Schedule {
  kernels: ScheduledKernel[];
  transfers: ScheduledTransfer[];
}

/** Elements carried per route in one step: forward activations and backward gradients, summed over replicas
 * (the clock turns them into bytes with the machine's word size). */
export interface RouteTraffic {
  forward: number[];
  backward: number[];
}

/** Zero traffic for `n` routes. */
export function emptyTraffic(n: number): RouteTraffic {
  return { forward: new Array(n).fill(0), backward: new Array(n).fill(0) };
}

/** Adds `b` into `a` (in place) and returns `a`. */
export function addTraffic(a: RouteTraffic, b: RouteTraffic): RouteTraffic {
  b.forward.forEach((v, i) => (a.forward[i] += v));
  b.backward.forEach((v, i) => (a.backward[i] += v));
  return a;
}
