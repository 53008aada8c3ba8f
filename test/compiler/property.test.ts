/**
 * Property tests over random layer graphs and fabric sizes: whatever the model and the machine, a compiled
 * plan has no overlapping kernels, every kernel inside the fabric and within SRAM, every edge routed with
 * lane endpoints in its two kernels, steady-state samples/s equal to the clock over the slower of the slowest
 * kernel and the busiest link (recounted here independently of compiler/fabric.ts, multicast rule included),
 * and samples/s equal to the effective rate of a batch of the compiled size, B·clock/(fill + (B − 1)·interval).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { UserError } from '../../runtime/errors.ts';
import type { Mode, TensorInfo } from '../../runtime/graph.ts';
import { kernelCost } from '../../compiler/estimate.ts';
import type { Plan, Route } from '../../compiler/ir.ts';
import { customMachine, memoryWordsPerPe } from '../../compiler/machine.ts';
import { compileGraph } from '../../compiler/pipeline.ts';
import { GraphBuilder } from './helpers/graphs.ts';

type Op =
  | { t: 'conv'; filters: number; k: 1 | 3; stride: 1 | 2 }
  | { t: 'bn' }
  | { t: 'relu' }
  | { t: 'pool' }
  | { t: 'res' }
  | { t: 'dropout' }
  | { t: 'dense'; units: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ t: fc.constant('conv' as const), filters: fc.integer({ min: 2, max: 32 }), k: fc.constantFrom(1 as const, 3 as const), stride: fc.constantFrom(1 as const, 2 as const) }),
  fc.constant({ t: 'bn' as const }),
  fc.constant({ t: 'relu' as const }),
  fc.constant({ t: 'pool' as const }),
  fc.constant({ t: 'res' as const }),
  fc.constant({ t: 'dropout' as const }),
  fc.record({ t: fc.constant('dense' as const), units: fc.integer({ min: 2, max: 64 }) }),
);

const caseArb = fc.record({
  side: fc.integer({ min: 4, max: 24 }),
  channels: fc.integer({ min: 1, max: 4 }),
  ops: fc.array(opArb, { minLength: 1, maxLength: 7 }),
  head: fc.constantFrom('flatten' as const, 'gap' as const),
  classes: fc.integer({ min: 2, max: 12 }),
  mode: fc.constantFrom<Mode>('train', 'eval', 'infer'),
  fabric: fc.record({ width: fc.integer({ min: 24, max: 160 }), height: fc.integer({ min: 24, max: 160 }) }),
});

type Case = typeof caseArb extends fc.Arbitrary<infer T> ? T : never;

function buildGraph(c: Case) {
  const g = new GraphBuilder();
  let x: TensorInfo = g.input('image', [c.side, c.side, c.channels]);
  const labels = g.label();
  const training = c.mode === 'train';
  for (const op of c.ops) {
    const image = x.shape.length === 4;
    switch (op.t) {
      case 'conv':
        if (image) x = g.conv2d(x, { filters: op.filters, kernelSize: op.k, strides: op.stride, padding: 'same', activation: 'relu' });
        break;
      case 'bn':
        x = g.bn(x, training);
        break;
      case 'relu':
        x = g.act(x, 'relu');
        break;
      case 'pool':
        if (image && (x.shape[1] as number) >= 2 && (x.shape[2] as number) >= 2) x = g.maxPool(x, 2);
        break;
      case 'res':
        if (image) x = g.act(g.add(x, g.bn(g.conv2d(x, { filters: x.shape[3] as number, kernelSize: 3, padding: 'same', useBias: false }), training)), 'relu');
        break;
      case 'dropout':
        x = g.dropout(x, 0.3, training);
        break;
      case 'dense':
        x = g.dense(x.shape.length === 4 ? g.flatten(x) : x, op.units, 'relu');
        break;
    }
  }
  if (x.shape.length === 4) x = c.head === 'gap' ? g.gap(x) : g.flatten(x);
  const logits = g.dense(x, c.classes);
  return g.build(c.mode, logits, c.mode === 'infer' ? undefined : g.sparseCE(labels, logits));
}

/** Lane points from the Route documentation (ir.ts), written independently of fabric.ts. */
function lanes(r: Route): [number, number][][] {
  const out: [number, number][][] = [];
  for (let i = 0; i < r.lanes; i++) {
    const a = r.firstTrack + i;
    const b = r.secondTrack + r.lanes - 1 - i;
    out.push(r.order === 'HV' ? [[r.start[0], a], [b, a], [b, r.end[1]]] : [[a, r.start[1]], [a, b], [r.end[0], b]]);
  }
  return out;
}

/** Busiest link, recounted: forward bytes of one producer's tensor count once per link (multicast, the
 * larger share), gradients add up. */
function busiestBytes(plan: Plan): number {
  const load = new Map<string, number>();
  const groupShare = new Map<string, number>(); // `${group}|${link}` → share counted so far
  const walk = (pts: [number, number][], visit: (key: string) => void) => {
    for (let s = 0; s + 1 < pts.length; s++) {
      let [x, y] = pts[s];
      const [tx, ty] = pts[s + 1];
      expect(x === tx || y === ty).toBe(true); // axis-parallel legs
      while (x !== tx || y !== ty) {
        const [nx, ny] = x !== tx ? [x + Math.sign(tx - x), y] : [x, y + Math.sign(ty - y)];
        visit(`${x},${y}>${nx},${ny}`);
        [x, y] = [nx, ny];
      }
    }
  };
  for (const r of plan.routes) {
    const per = r.bytesPerSample / r.lanes;
    const group = `${r.from}/${r.tensor}`;
    for (const l of lanes(r)) {
      walk(l, (key) => {
        const had = groupShare.get(`${group}|${key}`) ?? 0;
        if (per > had) {
          load.set(key, (load.get(key) ?? 0) + per - had);
          groupShare.set(`${group}|${key}`, per);
        }
      });
      if (plan.mode === 'train' && r.backward) walk([...l].reverse(), (key) => load.set(key, (load.get(key) ?? 0) + per));
    }
  }
  return Math.max(0, ...load.values());
}

const inside = (k: { x: number; y: number; width: number; height: number }, [x, y]: [number, number]) => x >= k.x && x < k.x + k.width && y >= k.y && y < k.y + k.height;

describe('compiled plans (property)', () => {
  it('are legal, fully routed and report steady-state samples/s = clock / max(slowest kernel, busiest link)', () => {
    let compiled = 0;
    fc.assert(
      fc.property(caseArb, fc.integer({ min: 1, max: 512 }), (c, batchSize) => {
        const machine = customMachine({ fabric: c.fabric, clockHz: 1e9 });
        let plan: Plan;
        try {
          plan = compileGraph(buildGraph(c), machine, { batchSize }).plan!;
        } catch (e) {
          // too large for a tiny fabric is a legitimate, named outcome
          if (e instanceof UserError && /too large|does not fit|cannot be laid out/.test(e.message)) return;
          throw e;
        }
        compiled++;
        const { width: FW, height: FH } = machine.fabric;
        const byName = new Map(plan.kernels.map((k) => [k.name, k]));
        for (const k of plan.kernels) {
          expect(k.x >= 0 && k.y >= 0 && k.x + k.width <= FW && k.y + k.height <= FH, `${k.name} inside`).toBe(true);
          const cost = kernelCost(k.spec, k.exec, k.copies, machine.macsPerPePerCycle);
          expect(cost.memoryWordsPerPe).toBe(k.memoryWordsPerPe);
          expect(k.memoryWordsPerPe).toBeLessThanOrEqual(memoryWordsPerPe(machine));
          expect(k.rotation === 'R0' ? [cost.width, cost.height] : [cost.height, cost.width]).toEqual([k.width, k.height]);
        }
        for (let i = 0; i < plan.kernels.length; i++) {
          for (let j = i + 1; j < plan.kernels.length; j++) {
            const a = plan.kernels[i];
            const b = plan.kernels[j];
            const overlap = a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height;
            expect(overlap, `${a.name} / ${b.name}`).toBe(false);
          }
        }
        expect(plan.routes).toHaveLength(plan.edges.length);
        plan.edges.forEach((e, i) => {
          const r = plan.routes[i];
          expect([r.from, r.to, r.tensor]).toEqual([e.from, e.to, e.tensor]);
          expect(r.lanes).toBeGreaterThanOrEqual(1);
          const dst = byName.get(e.to)!;
          for (const l of lanes(r)) {
            expect(inside(dst, l[2]), `${e.from}→${e.to} ends in ${e.to}`).toBe(true);
            if (e.external) expect(l[0][0]).toBe(0);
            else expect(inside(byName.get(e.from)!, l[0]), `${e.from}→${e.to} starts in ${e.from}`).toBe(true);
          }
        });
        const slowest = Math.max(...plan.kernels.map((k) => k.cyclesPerSample));
        const link = busiestBytes(plan) / (machine.linkBitsPerCycle / 8);
        expect(plan.estimate.computeCycles).toBe(slowest);
        expect(plan.estimate.transmissionCycles).toBeCloseTo(link, 6);
        const interval = Math.max(slowest, link);
        expect(plan.estimate.intervalCycles).toBe(Math.max(plan.estimate.computeCycles, plan.estimate.transmissionCycles));
        expect(plan.estimate.steadyStateSamplesPerS).toBe(machine.clockHz / plan.estimate.intervalCycles);
        expect(plan.estimate.steadyStateSamplesPerS).toBeCloseTo(machine.clockHz / interval, 6);
        expect(plan.batchSize).toBe(batchSize);
        const fill = plan.estimate.fillCycles;
        expect(plan.estimate.samplesPerS).toBe((batchSize * machine.clockHz) / (fill + (batchSize - 1) * plan.estimate.intervalCycles));
        expect(plan.estimate.samplesPerS).toBeLessThanOrEqual(plan.estimate.steadyStateSamplesPerS * (1 + 1e-12));
      }),
      { numRuns: 40, seed: 20260101 },
    );
    expect(compiled).toBeGreaterThan(20);
  });
});
