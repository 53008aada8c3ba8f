/**
 * The schedule a compute worker runs, as plain JSON (it is sent to every worker): the graph's nodes cut
 * into kernels run in order, and the tensors that cross between kernels, whose elements the workers count
 * per step. It knows nothing of the wafer: `wafer-sim/schedule.ts` derives it from a compiled Plan (one
 * kernel per placed kernel, one transfer per route) and turns the counts into bytes on routes.
 */
import type { NodeGroup, StepHooks } from '../exec/executor.ts';
import { nodeGroup } from '../exec/executor.ts';
import type { StepState } from '../exec/step.ts';

/** One kernel's share of the work: graph node indices (ascending, i.e. graph order). */
export interface ScheduledKernel {
  name: string;
  nodes: number[];
}

/** A tensor crossing from one kernel (or the host) to another. */
export interface TensorTransfer {
  /** Graph tensor id carried. */
  tensor: string;
  /** Producer kernel name, or undefined for data entering from the host (features, labels). */
  from?: string;
  /** Consumer kernel name. */
  to: string;
  /** True when the tensor's gradient flows back from `to` to `from` in training. */
  backward: boolean;
}

/** Kernels in run order (a topological order of the graph) and the transfers between them. */
export interface KernelSchedule {
  kernels: ScheduledKernel[];
  transfers: TensorTransfer[];
}

/** Elements carried per transfer (index into `KernelSchedule.transfers`) in one step, summed over shards:
 * forward activations and backward gradients. */
export interface TransferTraffic {
  forward: number[];
  backward: number[];
}

/** Zero traffic for `n` transfers. */
export function emptyTraffic(n: number): TransferTraffic {
  return { forward: new Array(n).fill(0), backward: new Array(n).fill(0) };
}

/** Adds `b` into `a` (in place) and returns `a`. */
export function addTraffic(a: TransferTraffic, b: TransferTraffic): TransferTraffic {
  b.forward.forEach((v, i) => (a.forward[i] += v));
  b.backward.forEach((v, i) => (a.backward[i] += v));
  return a;
}

/**
 * A schedule prepared for training steps, fixed for a run: each kernel's node group (its nodes that the
 * training step runs) and which transfers to count after which group.
 */
export class ScheduledTraining {
  /** One group per kernel of the schedule, in schedule order. */
  readonly groups: NodeGroup[];
  private readonly fromHost: number[];
  /** Transfers leaving kernel g (counted after its forward pass). */
  private readonly outgoing: number[][];
  /** Transfers entering kernel g whose gradient flows back (counted after its backward pass). */
  private readonly incomingBackward: number[][];

  /** @param trainNodes the nodes a training step runs (`Executor.trainNodes`). */
  constructor(
    readonly schedule: KernelSchedule,
    trainNodes: readonly number[],
  ) {
    const inStep = new Set(trainNodes);
    this.groups = schedule.kernels.map((k) => nodeGroup(k.nodes.filter((i) => inStep.has(i))));
    const index = new Map(schedule.kernels.map((k, g) => [k.name, g]));
    this.fromHost = [];
    this.outgoing = schedule.kernels.map(() => []);
    this.incomingBackward = schedule.kernels.map(() => []);
    schedule.transfers.forEach((t, i) => {
      if (t.from === undefined) this.fromHost.push(i);
      else this.outgoing[index.get(t.from)!]?.push(i);
      if (t.backward) this.incomingBackward[index.get(t.to)!]?.push(i);
    });
  }

  /** Step hooks that add each transfer's elements to `traffic` (activations forward, gradients backward). */
  counting(traffic: TransferTraffic): StepHooks {
    const { transfers } = this.schedule;
    const forward = (ids: number[], state: StepState) => {
      for (const i of ids) traffic.forward[i] += state.values.get(transfers[i].tensor)?.size ?? 0;
    };
    return {
      afterBegin: (state) => forward(this.fromHost, state),
      afterForward: (g, state) => forward(this.outgoing[g], state),
      afterBackward: (g, state) => {
        for (const i of this.incomingBackward[g]) traffic.backward[i] += state.grads.get(transfers[i].tensor)?.size ?? 0;
      },
    };
  }
}
