/**
 * Where the simulation must agree (docs/design.md §10): on chains where no port is shared between streams
 * the flow engine's steady-state interval is the estimate's (the slowest kernel, or a route's own busiest
 * lane), and the flow and wavelet engines agree on ≥ 30 seeded random DAGs on 16 × 16 to 64 × 64 fabrics,
 * placed and routed by the compiler's own passes.
 */
import { describe, expect, it } from 'vitest';
import { passGraph } from '../../compiler/pass-graph.ts';
import { buildNetwork } from '../../wafer-sim/sim/network.ts';
import { simulate } from '../../wafer-sim/sim/index.ts';
import { randomPlan } from './random-dags.ts';

describe('no contention', () => {
  it('chains with no shared port: steady-state interval within 1% of the estimate', () => {
    const sides = [16, 32, 48, 64, 757];
    let checked = 0;
    for (let seed = 100; seed < 160; seed++) {
      const plan = randomPlan(seed, sides[seed % sides.length], 200, true);
      if (buildNetwork(plan, passGraph(plan)).shared.ports.length > 0) continue;
      checked++;
      const r = simulate(plan, { batchSize: 200, trace: false });
      const e = plan.estimate.intervalCycles;
      expect(Math.abs(r.steadyIntervalCycles - e) / e, `seed ${seed}`).toBeLessThan(0.01);
    }
    expect(checked).toBeGreaterThanOrEqual(15);
  });
});

describe('flow and wavelet engines agree', () => {
  it('on 36 random DAGs: steady-state interval within 2%, first-sample latency within 5%', () => {
    const sides = [16, 24, 32, 48, 64];
    const B = 64;
    for (let seed = 1; seed <= 36; seed++) {
      const plan = randomPlan(seed, sides[seed % sides.length], B);
      const f = simulate(plan, { batchSize: B, trace: false });
      const w = simulate(plan, { batchSize: B, level: 'wavelet', trace: false });
      expect(w.simLevel).toBe('wavelet');
      expect(Math.abs(f.steadyIntervalCycles - w.steadyIntervalCycles) / w.steadyIntervalCycles, `seed ${seed} interval`).toBeLessThan(0.02);
      expect(Math.abs(f.firstSampleLatencyCycles - w.firstSampleLatencyCycles) / w.firstSampleLatencyCycles, `seed ${seed} first sample`).toBeLessThan(0.05);
      // the same traffic: every route moved B tensors forward (and back in TRAIN)
      expect(w.routes).toEqual(f.routes);
    }
  });
});
