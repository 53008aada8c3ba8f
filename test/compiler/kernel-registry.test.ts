/**
 * The kernel-kind registry: a toy kernel kind added through `registerKernelKind` alone (its spec type by
 * declaration merging) lowers, sizes, places, routes and reports like a built-in one.
 */
import { describe, expect, it } from 'vitest';
import type { GraphNode } from '../../runtime/graph.ts';
import { kernelCost, kernelOps } from '../../compiler/estimate.ts';
import type { ExecParams } from '../../compiler/ir.ts';
import { cdiv, need, type KernelKindModule } from '../../compiler/kernels/kind.ts';
import { BUILTIN_KERNEL_KINDS, kernelKind, registerKernelKind } from '../../compiler/kernels/registry.ts';
import { customMachine, memoryWordsPerPe } from '../../compiler/machine.ts';
import { outputElements } from '../../compiler/pass-graph.ts';
import { compileGraph } from '../../compiler/pipeline.ts';
import { formatKernelList } from '../../compiler/report.ts';
import { validate } from '../../compiler/passes/validate.ts';
import { GraphBuilder } from './helpers/graphs.ts';

/** A prefix sum over N elements per sample, laid out as h rows × w columns (per copy). */
interface ToyScanSpec {
  kind: 'toyScan';
  N: number;
}
declare module '../../compiler/ir.ts' {
  interface KernelSpecMap {
    toyScan: ToyScanSpec;
  }
}

// time = 2·⌈N/(h·w)⌉ + h (local scan, then carries down the rows), memory = ⌈N/(h·w)⌉ + 1
const toyCycles = (N: number, h: number, w: number) => 2 * cdiv(N, h * w) + h;
const toyScan: KernelKindModule<'toyScan'> = {
  kind: 'toyScan',
  execKeys: () => ['h', 'w'],
  cost(spec, exec, copies) {
    const h = need(exec, 'h', spec.N, 'toyScan');
    const w = need(exec, 'w', spec.N, 'toyScan');
    return { width: copies * w, height: h, cyclesPerSample: toyCycles(spec.N, h, w), memoryWordsPerPe: cdiv(spec.N, h * w) + 1, opsPerSample: spec.N };
  },
  ops: (s) => s.N,
  outputElements: (s) => s.N,
  shapes(spec, copies) {
    const fits = (tau: number, mem: number, h: number, w: number) => toyCycles(spec.N, h, w) <= tau && cdiv(spec.N, h * w) + 1 <= mem;
    return {
      forEachShape(tau, mem, maxDim, _macs, visit, minSide) {
        for (let h = Math.max(1, minSide); h <= Math.min(spec.N, maxDim); h++) {
          let w = Math.max(1, Math.ceil(minSide / copies));
          while (w <= spec.N && !fits(tau, mem, h, w)) w++;
          if (w <= spec.N && copies * w <= maxDim) visit(h, copies * w, h, w, 0);
        }
      },
      execFor: (_t, _m, _macs, a, b): ExecParams => ({ h: a, w: b }),
      forEachFinestSplit: (lo, hi, visit) => visit({ h: Math.min(spec.N, lo), w: Math.max(1, Math.min(spec.N, Math.floor(hi / copies))) }),
    };
  },
  describe: (s) => `toyScan N=${s.N}`,
  lowerings: {
    toyCumsum: (n, cx) => {
      cx.newKernel(n, { kind: 'toyScan', N: cx.dims(cx.tensor(n.inputs[0])).reduce((a, b) => a * b, 1) }, 'toyCumsum', false);
    },
  },
};

/** input [64] → dense 32 → toyCumsum → dense 10 → sparse softmax cross-entropy. */
function toyGraph() {
  const g = new GraphBuilder();
  const x = g.input('x', [64]);
  const y = g.label();
  const h = g.dense(x, 32, 'relu');
  const node: GraphNode = { name: 'cumsum', op: 'toyCumsum' as GraphNode['op'], inputs: [h.id], outputs: [{ id: 'cumsum:0', shape: h.shape, dtype: 'float32' }], attrs: {}, params: [] };
  g.nodes.push(node);
  const logits = g.dense(node.outputs[0], 10);
  return g.build('train', logits, g.sparseCE(y, logits));
}

describe('kernel-kind registry', () => {
  it('has a module for every built-in kind, under its own name', () => {
    for (const [kind, m] of Object.entries(BUILTIN_KERNEL_KINDS)) expect(kernelKind(kind as keyof typeof BUILTIN_KERNEL_KINDS).kind).toBe(m.kind);
  });

  it('rejects an unknown kind, an op without lowering and a second registration', () => {
    expect(() => kernelKind('toyScan')).toThrow(/unknown kernel kind 'toyScan'/);
    expect(() => validate(toyGraph())).toThrow(/op 'toyCumsum' is not supported/);
    expect(() => registerKernelKind({ ...toyScan, kind: 'conv' as 'toyScan' })).toThrow(/kernel kind 'conv' is registered already/);
    expect(() => registerKernelKind({ ...toyScan, lowerings: { dense: () => undefined } })).toThrow(/op 'dense' already has a lowering/);
  });

  it('compiles a graph with a toy kind added through the registry alone', () => {
    registerKernelKind(toyScan);
    const machine = customMachine({ fabric: { width: 60, height: 40 } });
    const { plan, kernelGraph } = compileGraph(toyGraph(), machine, { batchSize: 8 });
    const k = plan!.kernels.find((q) => q.name === 'cumsum')!;
    expect(k.spec).toEqual({ kind: 'toyScan', N: 32 });
    expect(k.copies).toBe(2);
    // the sized kernel obeys the toy's own model, through the generic entry points
    const c = kernelCost(k.spec, k.exec, k.copies);
    expect(k.cyclesPerSample).toBe(toyCycles(32, k.exec.h, k.exec.w));
    const footprint = k.rotation === 'R90' ? [c.height, c.width] : [c.width, c.height];
    expect([k.width, k.height, k.cyclesPerSample, k.memoryWordsPerPe]).toEqual([...footprint, c.cyclesPerSample, c.memoryWordsPerPe]);
    expect(k.memoryWordsPerPe).toBeLessThanOrEqual(memoryWordsPerPe(machine));
    expect(k.cyclesPerSample).toBeLessThanOrEqual(plan!.targetCycles);
    expect(kernelOps(k.spec)).toBe(32);
    expect(outputElements(k.spec)).toBe(32);
    // placed, and routed to and from its neighbours
    expect(plan!.routes.filter((r) => r.from === 'cumsum' || r.to === 'cumsum').map((r) => [r.from, r.to])).toEqual([
      ['dense', 'cumsum'],
      ['cumsum', 'dense_1'],
    ]);
    expect(formatKernelList(kernelGraph)).toContain('toyScan N=32');
  });
});
