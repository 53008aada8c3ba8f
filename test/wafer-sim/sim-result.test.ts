/**
 * The pass graph's structure and the shape of a simulation result (docs/design.md §10): counters that add
 * up to the batch, route bytes, hottest links first, a critical path that ends at the last completion, a
 * trace in the Chrome trace-event format with matched flow events, and the cache.
 */
import { describe, expect, it } from 'vitest';
import { passGraph } from '../../compiler/pass-graph.ts';
import { simulate, type SimResult } from '../../wafer-sim/sim/index.ts';
import { edge, hvRoute, kernel, makePlan, testMachine } from './sim-helpers.ts';
import { randomPlan } from './random-dags.ts';

const machine = testMachine();
// host → a → b → L (loss) with a skip a → L; labels → L. TRAIN: a, b have 3 copies, L 2.
const ks = [kernel('a', 0, 0, 3, 2, 50, { copies: 3 }), kernel('b', 10, 0, 3, 2, 80, { copies: 3 }), kernel('L', 20, 0, 2, 2, 20, { copies: 2, N: 1 })];
const es = [edge('features/x', 'a', 64), edge('a', 'b', 400), edge('b', 'L', 40), edge('a', 'L', 400), edge('labels', 'L', 2)];
const rs = [hvRoute(es[0], [0, 0], [1, 0]), hvRoute(es[1], [1, 0], [11, 0], 2, 0, 10), hvRoute(es[2], [11, 0], [20, 0]), hvRoute(es[3], [1, 1], [20, 1]), hvRoute(es[4], [0, 3], [21, 0], 1, 3, 21)];
const plan = makePlan('train', ks, es, rs, machine, 16);

describe('pass graph', () => {
  it('TRAIN: F for every kernel, B for copies ≥ 2 fed back along backward routes, W with the same inputs', () => {
    const g = passGraph(plan);
    expect(g.passes.map((p) => `${p.name}.${p.kind}`)).toEqual(['a.forward', 'b.forward', 'L.forward', 'a.backward', 'b.backward', 'L.backward', 'a.weight', 'b.weight']);
    const dep = (from: number | null, to: number) => g.deps.filter((d) => d.from === from && d.to === to).map((d) => `${d.direction}:${d.route}`);
    const [Fa, Fb, FL, Ba, Bb, BL, Wa, Wb] = [0, 1, 2, 3, 4, 5, 6, 7];
    expect(dep(null, Fa)).toEqual(['forward:0']);
    expect(dep(Fa, Fb)).toEqual(['forward:1']);
    expect(dep(FL, BL)).toEqual(['local:null']);
    expect(dep(BL, Bb)).toEqual(['backward:2']);
    expect(dep(BL, Wb)).toEqual(['backward:2']);
    expect(dep(BL, Ba)).toEqual(['backward:3']);
    expect(dep(Bb, Wa)).toEqual(['backward:1']);
    expect(dep(Fa, Wa)).toEqual(['local:null']);
    expect(g.deps.some((d) => d.route === 4 && d.direction === 'backward')).toBe(false); // no gradient to the labels
    expect(g.egress).toEqual([{ pass: FL, bytesPerSample: 2 }]);
    expect(g.ingressBytesPerSample).toBe(66);
    expect(passGraph({ ...plan, mode: 'eval' }).passes).toHaveLength(3);
  });
});

describe('simulation result', () => {
  const r = simulate(plan, { batchSize: 16 });

  it('per pass, busy + starved + blocked + fill + drain = the batch; busy = B × cycles per sample', () => {
    for (const [ki, k] of r.kernels.entries()) {
      for (const p of k.passes) {
        expect(p.busyCycles + p.starvedCycles + p.blockedCycles + p.fillCycles + p.drainCycles).toBeCloseTo(r.batchCycles, 6);
        expect(p.busyCycles).toBe(16 * plan.kernels[ki].cyclesPerSample);
        expect(Math.min(p.starvedCycles, p.blockedCycles, p.fillCycles, p.drainCycles)).toBeGreaterThanOrEqual(0);
      }
    }
    expect(r.kernels.map((k) => k.passes.length)).toEqual([3, 3, 2]);
    expect(r.samplesPerS).toBeCloseTo((16 * 1e9) / r.batchCycles, 3);
  });

  it('route bytes: every tensor once per sample forward, and back when it carries a gradient', () => {
    expect(r.routes.map((x) => [x.bytesForward, x.bytesBackward])).toEqual(es.map((e) => [16 * e.bytesPerSample, e.backward ? 16 * e.bytesPerSample : 0]));
  });

  it('links hottest first, with bytes, busy cycles and utilization', () => {
    expect(r.links.length).toBeGreaterThan(10);
    expect(r.linksUsed).toBeGreaterThanOrEqual(r.links.length);
    for (let i = 1; i < r.links.length; i++) expect(r.links[i].bytes).toBeLessThanOrEqual(r.links[i - 1].bytes);
    for (const l of r.links) expect(l.utilization).toBeCloseTo(l.busyCycles / r.batchCycles, 9);
    expect(simulate(plan, { batchSize: 16, maxLinks: 3 }).links).toEqual(r.links.slice(0, 3));
    // the heat grid covers every used fabric link, whatever maxLinks: its hottest cell is the hottest link
    const fabric = r.links.filter((l) => ['E', 'W', 'N', 'S'].includes(l.dir));
    const h = simulate(plan, { batchSize: 16, maxLinks: 3 }).linkHeat;
    expect([h.cellPes, h.cols, h.rows]).toEqual([1, 64, 64]);
    expect(Math.max(...h.maxUtilization)).toBeCloseTo(Math.max(...fabric.map((l) => l.utilization)), 12);
    for (const l of fabric) expect(h.maxUtilization[l.y * h.cols + l.x]).toBeGreaterThanOrEqual(l.utilization - 1e-12);
  });

  it('the critical path is a contiguous chain from the batch start to the last completion', () => {
    const cp = r.criticalPath;
    expect(cp[0].via).toBe('start');
    expect(cp[cp.length - 1].endCycle).toBeCloseTo(r.batchCycles, 9);
    expect(cp.reduce((s, x) => s + x.cycles, 0)).toBeCloseTo(r.batchCycles - cp[0].startCycle, 6);
    for (let i = 1; i < cp.length; i++) expect(cp[i].startCycle).toBeGreaterThanOrEqual(cp[i - 1].startCycle);
  });

  it('SRAM: memory, buffers and stash per kernel in words per PE', () => {
    const a = r.kernels[0];
    expect(a.stashWordsPerSample).toBe(32 / 2); // 64 B over 2 PEs per copy, 2-byte words
    expect(a.stashHighWaterSamples).toBeGreaterThanOrEqual(1);
    expect(a.sramHighWaterWordsPerPe).toBeGreaterThanOrEqual(a.memoryWordsPerPe + a.stashHighWaterWordsPerPe);
    expect(r.errors).toEqual([]);
  });

  it('the trace is Chrome trace-event JSON: X spans in µs, matched flow events bound to slices', () => {
    const doc = JSON.parse(JSON.stringify(r.trace)) as NonNullable<SimResult['trace']>;
    expect(doc.displayTimeUnit).toBe('ns');
    const spans = doc.traceEvents.filter((e) => e.ph === 'X');
    // 8 passes, 7 streams (4 forward: features, a's multicast, b → L, labels; 3 gradients), host in and out
    expect([1, 2, 3].map((pid) => spans.filter((e) => e.pid === pid).length)).toEqual([8 * 16, 7 * 16, 2 * 16]);
    for (const e of spans) expect(Number.isFinite(e.ts) && Number.isFinite(e.dur) && e.dur! >= 0).toBe(true);
    // spans on one track never overlap
    const byTrack = new Map<string, { ts: number; dur: number }[]>();
    for (const e of spans) byTrack.set(`${e.pid}/${e.tid}`, [...(byTrack.get(`${e.pid}/${e.tid}`) ?? []), { ts: e.ts!, dur: e.dur! }]);
    for (const list of byTrack.values()) for (let i = 1; i < list.length; i++) expect(list[i].ts).toBeGreaterThanOrEqual(list[i - 1].ts + list[i - 1].dur - 1e-9);
    const s = doc.traceEvents.filter((e) => e.ph === 's');
    const f = doc.traceEvents.filter((e) => e.ph === 'f');
    expect(s.length).toBeGreaterThan(16);
    expect(f.map((e) => e.id).sort()).toEqual(s.map((e) => e.id).sort());
    for (const e of [...s, ...f]) expect(e.cat && typeof e.id === 'number').toBeTruthy();
    for (const e of f) expect(e.bp).toBe('e');
    // a flow starts inside a span of its track and ends at the start of one
    const inside = (e: { pid: number; tid: number; ts?: number }, atStart: boolean) =>
      spans.some((x) => x.pid === e.pid && x.tid === e.tid && (atStart ? Math.abs(x.ts! - e.ts!) < 1e-9 : e.ts! >= x.ts! && e.ts! <= x.ts! + x.dur!));
    for (const e of s) expect(inside(e, false)).toBe(true);
    for (const e of f) expect(inside(e, true)).toBe(true);
    expect(simulate(plan, { batchSize: 16, trace: false }).trace).toBeNull();
  });

  it('is cached by plan hash and options', () => {
    expect(simulate(plan, { batchSize: 16 })).toBe(r);
    expect(simulate(plan, { batchSize: 8 })).not.toBe(r);
  });

  it('the wavelet engine gives the same kind of result on a small fabric', () => {
    const p = randomPlan(7, 32, 8);
    const w = simulate(p, { batchSize: 8, level: 'wavelet' });
    expect(w.simLevel).toBe('wavelet');
    expect(w.kernels.map((k) => k.name)).toEqual(p.kernels.map((k) => k.name));
    expect(w.routes).toEqual(simulate(p, { batchSize: 8 }).routes);
    expect(() => simulate(p, { batchSize: 8, level: 'wavelet', transfer: 'whole' })).toThrow(RangeError);
  });
});
