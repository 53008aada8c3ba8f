import { describe, expect, it } from 'vitest';
import { batchCycles, criticalPath, kernelBusyCycles, kernelCost, kernelOps, kernelStartCycles, planEstimate, type TimedKernel } from '../../compiler/estimate.ts';
import { subConvs } from '../../compiler/kernels/conv.ts';
import type { ConvSpec, KernelEdge, Route } from '../../compiler/ir.ts';
import { customMachine } from '../../compiler/machine.ts';

const conv = (o: Partial<ConvSpec>): ConvSpec => ({ kind: 'conv', H: 14, W: 14, R: 3, S: 3, C: 512, K: 512, T: 1, U: 1, epilogueOps: 0, ...o });

describe('conv model (docs/design.md §7)', () => {
  it('computes height, width, time and memory of a hand-worked example', () => {
    // H=W=14, R=S=3, C=K=512, h'=w'=2, c'=32, k'=52, TRAIN (3 copies)
    const c = kernelCost(conv({}), { h: 2, w: 2, c: 32, k: 52 }, 3);
    expect(c.height).toBe(2 * 2 * 33);
    expect(c.width).toBe(3 * 52);
    // ⌈14/2⌉·⌈14/2⌉·⌈512/32⌉·⌈512/52⌉·9 = 7·7·16·10·9
    expect(c.cyclesPerSample).toBe(7 * 7 * 16 * 10 * 9);
    // (512/32)(⌈512/52⌉)·9 + ⌈16/2⌉·⌈16/2⌉·⌈512/52⌉
    expect(c.memoryWordsPerPe).toBe(16 * 10 * 9 + 8 * 8 * 10);
    expect(c.opsPerSample).toBe(14 * 14 * 9 * 512 * 512);
  });

  it('divides by the strides and uses one copy for inference', () => {
    const c = kernelCost(conv({ T: 2, U: 2 }), { h: 1, w: 1, c: 512, k: 512 }, 1);
    expect(c.width).toBe(512);
    expect(c.cyclesPerSample).toBe(Math.ceil((14 * 14 * 9) / 4));
  });

  it('treats dense as the 1 × 1 case and adds fused epilogue ops per output element', () => {
    const d = conv({ H: 1, W: 1, R: 1, S: 1, C: 100, K: 10 });
    expect(kernelCost(d, { h: 1, w: 1, c: 10, k: 2 }, 3).cyclesPerSample).toBe(10 * 5);
    expect(kernelCost({ ...d, epilogueOps: 3 }, { h: 1, w: 1, c: 10, k: 2 }, 3).cyclesPerSample).toBe(10 * 5 + 5 * 3);
  });

  it('rejects execution parameters out of range', () => {
    expect(() => kernelCost(conv({}), { h: 0, w: 1, c: 1, k: 1 }, 3)).toThrow(RangeError);
    expect(() => kernelCost(conv({}), { h: 1, w: 1, c: 513, k: 1 }, 3)).toThrow(/c=513/);
    expect(() => kernelCost(conv({}), { h: 1, w: 1, c: 1 }, 3)).toThrow(/k=undefined/);
    expect(() => kernelCost(conv({}), { h: 1.5, w: 1, c: 1, k: 1 }, 3)).toThrow(RangeError);
  });
});

describe('ISPD blocks (docs/design.md §9)', () => {
  it('dblock: three convs side by side, max height/time/memory, summed width', () => {
    const subs = subConvs({ kind: 'dblock', H: 7, W: 7, F: 2048 });
    expect(subs.map((s) => [s.R, s.C, s.K, s.T])).toEqual([
      [1, 2048, 512, 1],
      [3, 512, 512, 1],
      [1, 512, 2048, 1],
    ]);
    const exec = { h: 1, w: 1, c1: 64, c2: 32, c3: 16, k1: 8, k2: 16, k3: 32 };
    const got = kernelCost({ kind: 'dblock', H: 7, W: 7, F: 2048 }, exec, 3);
    const parts = subs.map((s, i) => kernelCost({ kind: 'conv', ...s }, { h: 1, w: 1, c: [64, 32, 16][i], k: [8, 16, 32][i] }, 3));
    expect(got.width).toBe(parts.reduce((a, p) => a + p.width, 0));
    expect(got.height).toBe(Math.max(...parts.map((p) => p.height)));
    expect(got.cyclesPerSample).toBe(Math.max(...parts.map((p) => p.cyclesPerSample)));
    expect(got.memoryWordsPerPe).toBe(Math.max(...parts.map((p) => p.memoryWordsPerPe)));
  });

  it('cblock: strided 3×3 and projection, third conv at half resolution', () => {
    const subs = subConvs({ kind: 'cblock', H: 56, W: 56, F: 512 });
    expect(subs.map((s) => [s.H, s.R, s.C, s.K, s.T])).toEqual([
      [56, 1, 256, 128, 1],
      [56, 3, 128, 128, 2],
      [28, 1, 128, 512, 1],
      [56, 1, 256, 512, 2],
    ]);
  });
});

describe('other kernel models', () => {
  it('pool, norm, eltwise, loss and embedding follow their documented formulas', () => {
    const pool = kernelCost({ kind: 'pool', H: 24, W: 24, C: 64, R: 2, S: 2, T: 2, U: 2, epilogueOps: 1 }, { h: 2, w: 3, c: 8 }, 2);
    expect([pool.height, pool.width]).toEqual([6, 16]);
    expect(pool.cyclesPerSample).toBe(Math.ceil((12 * 8 * 8 * 4) / 4) + 6 * 4 * 8);
    expect(pool.memoryWordsPerPe).toBe(12 * 8 * 8);
    const gap = kernelCost({ kind: 'pool', H: 7, W: 7, C: 2048, R: 7, S: 7, T: 7, U: 7, epilogueOps: 0 }, { h: 7, w: 1, c: 64 }, 1);
    expect(gap.cyclesPerSample).toBe(7 * 32);
    expect(gap.memoryWordsPerPe).toBe(7 * 32);
    const norm = kernelCost({ kind: 'norm', H: 10, W: 10, C: 16, opsPerElement: 4 }, { h: 2, w: 5, c: 4 }, 3);
    expect([norm.height, norm.width, norm.cyclesPerSample, norm.memoryWordsPerPe]).toEqual([10, 12, 5 * 2 * 4 * 4 + 1 + 4, 40 + 16]);
    const el = kernelCost({ kind: 'eltwise', N: 1000, arity: 2, opsPerElement: 1 }, { h: 10, w: 10 }, 2);
    expect([el.height, el.width, el.cyclesPerSample, el.memoryWordsPerPe]).toEqual([10, 20, 10, 30]);
    const loss = kernelCost({ kind: 'loss', N: 10, opsPerElement: 5 }, { h: 1, w: 2 }, 2);
    expect([loss.height, loss.width, loss.cyclesPerSample, loss.memoryWordsPerPe]).toEqual([1, 4, 25 + 1, 17]);
    const emb = kernelCost({ kind: 'embedding', V: 1000, D: 64, L: 20 }, { v: 10, k: 8 }, 3);
    expect([emb.height, emb.width, emb.cyclesPerSample, emb.memoryWordsPerPe]).toEqual([10, 24, 20 * 8 + 9, 100 * 8 + 20 * 8]);
    expect(kernelOps({ kind: 'eltwise', N: 1000, arity: 2, opsPerElement: 1 })).toBe(1000);
  });
});

describe('pipeline timing', () => {
  const machine = customMachine({ fabric: { width: 100, height: 100 }, clockHz: 1e9, hopLatencyCycles: 2 });
  const k = (name: string, cycles: number): TimedKernel => ({ name, spec: { kind: 'eltwise', N: 10, arity: 1, opsPerElement: 1 }, copies: 1, width: 2, height: 5, cyclesPerSample: cycles });
  const kernels = [k('a', 100), k('b', 300), k('c', 50), k('d', 10)];
  const edge = (from: string, to: string): KernelEdge => ({ from, to, tensor: `${from}:0`, shape: [10], bytesPerSample: 20, external: false, backward: true });
  const edges = [edge('a', 'b'), edge('a', 'c'), edge('b', 'd'), edge('c', 'd')];
  const route = (from: string, to: string, hops: number): Route => ({
    from, to, tensor: `${from}:0`, bytesPerSample: 20, external: false, backward: true, order: 'HV', start: [0, 0], end: [hops, 0], lanes: 1, firstTrack: 0, secondTrack: hops, hops,
  });
  const routes = [route('a', 'b', 10), route('a', 'c', 100), route('b', 'd', 10), route('c', 'd', 10)];

  it('finds the critical path with hop latencies', () => {
    const cp = criticalPath(kernels, edges, routes, 2);
    // a(100) +20 b(300) +20 d(10) = 450 ; a(100) +200 c(50) +20 d(10) = 380
    expect(cp.fill).toBe(450);
    expect(cp.path).toEqual(['a', 'b', 'd']);
  });

  it('gives each kernel the cycle the first sample reaches it (the critical path\'s walk)', () => {
    // a: 0; b: a(100) + 20; c: a(100) + 200; d: max(b 120+300+20, c 300+50+20) = 440
    expect(kernelStartCycles(kernels, edges, routes, 2)).toEqual([0, 120, 300, 440]);
    // order-independent, index-aligned with the kernels given
    expect(kernelStartCycles([...kernels].reverse(), edges, routes, 2)).toEqual([440, 300, 120, 0]);
    // an external input's hops delay its consumer; the fill is the latest finish
    const ext: KernelEdge = { from: 'features/x', to: 'a', tensor: 'features/x', shape: [10], bytesPerSample: 20, external: true, backward: false };
    const extRoute = { ...route('features/x', 'a', 7), tensor: 'features/x', external: true, backward: false };
    const starts = kernelStartCycles(kernels, [ext, ...edges], [extRoute, ...routes], 2);
    expect(starts).toEqual([14, 134, 314, 454]);
    expect(criticalPath(kernels, [ext, ...edges], [extRoute, ...routes], 2).fill).toBe(Math.max(...kernels.map((k, i) => starts[i] + k.cyclesPerSample)));
    expect(() => kernelStartCycles(kernels, [...edges, edge('d', 'a')], routes, 2)).toThrow(/cycle through/);
  });

  it('steady-state samples/s is the clock over the slower of the slowest kernel and the busiest link', () => {
    const busy = { x: 1, y: 1, dir: 'E' as const, bytesPerSample: 800 };
    const e = planEstimate(kernels, edges, routes, busy, 'train', machine, 64);
    expect(e.computeCycles).toBe(300);
    expect(e.transmissionCycles).toBe(200);
    expect(e.steadyStateSamplesPerS).toBe(1e9 / 300);
    expect(e.steadyStateSamplesPerS).toBe(Math.min(e.computeSamplesPerS, e.transmissionSamplesPerS));
    expect(e.bottleneck).toBe('b');
    expect(e.fillCycles).toBe(900); // forward and backward in TRAIN
    const e2 = planEstimate(kernels, edges, routes, { ...busy, bytesPerSample: 2000 }, 'eval', machine, 64);
    expect(e2.steadyStateSamplesPerS).toBe(1e9 / 500);
    expect(e2.bottleneck).toBe('link (1,1,E)');
    expect(e2.fillCycles).toBe(450);
    expect(e2.activePeFraction).toBe((4 * 10) / 10000);
  });

  it('samples/s is the effective rate at the compiled batch size, fill included', () => {
    const busy = { x: 1, y: 1, dir: 'E' as const, bytesPerSample: 800 };
    for (const B of [1, 2, 64, 1000]) {
      const e = planEstimate(kernels, edges, routes, busy, 'train', machine, B);
      expect(e.samplesPerS).toBe((B * 1e9) / (900 + (B - 1) * 300));
      expect(e.samplesPerS).toBe((B * machine.clockHz) / batchCycles(e, B));
      expect(e.samplesPerS).toBeLessThanOrEqual(e.steadyStateSamplesPerS);
      expect(B / (batchCycles(e, B) / machine.clockHz)).toBeCloseTo(e.samplesPerS, 6);
    }
    expect(planEstimate(kernels, edges, routes, busy, 'eval', machine, 1).samplesPerS).toBe(1e9 / 450); // pure latency
    for (const B of [0, 2.5, NaN]) expect(() => planEstimate(kernels, edges, routes, busy, 'eval', machine, B)).toThrow(RangeError);
  });

  it('a batch takes fill + (B − 1) intervals', () => {
    expect(batchCycles({ fillCycles: 900, intervalCycles: 300 }, 1)).toBe(900);
    expect(batchCycles({ fillCycles: 900, intervalCycles: 300 }, 64)).toBe(900 + 63 * 300);
    expect(() => batchCycles({ fillCycles: 1, intervalCycles: 1 }, 0)).toThrow(RangeError);
    expect(kernelBusyCycles({ cyclesPerSample: 300 }, 10)).toBe(3000);
  });
});
