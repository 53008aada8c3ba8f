/**
 * Where the flow-level simulation must disagree with the analytic estimate (docs/design.md §10), each with
 * its hand computation: serialization of a large tensor on one lane, two routes sharing one link, a skip
 * connection with few receive slots, a TRAIN stash overflowing SRAM, a host ingress too slow for the wafer.
 * Also the bad inputs the simulator refuses.
 */
import { describe, expect, it } from 'vitest';
import { checkPlacement } from '../../compiler/passes/place.ts';
import { parseMachine } from '../../compiler/machine.ts';
import { simulate } from '../../wafer-sim/sim/index.ts';
import { edge, hvRoute, kernel, makePlan, testMachine } from './sim-helpers.ts';

const io = 150e9; // bytes/s: 150 bytes per cycle at 1 GHz
const machine = testMachine();

describe('must disagree with the estimate', () => {
  it('(a) a one-lane route with a large tensor: first-sample latency exceeds the fill by its serialization', () => {
    // host → a (0,0) → b (30,0), a → b carries 40 000 B on 1 lane = 10 000 wavelets: 10 000 cycles to
    // serialize at one 32-bit wavelet per cycle.
    const ks = [kernel('a', 0, 0, 1, 1, 100), kernel('b', 30, 0, 1, 1, 200)];
    const es = [edge('features/x', 'a', 8), edge('a', 'b', 40_000)];
    const rs = [hvRoute(es[0], [0, 0], [0, 0]), hvRoute(es[1], [0, 0], [30, 0])];
    const plan = makePlan('eval', ks, es, rs, machine, 1);
    const r = simulate(plan, { batchSize: 1 });
    // analytic fill: a 100 + 30 hops + b 200 = 330
    expect(plan.estimate.fillCycles).toBe(330);
    // simulated: ingress 8 B / 150 B per cycle; input 2 wavelets + 1 (edge entry, 0 hops); a 100;
    // a → b 10 000 wavelets + (30 hops + 1 ramp) · 1; b 200; egress of b's output (1 element, 2 B)
    const serialization = 10_000;
    const expected = 8 / 150 + (2 + 1) + 100 + (serialization + 31) + 200 + 2 / 150;
    expect(r.firstSampleLatencyCycles).toBeCloseTo(expected, 9);
    const excess = r.firstSampleLatencyCycles - plan.estimate.fillCycles;
    expect(Math.abs(excess - serialization) / serialization).toBeLessThan(0.01);
    expect(r.bottleneck).toEqual({ kind: 'link', name: '(0,0,E)' });
  });

  it('(b) two routes sharing one link beyond its bandwidth: interval = summed bytes / link bandwidth', () => {
    // p (0,10) → c (40,10) and q (5,10) → d (50,20): both lanes run east along row 10, sharing the links
    // x = 5 … 39. Each carries 4 000 B = 1 000 wavelets per sample; the shared links need 2 000 cycles per
    // sample at 4 bytes per cycle, kernels only 500.
    const ks = [kernel('p', 0, 10, 1, 1, 500), kernel('q', 5, 10, 1, 1, 500), kernel('c', 40, 10, 1, 1, 500), kernel('d', 50, 20, 1, 1, 500)];
    const es = [edge('p', 'c', 4000), edge('q', 'd', 4000)];
    const rs = [hvRoute(es[0], [0, 10], [40, 10]), hvRoute(es[1], [5, 10], [50, 20])];
    const plan = makePlan('eval', ks, es, rs, machine, 64);
    const r = simulate(plan, { batchSize: 64 });
    const interval = (4000 + 4000) / 4;
    expect(r.steadyIntervalCycles).toBeCloseTo(interval, 6);
    expect(r.bottleneck.kind).toBe('link');
    expect(r.bottleneck.name).toMatch(/^\((\d+),10,E\)$/);
    const x = Number(/^\((\d+)/.exec(r.bottleneck.name)![1]);
    expect(x >= 5 && x < 40).toBe(true);
    // the shared links carried both tensors of every sample
    expect(r.links[0].bytes).toBe(64 * 8000);
  });

  it('(c) a skip connection with few receive slots: throughput below the estimate by the predicted amount', () => {
    // A (0,0) → B (10,5) → C (20,0..1), and A → C directly (the skip). A's tensor (40 B = 10 wavelets) is one
    // multicast stream to B and C; all kernels 100 cycles, so the estimate's interval is 100.
    // C (1 × 2 PEs, one copy) has 2 input edges of 40 B / 2 PEs = 20 B per PE each; its spare SRAM is
    // 49 152 − 24 546 · 2 = 60 B per PE, so ⌊60 / 40⌋ = 1 extra slot: 2 receive slots per edge.
    const ks = [kernel('A', 0, 0, 1, 1, 100), kernel('B', 10, 5, 1, 1, 100), kernel('C', 20, 0, 1, 2, 100, { mem: 24_546 })];
    const es = [edge('A', 'B', 40), edge('A', 'C', 40), edge('B', 'C', 40)];
    const rs = [hvRoute(es[0], [0, 0], [10, 5]), hvRoute(es[1], [0, 0], [20, 0]), hvRoute(es[2], [10, 5], [20, 1])];
    const plan = makePlan('eval', ks, es, rs, machine, 65);
    expect(plan.estimate.intervalCycles).toBe(100);
    const r = simulate(plan, { batchSize: 65 });
    expect(r.kernels[2].receiveSlots).toBe(2);
    // A's transfer of sample s needs C's slot of sample s − 2, freed when C finishes s − 2. Around that loop:
    // A → C stream injects 10 wavelets and reaches B after 15 + 1 more cycles (26); B runs 100; B → C injects
    // 10 and arrives 14 + 1 later (25); C runs 100: 26 + 100 + 25 + 100 = 251 cycles per 2 samples.
    const predicted = 251 / 2;
    expect(r.steadyIntervalCycles).toBeCloseTo(predicted, 6);
    expect(r.steadySamplesPerS / plan.estimate.steadyStateSamplesPerS).toBeCloseTo(100 / predicted, 6);
    expect(r.bottleneck).toEqual({ kind: 'credits', name: 'A → C' });
    expect(r.kernels[0].passes[0].blockedCycles).toBeGreaterThan(0);
    // with unbounded buffers the skip costs nothing
    expect(simulate(plan, { batchSize: 65, buffers: 'unbounded' }).steadyIntervalCycles).toBeCloseTo(100, 6);
  });

  it('(d) a TRAIN stash that overflows SRAM while the plan memory fits: reported', () => {
    // host → A → B → L (loss), TRAIN. A (1 × 2 PEs, 3 copies: 1 × 6 in the plan... modelled as 2 PEs per copy)
    // stores each sample's 4 000 B input: 4 000 / 2 = 2 000 B per PE per sample. Its memory is 23 076 words,
    // leaving 49 152 − 46 152 = 3 000 B per PE: one stashed sample fits, two do not. B (1 000 cycles) sets
    // the interval, and a sample's forward-and-back loop through B and L (≥ 2 · 1 000 cycles) exceeds it, so
    // at least 2 samples are in A's stash at once.
    const ks = [kernel('A', 0, 0, 3, 2, 10, { copies: 3, mem: 23_076 }), kernel('B', 10, 0, 3, 1, 1000, { copies: 3 }), kernel('L', 20, 0, 2, 1, 10, { copies: 2 })];
    expect(checkPlacement(ks, machine).filter((v) => /words per PE/.test(v))).toEqual([]);
    const es = [edge('features/x', 'A', 4000), edge('A', 'B', 40), edge('B', 'L', 40), edge('labels', 'L', 2)];
    const rs = [hvRoute(es[0], [0, 0], [1, 0]), hvRoute(es[1], [1, 0], [11, 0]), hvRoute(es[2], [11, 0], [20, 0]), hvRoute(es[3], [0, 0], [20, 0])];
    const plan = makePlan('train', ks, es, rs, machine, 8);
    const r = simulate(plan, { batchSize: 8 });
    const a = r.kernels[0];
    expect(a.stashWordsPerSample).toBe(1000);
    expect(a.stashHighWaterSamples).toBeGreaterThanOrEqual(2);
    expect(a.sramHighWaterWordsPerPe).toBeGreaterThan(a.sramWordsPerPe);
    expect(r.errors.map((e) => [e.kind, e.kernel])).toEqual([['stash', 'A']]);
    expect(r.bottleneck).toEqual({ kind: 'stash', name: 'A' });
    // B and L fit
    expect(r.kernels[1].sramHighWaterWordsPerPe).toBeLessThanOrEqual(r.kernels[1].sramWordsPerPe);
  });

  it('(e) a low host ingress: bottleneck ingress, samples/s = ingress bytes/s ÷ input bytes per sample', () => {
    // 3 000 B of input per sample at 10 GB/s: 300 cycles per sample at 1 GHz, the kernels need 100.
    const ks = [kernel('a', 5, 0, 4, 4, 100), kernel('b', 20, 0, 4, 4, 100)];
    const es = [edge('features/x', 'a', 3000), edge('a', 'b', 400)];
    const rs = [hvRoute(es[0], [0, 1], [6, 1], 4, 0, 5), hvRoute(es[1], [6, 1], [21, 1], 4, 0, 20)];
    const plan = makePlan('eval', ks, es, rs, machine, 200);
    const r = simulate(plan, { batchSize: 200, ioBytesPerS: 1e10 });
    expect(r.bottleneck).toEqual({ kind: 'ingress', name: 'host' });
    const expected = 1e10 / 3000;
    expect(Math.abs(r.steadySamplesPerS - expected) / expected).toBeLessThan(0.01);
    expect(Math.abs(r.samplesPerS - expected) / expected).toBeLessThan(0.01);
    expect(r.io.ingressBusyCycles).toBeCloseTo(200 * 300, 6);
    // at the machine's 150 GB/s (20 cycles per sample) the wafer is the bound again: lane 0 of the input
    // route (750 wavelets over 4 lanes: 188) shares links x = 6, 7 of row 0 with lane 0 of a → b (100 over 4:
    // 25), 213 wavelets per sample; the estimate's busiest link carries 750 + 100 B per sample, 212.5 cycles.
    const fast = simulate(plan, { batchSize: 200, ioBytesPerS: io });
    expect(fast.bottleneck).toEqual({ kind: 'link', name: '(6,0,E)' });
    expect(Math.abs(fast.steadyIntervalCycles - 213) / 213).toBeLessThan(0.01);
    expect(plan.estimate.intervalCycles).toBe(212.5);
  });
});

describe('bad input', () => {
  const ks = [kernel('a', 0, 0, 2, 2, 10), kernel('b', 10, 0, 2, 2, 10)];
  const es = [edge('a', 'b', 40)];
  const good = makePlan('eval', ks, es, [hvRoute(es[0], [0, 0], [10, 0])], machine, 4);

  it('a machine description without io_bytes_per_s: one UserError naming the file and the key', () => {
    const yaml = 'name: m\nfabric: {width: 64, height: 64}\nsram_bytes_per_pe: 49152\nclock_hz: 1e9\nword_bytes: 2\nmacs_per_pe_per_cycle: 1\nlink_bits_per_cycle: 32\nhop_latency_cycles: 1\nwire_penalty: 1\n';
    const m = parseMachine(yaml, '/x/m.yaml');
    expect(m.ioBytesPerS).toBeUndefined();
    const plan = makePlan('eval', ks, es, good.routes, m, 4);
    expect(() => simulate(plan, { batchSize: 4 })).toThrow(/\/x\/m\.yaml: .*io_bytes_per_s is missing/);
    expect(() => simulate(plan, { batchSize: 4 })).toThrow(expect.objectContaining({ name: 'UserError' }));
    expect(parseMachine(yaml + 'io_bytes_per_s: 1.5e11\n', 'm.yaml').ioBytesPerS).toBe(1.5e11);
  });

  it('the wavelet level on a fabric larger than 64 × 64', () => {
    const big = makePlan('eval', ks, es, good.routes, testMachine({ fabric: { width: 65, height: 64 } }), 4);
    expect(() => simulate(big, { batchSize: 4, level: 'wavelet' })).toThrow(/at most 64×64 PEs; machine 'test' has 65×64/);
  });

  it('a corrupted plan: a route leaving the fabric, kernels overlapping', () => {
    const off = { ...good, hash: 'off', routes: [{ ...good.routes[0], secondTrack: 70 }] };
    expect(() => simulate(off, { batchSize: 4 })).toThrow(/route 0 \(a → b\) lane 0 leaves the 64×64 fabric at \(70,0\)/);
    const over = { ...good, hash: 'over', kernels: [good.kernels[0], { ...good.kernels[1], x: 1 }] };
    expect(() => simulate(over, { batchSize: 4 })).toThrow(/kernels 'a' and 'b' overlap/);
    expect(() => simulate(good, { batchSize: 0 })).toThrow(RangeError);
  });
});
