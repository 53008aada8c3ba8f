import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { UserError } from '../../runtime/errors.ts';
import { kernelCost } from '../../compiler/estimate.ts';
import type { Kernel, KernelGraph, KernelSpec } from '../../compiler/ir.ts';
import { customMachine, memoryWordsPerPe } from '../../compiler/machine.ts';
import { areaLowerBound, checkFit, dataflowOrder, execFor, forEachShape, prepareKernel } from '../../compiler/passes/fit.ts';
import { size } from '../../compiler/passes/floorplan.ts';
import { splitCandidates } from '../../compiler/kernels/kind.ts';

function kernel(name: string, spec: KernelSpec, copies: 1 | 2 | 3 = 3): Kernel {
  return { name, op: spec.kind, layers: [name], spec, copies, paramWords: 0 };
}
function graph(kernels: Kernel[]): KernelGraph {
  const edges = kernels.slice(1).map((k, i) => ({
    from: kernels[i].name, to: k.name, tensor: `${kernels[i].name}:0`, shape: [4], bytesPerSample: 8, external: false, backward: true,
  }));
  return { formatVersion: 1, mode: 'train', kernels, edges, nodeKernel: {} };
}

/** Every legal execution parameter assignment of a small kernel (brute force). */
function* allExecs(spec: KernelSpec): Generator<Record<string, number>> {
  const r = (n: number) => Array.from({ length: n }, (_, i) => i + 1);
  switch (spec.kind) {
    case 'conv':
      for (const h of r(spec.H)) for (const w of r(spec.W)) for (const c of r(spec.C)) for (const k of r(spec.K)) yield { h, w, c, k };
      return;
    case 'pool':
    case 'norm':
      for (const h of r(spec.H)) for (const w of r(spec.W)) for (const c of r(spec.C)) yield { h, w, c };
      return;
    case 'eltwise':
    case 'loss':
      for (const h of r(spec.N)) for (const w of r(spec.N)) yield { h, w };
      return;
    case 'embedding':
      for (const v of r(spec.V)) for (const k of r(spec.D)) yield { v, k };
      return;
    default:
      throw new Error('not enumerated');
  }
}

describe('split candidates', () => {
  it('holds the smallest split for every distinct quotient', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 3000 }), (X) => {
        const want = new Map<number, number>();
        for (let v = X; v >= 1; v--) want.set(Math.ceil(X / v), v);
        expect([...splitCandidates(X)]).toEqual([...want.values()].sort((a, b) => a - b));
      }),
      { numRuns: 60 },
    );
  });
});

describe('shape enumeration', () => {
  const specs: KernelSpec[] = [
    { kind: 'conv', H: 6, W: 5, R: 3, S: 3, C: 7, K: 9, T: 1, U: 1, epilogueOps: 0 },
    { kind: 'conv', H: 6, W: 6, R: 1, S: 1, C: 5, K: 8, T: 2, U: 2, epilogueOps: 3 },
    { kind: 'pool', H: 8, W: 6, C: 5, R: 2, S: 2, T: 2, U: 2, epilogueOps: 1 },
    { kind: 'norm', H: 5, W: 4, C: 6, opsPerElement: 4 },
    { kind: 'eltwise', N: 30, arity: 2, opsPerElement: 1 },
    { kind: 'loss', N: 20, opsPerElement: 5 },
    { kind: 'embedding', V: 12, D: 9, L: 3 },
  ];

  it('visits only legal shapes, and covers the Pareto frontier of all legal splits (brute force)', () => {
    for (const spec of specs) {
      for (const copies of [1, 3] as const) {
        const prep = prepareKernel(spec, copies);
        const all = [...allExecs(spec)].map((e) => kernelCost(spec, e, copies));
        const times = [...new Set(all.map((c) => c.cyclesPerSample))].sort((a, b) => a - b);
        for (const tau of [times[0], times[Math.floor(times.length / 3)], times[Math.floor(times.length / 2)], times[times.length - 1]]) {
          for (const mem of [1e9, Math.max(...all.map((c) => c.memoryWordsPerPe)) >> 1, Math.min(...all.map((c) => c.memoryWordsPerPe)) + 2]) {
            for (const minSide of [1, 3]) {
              const seen: [number, number][] = [];
              forEachShape(prep, tau, mem, 1000, 1, (h, w, a, b, c) => {
                const exec = execFor(prep, tau, mem, 1, a, b, c, minSide);
                const cost = kernelCost(spec, exec, copies);
                expect([cost.height, cost.width]).toEqual([h, w]);
                expect(cost.cyclesPerSample).toBeLessThanOrEqual(tau);
                expect(cost.memoryWordsPerPe).toBeLessThanOrEqual(mem);
                expect(Math.min(h, w)).toBeGreaterThanOrEqual(minSide);
                seen.push([h, w]);
              }, minSide);
              const legal = all.filter((c) => c.cyclesPerSample <= tau && c.memoryWordsPerPe <= mem && Math.min(c.height, c.width) >= minSide);
              for (const c of legal) {
                // some visited shape is no taller and no wider
                expect(seen.some(([h, w]) => h <= c.height && w <= c.width), `${spec.kind} τ=${tau} mem=${mem} ${c.height}×${c.width}`).toBe(true);
              }
              if (!legal.length) expect(seen).toEqual([]);
            }
          }
        }
      }
    }
  });
});

describe('area lower bound', () => {
  it('is the least τ at which the smallest legal areas fit the fabric (brute force)', () => {
    const ks = [
      kernel('a', { kind: 'conv', H: 4, W: 4, R: 3, S: 3, C: 3, K: 4, T: 1, U: 1, epilogueOps: 0 }),
      kernel('b', { kind: 'conv', H: 4, W: 4, R: 1, S: 1, C: 4, K: 6, T: 1, U: 1, epilogueOps: 0 }),
      kernel('c', { kind: 'pool', H: 4, W: 4, C: 6, R: 2, S: 2, T: 2, U: 2, epilogueOps: 0 }, 2),
    ];
    const machine = customMachine({ fabric: { width: 12, height: 10 } });
    const mem = memoryWordsPerPe(machine);
    const minArea = (k: Kernel, tau: number) =>
      Math.min(
        ...[...allExecs(k.spec)]
          .map((e) => kernelCost(k.spec, e, k.copies))
          .filter((c) => c.cyclesPerSample <= tau && c.memoryWordsPerPe <= mem && Math.min(c.width, c.height) <= 10 && Math.max(c.width, c.height) <= 12)
          .map((c) => c.width * c.height),
      );
    let want = 1;
    while (ks.reduce((s, k) => s + minArea(k, want), 0) > 120) want++;
    expect(areaLowerBound(graph(ks), machine)).toBe(want);
  });
});

describe('size', () => {
  it('meets the target time and SRAM, and its floorplan fits the fabric', () => {
    const ks = [
      kernel('c1', { kind: 'conv', H: 32, W: 32, R: 3, S: 3, C: 3, K: 32, T: 1, U: 1, epilogueOps: 2 }),
      kernel('c2', { kind: 'conv', H: 32, W: 32, R: 3, S: 3, C: 32, K: 64, T: 2, U: 2, epilogueOps: 5 }),
      kernel('p', { kind: 'pool', H: 16, W: 16, C: 64, R: 2, S: 2, T: 2, U: 2, epilogueOps: 0 }, 2),
      kernel('d', { kind: 'conv', H: 1, W: 1, R: 1, S: 1, C: 4096, K: 10, T: 1, U: 1, epilogueOps: 1 }),
      kernel('l', { kind: 'loss', N: 10, opsPerElement: 5 }, 2),
    ];
    const machine = customMachine({ fabric: { width: 96, height: 80 } });
    const sg = size(graph(ks), machine);
    expect(sg.targetCycles).toBeGreaterThanOrEqual(sg.areaBoundCycles);
    for (const k of sg.kernels) {
      const c = kernelCost(k.spec, k.exec, k.copies);
      expect(c.cyclesPerSample).toBe(k.cyclesPerSample);
      expect(k.cyclesPerSample).toBeLessThanOrEqual(sg.targetCycles);
      expect(k.memoryWordsPerPe).toBeLessThanOrEqual(memoryWordsPerPe(machine));
    }
    const rowsFit = sg.floorplan.rows.reduce((s, r) => s + r.height, 0) <= (sg.floorplan.transposed ? 96 : 80);
    expect(rowsFit).toBe(true);
    expect(sg.floorplan.rows.flatMap((r) => r.kernels.map((k) => k.name)).sort()).toEqual(ks.map((k) => k.name).sort());
    // a slower forced target gives kernels no slower than it
    const slow = size(graph(ks), machine, { targetCycles: sg.targetCycles * 2 });
    for (const k of slow.kernels) expect(k.cyclesPerSample).toBeLessThanOrEqual(sg.targetCycles * 2);
  });

  it('names the kernel, its bytes per PE and the machine when weights exceed SRAM at every split', () => {
    const machine = customMachine({ name: 'tiny', fabric: { width: 8, height: 8 }, sramBytesPerPe: 256 });
    const big = kernel('dense_big', { kind: 'conv', H: 1, W: 1, R: 1, S: 1, C: 4096, K: 4096, T: 1, U: 1, epilogueOps: 0 });
    let err: unknown;
    try {
      checkFit(graph([big]), machine);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(UserError);
    const msg = (err as Error).message;
    expect(msg).toMatch(/kernel 'dense_big'/);
    expect(msg).toMatch(/machine 'tiny'/);
    expect(msg).toMatch(/256 bytes of SRAM per PE/);
    const bytes = Number(/at least (\d+) bytes per PE/.exec(msg)?.[1]);
    // finest split within 8 × 8 PEs: c ≤ 7 rows of (c+1) ≤ 8, k ≤ 2 columns of 3 copies → ⌈4096/7⌉·⌈4096/2⌉ words at best
    expect(bytes).toBeGreaterThan(256);
    expect(bytes).toBeLessThanOrEqual((Math.ceil(4096 / 7) * Math.ceil(4096 / 2) + Math.ceil(4096 / 2)) * 2);
  });

  it('reports a model too large for the fabric, naming its largest kernel and the machine', () => {
    const machine = customMachine({ name: 'small', fabric: { width: 16, height: 16 } });
    const ks = Array.from({ length: 60 }, (_, i) => kernel(`conv_${i}`, { kind: 'conv', H: 8, W: 8, R: 3, S: 3, C: 16, K: 16, T: 1, U: 1, epilogueOps: 0 }));
    expect(() => size(graph(ks), machine)).toThrow(/model too large for machine 'small' \(16×16 PEs.*kernel 'conv_\d+'.*bytes per PE/);
  });
});

describe('data-flow order', () => {
  it('is a topological order of any DAG and keeps chains together', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 30 }), fc.array(fc.tuple(fc.nat(), fc.nat()), { maxLength: 60 }), (n, pairs) => {
        const names = Array.from({ length: n }, (_, i) => `k${i}`);
        const edges = pairs.map(([a, b]) => [a % n, b % n]).filter(([a, b]) => a < b).map(([a, b]) => ({ from: names[a], to: names[b], external: false }));
        const order = dataflowOrder(names, edges);
        expect([...order].sort()).toEqual([...names].sort());
        const pos = new Map(order.map((x, i) => [x, i]));
        for (const e of edges) expect(pos.get(e.from)!).toBeLessThan(pos.get(e.to)!);
      }),
      { numRuns: 100 },
    );
    const chain = ['a', 'b', 'c', 'd'];
    expect(dataflowOrder(['d', 'c', 'b', 'a'], chain.slice(1).map((x, i) => ({ from: chain[i], to: x, external: false })))).toEqual(chain);
  });
});
