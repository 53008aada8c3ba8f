/**
 * Multi-replica plans (compiler/replicas.ts, pipeline `replicas`): the all-reduce cost on a hand-built case,
 * legality of every replica, the choice never slower than one replica, the simulator's batch time, and the
 * bad requests.
 */
import { describe, expect, it } from 'vitest';
import { batchCycles } from '../../compiler/estimate.ts';
import type { Plan } from '../../compiler/ir.ts';
import { customMachine } from '../../compiler/machine.ts';
import { compileGraph } from '../../compiler/pipeline.ts';
import { checkPlacement } from '../../compiler/passes/place.ts';
import { allreduceCost, replicaRegions } from '../../compiler/replicas.ts';
import { timeBatch } from '../../wafer-sim/clock.ts';
import { validateParams } from '../../runtime/params.ts';
import { GraphBuilder, mnistGraph } from './helpers/graphs.ts';

/** A two-kernel chain: dense 64 → 32 → 10 with a loss. */
function chain() {
  const g = new GraphBuilder();
  const x = g.input('x', [64]);
  const labels = g.label();
  const h = g.dense(x, 32, 'relu');
  const logits = g.dense(h, 10);
  return g.build('train', logits, g.sparseCE(labels, logits));
}

/** Every replica's kernels, translated by its offset. */
function allKernels(plan: Plan) {
  const offs = plan.replicas?.offsets ?? [{ x: 0, y: 0 }];
  return offs.flatMap((o, i) => plan.kernels.map((k) => ({ ...k, name: `r${i}/${k.name}`, x: k.x + o.x, y: k.y + o.y })));
}

describe('multi-replica plans', () => {
  const small = customMachine({ name: 'small', fabric: { width: 64, height: 32 } });

  it('two replicas of a two-kernel chain: rate = B · clock / (fill + (B/2 − 1) · interval + all-reduce), all-reduce by hand', () => {
    const graph = chain();
    const B = 32;
    const plan = compileGraph(graph, small, { batchSize: B, replicas: { numReplicas: 2 } }).plan!;
    const r = plan.replicas!;
    expect(r.count).toBe(2);
    // 64 × 32 fabric: cut along x into two 32 × 32 regions.
    expect(r.axis).toBe('x');
    expect(r.region).toEqual({ width: 32, height: 32 });
    expect(r.offsets).toEqual([{ x: 0, y: 0 }, { x: 32, y: 0 }]);
    // By hand: gradient words of the two dense kernels (64·32 + 32 and 32·10 + 10), spread over the rows
    // each kernel spans; the busiest row carries L words each way; 32-bit links move 2 fp16 words a cycle.
    const [k1, k2] = plan.kernels.filter((k) => k.op !== 'sparseSoftmaxCrossEntropy' && k.layers.some((l) => l.startsWith('dense')));
    const words = new Map([[plan.nodeKernel['dense'], 64 * 32 + 32]]);
    words.set(plan.nodeKernel['dense_1'], (words.get(plan.nodeKernel['dense_1']) ?? 0) + 32 * 10 + 10);
    const rows = new Array(32).fill(0);
    for (const k of [k1, k2]) for (let y = k.y; y < k.y + k.height; y++) rows[y] += (words.get(k.name) ?? 0) / k.height;
    const L = Math.max(...rows);
    const ar = 2 * (L / 2) + 2 * (2 - 1) * 32 * small.hopLatencyCycles;
    expect(r.allreduceWords).toBe(64 * 32 + 32 + 32 * 10 + 10);
    expect(r.allreduceCycles).toBeCloseTo(ar, 9);
    // The rate: each replica runs B/2 samples, then the all-reduce.
    const e = plan.estimate;
    const expected = (B * small.clockHz) / (e.fillCycles + (B / 2 - 1) * e.intervalCycles + ar);
    expect(e.samplesPerS).toBeCloseTo(expected, 6);
    expect(batchCycles(e, B)).toBeCloseTo(e.fillCycles + 15 * e.intervalCycles + ar, 9);
    // The analytic clock times a batch exactly so; the flow engine adds its own delays to one replica's half.
    const analytic = timeBatch(plan, B, 'analytic', false);
    expect(analytic.batchCycles).toBeCloseTo(e.fillCycles + 15 * e.intervalCycles + ar, 6);
    const flow = timeBatch(plan, B, 'flow', false);
    expect(flow.replicas).toBe(2);
    expect(flow.batchCycles).toBeGreaterThanOrEqual(analytic.batchCycles * 0.98);
    // Legal: no overlap between any kernels of any replica, inside the fabric, memory within SRAM.
    expect(checkPlacement(allKernels(plan), small)).toEqual([]);
  });

  it('MNIST CNN with multireplica on WSE-2: legal, every K recorded, never slower than one replica', () => {
    const wse2 = customMachine({ name: 'wse2' });
    const plan = compileGraph(mnistGraph('train'), wse2, { batchSize: 64, replicas: { multireplica: true } }).plan!;
    const r = plan.replicas!;
    expect(r.tried[0].replicas).toBe(1);
    expect(r.tried.length).toBeGreaterThan(1);
    const one = r.tried[0].samplesPerS;
    expect(plan.estimate.samplesPerS).toBeGreaterThanOrEqual(one);
    expect(plan.estimate.samplesPerS).toBe(Math.max(...r.tried.map((t) => t.samplesPerS)));
    for (const t of r.tried) if (!t.error) expect(64 % t.replicas).toBe(0);
    expect(checkPlacement(allKernels(plan), wse2)).toEqual([]);
    for (const o of r.offsets) {
      expect(o.x + r.region.width).toBeLessThanOrEqual(wse2.fabric.width);
      expect(o.y + r.region.height).toBeLessThanOrEqual(wse2.fabric.height);
    }
  });

  it('outside TRAIN there is no all-reduce', () => {
    const graph = mnistGraph('eval');
    const plan = compileGraph(graph, customMachine(), { batchSize: 64, replicas: { numReplicas: 2 } }).plan!;
    expect(plan.replicas!.allreduceCycles).toBe(0);
    const { axis } = replicaRegions(customMachine(), 2);
    expect(allreduceCost(graph, plan, 2, axis, customMachine()).cycles).toBe(0);
  });

  it('bad requests: too many replicas (how many fit), a count not dividing the batch', () => {
    const tiny = customMachine({ name: 'tiny16', fabric: { width: 16, height: 16 } });
    expect(() => compileGraph(chain(), tiny, { batchSize: 32, replicas: { numReplicas: 16 } })).toThrow(/runconfig\.num_replicas: 16 replicas do not fit tiny16; at most \d+ fit/);
    expect(() => compileGraph(chain(), small, { batchSize: 30, replicas: { numReplicas: 4 } })).toThrow(/num_replicas \(4\) must divide the batch size \(30\)/);
    expect(() => validateParams({ runconfig: { num_replicas: 0 } }, 'p.yaml')).toThrow(/p\.yaml.*runconfig\.num_replicas/);
    expect(() => validateParams({ runconfig: { num_replicas: 1.5 } }, 'p.yaml')).toThrow(/p\.yaml.*runconfig\.num_replicas/);
    expect(() => validateParams({ runconfig: { multireplica: 'yes' } }, 'p.yaml')).toThrow(/p\.yaml.*runconfig\.multireplica/);
  });
});
