/**
 * Seeded random kernel DAGs, sized, placed and routed by the compiler's own passes into plans for fabrics
 * of 16 × 16 to 64 × 64 PEs (the flow-vs-wavelet cross-check).
 */
import type { Kernel, KernelEdge, KernelGraph, Plan } from '../../compiler/ir.ts';
import { outputElements } from '../../compiler/pass-graph.ts';
import { place } from '../../compiler/passes/place.ts';
import { buildPlan } from '../../compiler/passes/plan.ts';
import { route } from '../../compiler/passes/route.ts';
import { size } from '../../compiler/passes/floorplan.ts';
import type { Mode } from '../../runtime/graph.ts';
import { testMachine } from './sim-helpers.ts';

/** mulberry32: a small seeded PRNG, uniform in [0, 1). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * A random DAG of 3–8 conv kernels (H = W ∈ 4…12, C, K ∈ 2…16, 1×1 or 3×3 filters), each fed by one or two
 * earlier kernels (kernel 0 by a graph input; `chain`: by the previous one only), in TRAIN or EVAL,
 * compiled for a `side × side` fabric.
 */
export function randomPlan(seed: number, side: number, batchSize: number, chain = false): Plan {
  const r = rng(seed);
  const int = (lo: number, hi: number) => lo + Math.floor(r() * (hi - lo + 1));
  const mode: Mode = r() < 0.5 ? 'train' : 'eval';
  const n = int(3, 8);
  const kernels: Kernel[] = [];
  const edges: KernelEdge[] = [];
  for (let i = 0; i < n; i++) {
    const H = int(4, 12);
    const R = r() < 0.5 ? 1 : 3;
    const spec = { kind: 'conv' as const, H, W: H, R, S: R, C: int(2, 16), K: int(2, 16), T: 1, U: 1, epilogueOps: 0 };
    kernels.push({ name: `k${i}`, op: 'conv2d', layers: [`k${i}`], spec, copies: mode === 'train' ? 3 : 1, paramWords: spec.C * spec.K * R * R });
  }
  const bytes = (i: number) => outputElements(kernels[i].spec) * 2;
  edges.push({ from: 'features/x', to: 'k0', tensor: 'features/x', shape: [1], bytesPerSample: 2 * int(16, 400), external: true, backward: false });
  for (let i = 1; i < n; i++) {
    const preds = new Set([chain ? i - 1 : int(0, i - 1)]);
    if (!chain && i > 1 && r() < 0.4) preds.add(int(0, i - 1));
    for (const p of preds) edges.push({ from: `k${p}`, to: `k${i}`, tensor: `k${p}:0`, shape: [1], bytesPerSample: bytes(p), external: false, backward: true });
  }
  const kg: KernelGraph = { formatVersion: 1, mode, kernels, edges, nodeKernel: Object.fromEntries(kernels.map((k) => [k.name, k.name])) };
  const machine = testMachine({ fabric: { width: side, height: side }, clockHz: 850e6 });
  const routed = route(place(size(kg, machine), machine), machine);
  return buildPlan(routed, machine, `random-${seed}`, batchSize);
}
