/**
 * The schedule a wafer executes, derived from a compiled Plan: which graph nodes each placed kernel runs,
 * in the plan's kernel order, and which tensors cross the fabric between kernels — one transfer per route
 * of the plan, in route order, so the compute workers' per-transfer element counts are per-route traffic.
 * The schedule itself is a plain runtime structure (runtime/parallel/schedule.ts): the compute workers
 * know nothing of routes or of the wafer.
 */
import type { Plan } from '../compiler/ir.ts';
import { UserError } from '../runtime/errors.ts';
import type { Graph } from '../runtime/graph.ts';
import type { KernelSchedule, TransferTraffic } from '../runtime/parallel/schedule.ts';

/**
 * Elements carried per route of the plan in one step (index = route index): forward activations and
 * backward gradients, summed over shards. The clock turns them into bytes with the machine's word size.
 */
export type RouteTraffic = TransferTraffic;

/**
 * The kernel order and fabric transfers of a plan, as graph node indices (every node runs in the kernel
 * `plan.nodeKernel` assigns it, layout-only layers in their producer's kernel). Transfer i is
 * `plan.routes[i]`; a route whose source is not a kernel carries data from the host.
 * @throws UserError if a node of the graph has no kernel (plan and graph out of step).
 */
export function scheduleOf(plan: Plan, graph: Graph): KernelSchedule {
  const byKernel = new Map<string, number[]>(plan.kernels.map((k) => [k.name, []]));
  graph.nodes.forEach((n, i) => {
    const k = plan.nodeKernel[n.name];
    const list = k === undefined ? undefined : byKernel.get(k);
    if (!list) throw new UserError(`the plan places no kernel for layer '${n.name}' of the model's graph; recompile the model`);
    list.push(i);
  });
  const kernels = plan.kernels.map((k) => ({ name: k.name, nodes: byKernel.get(k.name)! }));
  const kernelNames = new Set(plan.kernels.map((k) => k.name));
  const transfers = plan.routes.map((r) => ({
    tensor: r.tensor,
    ...(kernelNames.has(r.from) ? { from: r.from } : {}),
    to: r.to,
    backward: r.backward,
  }));
  return { kernels, transfers };
}
