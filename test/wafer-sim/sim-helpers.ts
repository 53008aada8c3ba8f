/**
 * Hand-built plans for the timing-simulation tests: kernels at given rectangles, edges, and routes with
 * explicit lanes, turned into a Plan by the compiler's own `buildPlan` (so the plan carries the analytic
 * estimate to compare with, and a content hash).
 */
import { busiestLink, linkLoads } from '../../compiler/fabric.ts';
import type { KernelEdge, PlacedKernel, Plan, Route } from '../../compiler/ir.ts';
import { customMachine, type Machine } from '../../compiler/machine.ts';
import { buildPlan } from '../../compiler/passes/plan.ts';
import type { Mode } from '../../runtime/graph.ts';

/** A 64 × 64 machine at 1 GHz (1 cycle = 1 ns), 48 KiB per PE, 2-byte words, 32-bit links, 1-cycle hops. */
export function testMachine(over: Partial<Machine> = {}): Machine {
  return customMachine({ name: 'test', fabric: { width: 64, height: 64 }, clockHz: 1e9, ...over });
}

/** A placed element-wise kernel with the given rectangle, cycles per sample and memory. */
export function kernel(name: string, x: number, y: number, width: number, height: number, cycles: number, o: { copies?: 1 | 2 | 3; mem?: number; N?: number } = {}): PlacedKernel {
  return {
    name, op: 'eltwise', layers: [name], spec: { kind: 'eltwise', N: o.N ?? 1, arity: 1, opsPerElement: 1 }, copies: o.copies ?? 1, paramWords: 0,
    exec: { h: 1, w: 1 }, width, height, cyclesPerSample: cycles, memoryWordsPerPe: o.mem ?? 16, x, y, rotation: 'R0',
  };
}

/** An edge carrying `bytes` per sample (an external input when `from` starts with `features/`). */
export function edge(from: string, to: string, bytes: number, o: { backward?: boolean; tensor?: string } = {}): KernelEdge {
  const external = from.startsWith('features/') || from === 'labels';
  return { from, to, tensor: o.tensor ?? (external ? from : `${from}:0`), shape: [bytes / 2], bytesPerSample: bytes, external, backward: o.backward ?? !external };
}

/** An HV route of `lanes` lanes: lane i runs (start.x, firstTrack+i) → (secondTrack+lanes−1−i, firstTrack+i) →
 * (that column, end.y). */
export function hvRoute(e: KernelEdge, start: [number, number], end: [number, number], lanes = 1, firstTrack = start[1], secondTrack = end[0] - lanes + 1): Route {
  return { from: e.from, to: e.to, tensor: e.tensor, bytesPerSample: e.bytesPerSample, external: e.external, backward: e.backward, order: 'HV', start, end, lanes, firstTrack, secondTrack, hops: Math.abs(end[0] - start[0]) + Math.abs(end[1] - start[1]) };
}

/** A plan from placed kernels, edges and their routes (index-aligned), with the compiler's estimate. */
export function makePlan(mode: Mode, kernels: PlacedKernel[], edges: KernelEdge[], routes: Route[], machine: Machine, batchSize: number): Plan {
  const { width, height } = machine.fabric;
  const busiest = busiestLink(linkLoads(routes, width, height, mode === 'train'), width);
  return buildPlan(
    {
      formatVersion: 1, mode, kernels, edges, routes, nodeKernel: Object.fromEntries(kernels.map((k) => [k.name, k.name])),
      targetCycles: Math.max(...kernels.map((k) => k.cyclesPerSample)), areaBoundCycles: 0, floorplan: { transposed: false, rows: [] }, wirelength: 0, busiestLink: busiest,
    },
    machine,
    'test',
    batchSize,
  );
}
