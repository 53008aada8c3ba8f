/**
 * Multi-replica plans (Cerebras `multireplica: True`; docs/design.md §15): a model that fills a small part
 * of the wafer runs as K data-parallel copies on one wafer. The fabric is cut into K equal regions along its
 * longer side; the model is compiled once for one region (a machine whose fabric is the region), and the plan
 * places that replica at K offsets. Each replica takes B / K samples of every batch. In TRAIN the weight
 * gradients are reduced across the replicas on the fabric and the sum broadcast back before the update.
 *
 * All-reduce model (ASSUMPTION: csrun's own scheme; Cerebras does not publish its multi-replica reduction).
 * Replica i's copy of kernel k sends its gradient straight along the cut axis to replica i + 1's copy, which
 * adds its own and passes it on (a chain reduce), and the sum comes back the same way (a chain broadcast).
 * The chain streams: every boundary between neighbouring regions carries each gradient word once per
 * direction, concurrently. Kernel k's words cross the boundary on the links of the rows (cut along x) or
 * columns (cut along y) it spans, spread evenly, so the busiest boundary link carries
 * `L = max over rows r of Σ_{k spans r} words_k / span_k` words, each way. With `b = linkBitsPerCycle /
 * (8 · wordBytes)` words per link per cycle,
 *
 *     allreduceCycles = 2 · L / b  +  2 · (K − 1) · E · hopLatencyCycles
 *
 * where E is the region's extent along the cut (hops between neighbouring replicas' copies). It is paid once
 * per batch, after the replicas' last samples:
 *
 *     batchCycles(K) = fill + (⌈B / K⌉ − 1) · interval + allreduceCycles,   samples/s = B · clockHz / batchCycles(K)
 *
 * with fill and interval the per-replica plan's (its estimate at batch ⌈B / K⌉). Without training (eval,
 * infer) there is no reduction.
 */
import { UserError } from '../runtime/errors.ts';
import type { Graph } from '../runtime/graph.ts';
import { sizeOf } from '../runtime/graph.ts';
import type { CutAxis, Plan, ReplicaLayout, ReplicaTrial } from './ir.ts';
import { batchCycles } from './estimate.ts';
import type { Machine } from './machine.ts';

/**
 * The region of one of K replicas: the fabric cut into K equal parts along its longer side (x on a tie).
 * @returns the region, the axis and each replica's offset.
 * @throws UserError when the fabric's longer side has fewer than K PEs.
 */
export function replicaRegions(machine: Machine, K: number): { axis: CutAxis; region: { width: number; height: number }; offsets: { x: number; y: number }[] } {
  const { width, height } = machine.fabric;
  const axis: CutAxis = width >= height ? 'x' : 'y';
  const extent = axis === 'x' ? width : height;
  const part = Math.floor(extent / K);
  if (part < 1) throw new UserError(`${K} replicas do not fit a ${width}×${height} fabric: the longer side has fewer than ${K} PEs`);
  const region = axis === 'x' ? { width: part, height } : { width, height: part };
  const offsets = Array.from({ length: K }, (_, i) => (axis === 'x' ? { x: i * part, y: 0 } : { x: 0, y: i * part }));
  return { axis, region, offsets };
}

/** The machine one replica is compiled for: `machine` with its fabric cut to the region. */
export function regionMachine(machine: Machine, region: { width: number; height: number }): Machine {
  return { ...machine, fabric: { ...region } };
}

/**
 * Trainable words per kernel of a plan: each Graph IR node's trainable parameters, added to the kernel it
 * was lowered into (`plan.nodeKernel`). Parameters read by several nodes count once, at the first.
 */
export function gradientWordsPerKernel(graph: Graph, plan: Plan): Map<string, number> {
  const trainable = new Map(graph.params.filter((p) => p.trainable).map((p) => [p.name, sizeOf(p.shape)]));
  const seen = new Set<string>();
  const out = new Map<string, number>();
  for (const n of graph.nodes) {
    const k = plan.nodeKernel[n.name];
    if (!k) continue;
    for (const p of n.params) {
      const w = trainable.get(p);
      if (w === undefined || seen.has(p)) continue;
      seen.add(p);
      out.set(k, (out.get(k) ?? 0) + w);
    }
  }
  return out;
}

/**
 * The all-reduce of one batch (module comment).
 * @param plan one replica's plan, compiled for the region.
 * @returns total words, words over the busiest boundary link, and cycles; zeros for K = 1 or outside TRAIN.
 */
export function allreduceCost(graph: Graph, plan: Plan, K: number, axis: CutAxis, machine: Machine): { words: number; linkWords: number; cycles: number } {
  if (K < 2 || plan.mode !== 'train') return { words: 0, linkWords: 0, cycles: 0 };
  const words = gradientWordsPerKernel(graph, plan);
  const lines = new Float64Array(axis === 'x' ? plan.machine.fabric.height : plan.machine.fabric.width);
  let total = 0;
  for (const k of plan.kernels) {
    const w = words.get(k.name) ?? 0;
    if (w === 0) continue;
    total += w;
    const [from, span] = axis === 'x' ? [k.y, k.height] : [k.x, k.width];
    for (let r = from; r < from + span && r < lines.length; r++) lines[r] += w / span;
  }
  const linkWords = lines.reduce((a, b) => Math.max(a, b), 0);
  const wordsPerCycle = machine.linkBitsPerCycle / (8 * machine.wordBytes);
  const extent = axis === 'x' ? plan.machine.fabric.width : plan.machine.fabric.height;
  const cycles = (2 * linkWords) / wordsPerCycle + 2 * (K - 1) * extent * machine.hopLatencyCycles;
  return { words: total, linkWords, cycles };
}

/**
 * The wafer's samples/s with K replicas at global batch B (module comment).
 * @param perReplica one replica's estimate: `fillCycles` and `intervalCycles` (cycles).
 */
export function replicatedSamplesPerS(perReplica: { fillCycles: number; intervalCycles: number }, K: number, B: number, allreduceCycles: number, clockHz: number): number {
  return (B * clockHz) / batchCycles({ ...perReplica, replicas: K, allreduceCycles }, B);
}

/**
 * Makes the K-replica plan out of one replica's plan: kernels and routes stay replica 0's (the numerics run
 * them once per replica slice of the batch), `replicas` gives the offsets and the reduction, `machine` is the
 * whole wafer again, and the estimate is the whole wafer's (samples/s with the all-reduce, active PEs × K).
 */
export function replicatePlan(perReplica: Plan, machine: Machine, layout: Omit<ReplicaLayout, 'tried'>, tried: ReplicaTrial[], batchSize: number): Plan & { replicas: ReplicaLayout } {
  const K = layout.count;
  const e = perReplica.estimate;
  const samplesPerS = replicatedSamplesPerS(e, K, batchSize, layout.allreduceCycles, machine.clockHz);
  const regionPes = layout.region.width * layout.region.height;
  const fabricPes = machine.fabric.width * machine.fabric.height;
  return {
    ...perReplica,
    machine,
    batchSize,
    estimate: {
      ...e,
      samplesPerS,
      steadyStateSamplesPerS: K * e.steadyStateSamplesPerS,
      computeSamplesPerS: K * e.computeSamplesPerS,
      transmissionSamplesPerS: K * e.transmissionSamplesPerS,
      activePeFraction: (e.activePeFraction * regionPes * K) / fabricPes,
      replicas: K,
      allreduceCycles: layout.allreduceCycles,
    },
    replicas: { ...layout, tried },
  };
}
