import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { customMachine, loadMachine } from '../../compiler/machine.ts';
import { compileGraph, compileToDir, COMPILE_FILES } from '../../compiler/pipeline.ts';
import { planContentHash, readPlan } from '../../compiler/passes/plan.ts';
import { placementSvg, reportJson, reportText, utilizationColour } from '../../compiler/report.ts';
import { mnistGraph, resnetBlockGraph } from './helpers/graphs.ts';

/** Minimal XML well-formedness check: tags balance and attributes are quoted. */
function wellFormed(xml: string): boolean {
  const stack: string[] = [];
  const body = xml.replace(/<\?xml[^>]*\?>/, '');
  for (const m of body.matchAll(/<(\/?)([a-zA-Z][\w:-]*)((?:\s+[\w:-]+="[^"<]*")*)\s*(\/?)>/g)) {
    const [, close, name, , self] = m;
    if (self) continue;
    if (close) {
      if (stack.pop() !== name) return false;
    } else stack.push(name);
  }
  // every '<' must have started a recognised tag
  const tags = [...body.matchAll(/<(\/?)([a-zA-Z][\w:-]*)((?:\s+[\w:-]+="[^"<]*")*)\s*(\/?)>/g)].length;
  return stack.length === 0 && tags === (body.match(/</g) ?? []).length;
}

describe('reports', () => {
  const plan = compileGraph(resnetBlockGraph('train'), loadMachine('wse2'), { batchSize: 32 }).plan!;

  it('compile_report.json carries every docs/design.md §5 field', () => {
    const j = reportJson(plan) as any;
    expect(j.machine).toEqual(expect.objectContaining({ name: 'wse2', fabric: [757, 996], sram_bytes_per_pe: 49152, clock_hz: 850e6 }));
    expect(j.mode).toBe('train');
    for (const key of ['samples_per_s', 'compute_samples_per_s', 'transmission_samples_per_s', 'active_pe_fraction', 'compute_utilization']) {
      expect(typeof j.estimate[key], key).toBe('number');
    }
    expect(j.estimate.steady_state_samples_per_s).toBe(Math.min(j.estimate.compute_samples_per_s, j.estimate.transmission_samples_per_s));
    expect(j.estimate.batch_size).toBe(32);
    expect(j.estimate.samples_per_s).toBe((32 * j.machine.clock_hz) / (j.estimate.fill_cycles + 31 * j.estimate.interval_cycles));
    expect(j.estimate.samples_per_s).toBeLessThan(j.estimate.steady_state_samples_per_s);
    expect(j.kernels).toHaveLength(plan.kernels.length);
    for (const k of j.kernels) {
      for (const key of ['name', 'op', 'layers', 'x', 'y', 'width', 'height', 'exec_params', 'cycles_per_sample', 'memory_bytes_per_pe']) expect(k, key).toHaveProperty(key);
      expect(k.memory_bytes_per_pe).toBe(k.memory_words_per_pe * 2);
    }
    expect(j.routes).toHaveLength(plan.routes.length);
    for (const r of j.routes) for (const key of ['from', 'to', 'bytes_per_sample', 'hops']) expect(r, key).toHaveProperty(key);
    expect(JSON.parse(JSON.stringify(j))).toEqual(j); // no Infinity/NaN
  });

  it('compile_report.txt opens with Cerebras\' "Estimated Overall Performance" block, in its labels and units', () => {
    const lines = reportText(plan).split('\n');
    const at = lines.indexOf('Estimated Overall Performance');
    expect(at).toBe(3); // after the machine and plan lines and a blank line
    const block = lines.slice(at + 1, at + 6).map((l) => /^ ([A-Za-z/ ]+):\s+(\S+)$/.exec(l)!.slice(1));
    expect(block.map(([k]) => k)).toEqual(['Samples/s', 'Compute Samples/s', 'Transmission Samples/s', 'Active PEs', 'Compute Utilization']);
    const e = plan.estimate;
    expect(Number(block[0][1])).toBeCloseTo(e.samplesPerS, 1);
    expect(Number(block[1][1])).toBeCloseTo(e.computeSamplesPerS, 1);
    expect(Number(block[2][1])).toBeCloseTo(e.transmissionSamplesPerS, 1);
    expect(block[3][1]).toBe(`${Math.round(100 * e.activePeFraction)}%`);
    expect(block[4][1]).toBe(`${Math.round(100 * e.computeUtilization)}%`);
    // The overall rate is the lower of compute and transmission less the pipeline fill.
    expect(e.samplesPerS).toBeLessThanOrEqual(Math.min(e.computeSamplesPerS, e.transmissionSamplesPerS));
  });

  it('compile_report.txt has the Cerebras-style summary then one row per kernel', () => {
    const t = reportText(plan);
    for (const s of ['Estimated samples/s', 'Steady-state samples/s', 'Compute samples/s', 'Transmission samples/s', 'Active PEs', 'Compute utilization', 'Batch size', 'Pipeline fill']) expect(t).toContain(s);
    const rate = (label: string) => Number(new RegExp(`^  ${label}\\s+([\\d,.]+)`, 'm').exec(t)![1].replace(/,/g, ''));
    expect(rate('Estimated samples/s')).toBeCloseTo(plan.estimate.samplesPerS, 0);
    expect(rate('Steady-state samples/s')).toBeCloseTo(plan.estimate.steadyStateSamplesPerS, 0);
    expect(t).toMatch(/at batch size 32, pipeline fill included/);
    const slowest = plan.kernels.find((k) => k.cyclesPerSample === plan.estimate.computeCycles)!;
    expect(t).toContain(`slowest kernel ${slowest.name}: `);
    for (const k of plan.kernels) expect(t).toMatch(new RegExp(`^${k.name}\\s+${k.op.replace(/\+/g, '\\+')}\\s`, 'm'));
  });

  it('placement.svg is well-formed, to scale, with one labelled rectangle per kernel and escaped text', () => {
    const svg = placementSvg(plan);
    expect(wellFormed(svg)).toBe(true);
    expect((svg.match(/<rect [^>]*stroke="#222"/g) ?? []).length).toBe(plan.kernels.length);
    expect((svg.match(/<polyline /g) ?? []).length).toBe(plan.routes.length);
    const weird = { ...plan, kernels: plan.kernels.map((k, i) => (i === 0 ? { ...k, name: 'a<b>&"c\'', layers: ['x&y'] } : k)) };
    const s2 = placementSvg(weird);
    expect(wellFormed(s2)).toBe(true);
    expect(s2).toContain('a&lt;b&gt;&amp;&quot;c&apos;');
    expect(s2).not.toContain('a<b>');
    expect(utilizationColour(0)).not.toBe(utilizationColour(1));
  });
});

describe('compile driver', () => {
  it('writes the plan and reports, reuses an unchanged plan, recompiles a changed graph or machine', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'csrun-compile-'));
    const m = customMachine({ fabric: { width: 120, height: 100 } });
    const g = mnistGraph('train');
    const first = compileToDir(g, m, dir, { batchSize: 64 });
    expect(first.cached).toBe(false);
    for (const f of Object.values(COMPILE_FILES)) expect(fs.existsSync(path.join(dir, f)), f).toBe(true);
    const again = compileToDir(mnistGraph('train'), m, dir, { batchSize: 64 });
    expect(again.cached).toBe(true);
    expect(again.plan.hash).toBe(first.plan.hash);
    fs.rmSync(path.join(dir, COMPILE_FILES.svg));
    expect(compileToDir(g, m, dir, { batchSize: 64 }).cached).toBe(true);
    expect(fs.existsSync(path.join(dir, COMPILE_FILES.svg))).toBe(true);
    const g2 = mnistGraph('train');
    (g2.nodes[0].attrs as { filters: number }).filters = 16;
    g2.nodes[0].outputs[0].shape = [null, 26, 26, 16];
    expect(compileToDir(g2, m, dir, { batchSize: 64 }).cached).toBe(false);
    expect(compileToDir(g2, customMachine({ fabric: { width: 121, height: 100 } }), dir, { batchSize: 64 }).cached).toBe(false);
    // another batch size is another plan (its estimate differs); the same one is reused
    const b32 = compileToDir(g2, customMachine({ fabric: { width: 121, height: 100 } }), dir, { batchSize: 32 });
    expect(b32.cached).toBe(false);
    expect(b32.plan.batchSize).toBe(32);
    expect(compileToDir(g2, customMachine({ fabric: { width: 121, height: 100 } }), dir, { batchSize: 32 }).cached).toBe(true);
    expect(() => compileToDir(g2, m, dir, { batchSize: 0 })).toThrow(RangeError);
    // a tampered plan fails its hash and is not reused
    const file = path.join(dir, COMPILE_FILES.plan);
    const p = JSON.parse(fs.readFileSync(file, 'utf8'));
    p.kernels[0].x += 1;
    fs.writeFileSync(file, JSON.stringify(p));
    expect(() => readPlan(file)).toThrow(/does not match its hash/);
    expect(compileToDir(g2, customMachine({ fabric: { width: 121, height: 100 } }), dir, { batchSize: 32 }).cached).toBe(false);
    expect(planContentHash(readPlan(file))).toBe(readPlan(file).hash);
  });

  it('dumps every IR between passes', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'csrun-ir-'));
    compileGraph(mnistGraph('eval'), customMachine({ fabric: { width: 120, height: 100 } }), { batchSize: 16, dumpIrDir: dir });
    expect(fs.readdirSync(dir).sort()).toEqual(['01-graph.json', '02-kernel-graph.json', '03-sized.json', '04-placed.json', '05-routed.json', '06-plan.json']);
    const placed = JSON.parse(fs.readFileSync(path.join(dir, '04-placed.json'), 'utf8'));
    expect(placed.kernels[0]).toHaveProperty('x');
  });
});
