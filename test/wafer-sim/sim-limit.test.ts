/**
 * The analytic model is a limit of the simulator (docs/design.md §10): with unbounded buffers, whole-sample
 * transfers at zero cost (hop latency only) and free host I/O, the flow engine's batch time equals the
 * pass graph's exact limit (compiler/pass-graph.ts `passGraphLimit`) within 1e-9, on the plans of every
 * example (traced and compiled by the compiler's own API) and of the ISPD 2020 kgraphs. The limit itself is
 * checked against a brute-force max-plus recursion and against the compile estimate.
 */
import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { batchCycles } from '../../compiler/estimate.ts';
import type { Plan } from '../../compiler/ir.ts';
import { solveIspd } from '../../compiler/ispd/solve.ts';
import { parseKgraph } from '../../compiler/ispd/kgraph.ts';
import { loadMachine } from '../../compiler/machine.ts';
import { passGraph, passGraphLimit, type PassGraph } from '../../compiler/pass-graph.ts';
import { compileGraph } from '../../compiler/pipeline.ts';
import { buildPlan } from '../../compiler/passes/plan.ts';
import { route } from '../../compiler/passes/route.ts';
import { traceModelDir } from '../../host/model-dir.ts';
import { LIMIT_OPTIONS, simulate } from '../../wafer-sim/sim/index.ts';

const ROOT = path.resolve(__dirname, '../..');
const EXAMPLES = ['mnist', 'fc_mnist', 'mnist_elasticdl', 'alexnet_params', 'resnet50'];

/** T(j, s) = c_j + max(T(j, s−1), max over deps of T(i, s) + hops) for every pass and sample: the
 * definition the closed form of `passGraphLimit` is derived from. */
function bruteForce(g: PassGraph, B: number, hop: number): number {
  let prev = new Float64Array(g.passes.length);
  let last = 0;
  for (let s = 0; s < B; s++) {
    const cur = new Float64Array(g.passes.length);
    for (const j of g.order) {
      let t = prev[j];
      for (const d of g.deps) if (d.to === j) t = Math.max(t, (d.from === null ? 0 : cur[d.from]) + d.hops * hop);
      cur[j] = t + g.passes[j].cyclesPerSample;
      last = Math.max(last, cur[j]);
    }
    prev = cur;
  }
  return last;
}

function expectLimit(plan: Plan, B: number): void {
  const g = passGraph(plan);
  const limit = passGraphLimit(g, B, plan.machine.hopLatencyCycles);
  const r = simulate(plan, { batchSize: B, ...LIMIT_OPTIONS, trace: false });
  expect(Math.abs(r.batchCycles - limit.batchCycles) / limit.batchCycles, `${plan.machine.name} ${plan.mode} B=${B}`).toBeLessThan(1e-9);
  if (B === 1) expect(r.firstSampleLatencyCycles).toBeCloseTo(limit.fillCycles, 6);
}

describe('the flow engine in the limit reproduces the analytic limit', () => {
  const plans: Plan[] = [];
  beforeAll(async () => {
    const machine = loadMachine('wse2');
    for (const ex of EXAMPLES) {
      for (const mode of ['train', 'eval'] as const) {
        const t = await traceModelDir(path.join(ROOT, 'examples', ex), { mode });
        plans.push(compileGraph(t.graph, machine, { batchSize: t.firstBatchRows }).plan!);
      }
    }
  });

  it('on every example plan (TRAIN and EVAL), batch sizes 1, 7 and the plan\'s own', () => {
    expect(plans).toHaveLength(2 * EXAMPLES.length);
    for (const plan of plans) for (const B of [1, 7, plan.batchSize]) expectLimit(plan, B);
  });

  it('the limit is today\'s fill + (B − 1) · interval where the slowest kernel is on the critical path and no link binds; TRAIN counts no gradient back to the host', () => {
    for (const plan of plans) {
      const e = plan.estimate;
      const B = plan.batchSize;
      const limit = passGraphLimit(passGraph(plan), B, plan.machine.hopLatencyCycles).batchCycles;
      if (e.transmissionCycles > e.computeCycles) {
        // a link binds: the limit (no serialization) is faster than the estimate
        expect(limit).toBeLessThan(batchCycles(e, B));
        continue;
      }
      expect(e.criticalPath.some((k) => plan.kernels.find((q) => q.name === k)!.cyclesPerSample === e.computeCycles)).toBe(true);
      if (plan.mode !== 'train') {
        expect(limit).toBe(batchCycles(e, B));
        continue;
      }
      // the estimate doubles the forward fill, counting the input route's hops on the way back too; no
      // gradient returns to the host, so the pass graph's path is shorter by exactly those hops
      const first = e.criticalPath[0];
      const input = plan.routes.find((r) => r.external && r.to === first)!;
      expect(batchCycles(e, B) - limit).toBe(input.hops * plan.machine.hopLatencyCycles);
    }
  });

  it('on plans of the ISPD 2020 kgraphs (shared benchmarks and test fixtures)', () => {
    const dirs = [path.join(ROOT, '../shared/ispd2020'), path.join(ROOT, 'test/fixtures')];
    const files = dirs.flatMap((d) => (fs.existsSync(d) ? fs.readdirSync(d).filter((f) => f.endsWith('.kgraph')).map((f) => path.join(d, f)) : []));
    expect(files.length).toBeGreaterThanOrEqual(2);
    for (const file of files) {
      const sol = solveIspd(parseKgraph(fs.readFileSync(file, 'utf8'), file), { timeLimitS: 0.5 });
      const routed = route(sol.placed, sol.machine);
      const plan = buildPlan(routed, sol.machine, path.basename(file), 16);
      for (const B of [1, 16]) expectLimit(plan, B);
    }
  }, 300_000); // ~90 s alone on 2 cores; more when the machine is shared

  it('the closed form equals the max-plus recursion it is derived from', () => {
    for (const plan of plans.filter((p) => p.kernels.length < 20)) {
      const g = passGraph(plan);
      for (const B of [1, 2, 5]) expect(passGraphLimit(g, B, plan.machine.hopLatencyCycles).batchCycles).toBe(bruteForce(g, B, plan.machine.hopLatencyCycles));
    }
  });
});
