/**
 * `csrun simulate`: the timing simulation alone writes model_dir/sim/<mode>/ (utilization.json with the
 * comparison to the estimate, links.json, links.svg, trace.json) for models too large to train (ResNet-50),
 * at every sim_level, and `csrun report` reads it. Bad input through the real CLI (one line on stderr,
 * exit 1, no stack): an unknown sim_level (option and params key), the wavelet level on a large fabric, a
 * machine YAML without io_bytes_per_s, a corrupted plan.json (a route leaving the fabric, overlapping
 * kernels).
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { planContentHash } from '../../compiler/passes/plan.ts';
import { reportFor } from '../../host/commands/report.ts';
import { runSimulate } from '../../host/commands/simulate.ts';

const ROOT = path.resolve(__dirname, '../..');
const TINY = path.join(ROOT, 'test/fixtures/estimator-tiny');
const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'csrun-sim-'));

async function simulate(dir: string, opts: Parameters<typeof runSimulate>[1]): Promise<string> {
  let out = '';
  await runSimulate(dir, opts, (s) => (out += s));
  return out;
}

function csrun(...args: string[]) {
  const r = spawnSync(process.execPath, [path.join(ROOT, 'bin/csrun.js'), ...args], { encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function expectOneLineError(r: ReturnType<typeof csrun>, pattern: RegExp) {
  expect(r.code, r.stderr).toBe(1);
  const lines = r.stderr.trim().split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(/^csrun: error: /);
  expect(lines[0]).toMatch(pattern);
  expect(r.stderr).not.toMatch(/^\s+at /m);
}

describe('csrun simulate', () => {
  it('examples/resnet50 TRAIN on WSE-2 (too large to train on the host): every sim file, report per kernel', async () => {
    const md = tmp();
    const out = await simulate(path.join(ROOT, 'examples/resnet50'), { modelDir: md, batchSize: '8' });
    expect(out).toMatch(/^Simulated train on wse2 \(757×996 PEs\), sim_level flow, batch 8/);
    const dir = path.join(md, 'sim');
    const u = JSON.parse(fs.readFileSync(path.join(dir, 'utilization.json'), 'utf8'));
    expect(u.sim_level).toBe('flow');
    expect(u.batch_size).toBe(8);
    expect(u.samples_per_s).toBeCloseTo((8 * u.machine.clock_hz) / u.batch_cycles, 6);
    expect(u.first_sample_latency_cycles).toBeGreaterThan(0);
    expect(['kernel', 'link', 'ingress', 'egress', 'credits', 'stash']).toContain(u.bottleneck.kind);
    expect(u.kernels.length).toBeGreaterThan(50);
    for (const k of u.kernels) {
      expect(k.busy_cycles).toBeCloseTo(8 * k.cycles_per_sample * k.passes.length, 3);
      expect(k.busy_cycles + k.starved_cycles + k.blocked_cycles + k.fill_cycles + k.drain_cycles).toBeCloseTo(k.passes.length * u.batch_cycles, 3);
      expect(k.sram_high_water_bytes_per_pe).toBeGreaterThanOrEqual(k.memory_bytes_per_pe);
    }
    // estimate beside simulation: every difference above 2% has a cause
    expect(u.estimate.batch_size).toBe(8);
    if (Math.abs(u.estimate.batch_cycles.difference) > 0.02) expect(u.estimate.cause).toMatch(/^(fill|link|credits|stash|ingress|egress)/);
    for (const k of u.estimate.kernels) if (Math.abs(k.utilization.difference) > 0.02) expect(k.cause, k.name).toBeTruthy();
    const links = JSON.parse(fs.readFileSync(path.join(dir, 'links.json'), 'utf8')).links;
    expect(links.length).toBeGreaterThan(10);
    for (let i = 1; i < links.length; i++) expect(links[i].bytes).toBeLessThanOrEqual(links[i - 1].bytes);
    expect(fs.readFileSync(path.join(dir, 'links.svg'), 'utf8')).toMatch(/^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"[\s\S]*<line [\s\S]*<\/svg>\n$/);
    const trace = JSON.parse(fs.readFileSync(path.join(dir, 'trace.json'), 'utf8'));
    expect(trace.traceEvents.some((e: any) => e.ph === 'X' && e.cat === 'backward')).toBe(true);
    const text = reportFor(md, 'train');
    expect(text).toMatch(/sim_level flow/);
    expect(text).toMatch(/^conv2d\s/m);
    expect(text).toMatch(/^samples\/s \(B = 8\)/m);
  }, 240_000);

  it('sim_level analytic is the compile estimate; the wavelet level runs on the 64 × 64 tiny fabric', async () => {
    const md = tmp();
    await simulate(TINY, { modelDir: md, simLevel: 'analytic', machine: path.join(ROOT, 'configs/tiny.yaml') });
    const report = JSON.parse(fs.readFileSync(path.join(md, 'compile', 'train', 'compile_report.json'), 'utf8'));
    const a = JSON.parse(fs.readFileSync(path.join(md, 'sim', 'utilization.json'), 'utf8'));
    expect(a.sim_level).toBe('analytic');
    expect(a.samples_per_s / report.estimate.samples_per_s).toBeCloseTo(1, 12);
    expect(a.estimate.cause).toBeNull();
    await simulate(TINY, { modelDir: md, simLevel: 'wavelet', machine: path.join(ROOT, 'configs/tiny.yaml'), mode: 'eval' });
    const w = JSON.parse(fs.readFileSync(path.join(md, 'sim', 'eval', 'utilization.json'), 'utf8'));
    expect(w.sim_level).toBe('wavelet');
    expect(w.batch_cycles).toBeGreaterThan(0);
    expect(reportFor(md, 'eval')).toMatch(/sim_level wavelet/);
  }, 120_000);

  it('bad input: unknown sim_level (option and params), wavelet on WSE-2, machine without io_bytes_per_s', () => {
    expectOneLineError(csrun('simulate', TINY, '--model-dir', tmp(), '--sim-level', 'cycle'), /--sim-level 'cycle' is not one of analytic, flow, wavelet/);
    const params = path.join(tmp(), 'params.yaml');
    fs.writeFileSync(params, fs.readFileSync(path.join(TINY, 'configs/params.yaml'), 'utf8').replace('runconfig:\n', 'runconfig:\n  sim_level: cycles\n'));
    expectOneLineError(csrun('simulate', TINY, '--model-dir', tmp(), '--params', params), /params\.yaml: 'runconfig\.sim_level' is invalid: .*"flow".*\(got string "cycles"\)/);
    expectOneLineError(csrun('simulate', TINY, '--model-dir', tmp(), '--sim-level', 'wavelet'), /sim_level wavelet simulates fabrics of at most 64×64 PEs; machine 'wse2' has 757×996 \(use sim_level flow\)/);
    const yaml = path.join(tmp(), 'no-io.yaml');
    fs.writeFileSync(yaml, fs.readFileSync(path.join(ROOT, 'configs/tiny.yaml'), 'utf8').replace(/^io_bytes_per_s:.*$/m, ''));
    expectOneLineError(csrun('simulate', TINY, '--model-dir', tmp(), '--machine', yaml), /no-io\.yaml: machine description key io_bytes_per_s is missing/);
  }, 240_000);

  it('bad input: a corrupted plan.json (a route leaving the fabric, kernels overlapping) names the file', async () => {
    const md = tmp();
    await simulate(TINY, { modelDir: md });
    const planFile = path.join(md, 'compile', 'train', 'plan.json');
    const plan = JSON.parse(fs.readFileSync(planFile, 'utf8'));
    const write = (edit: (p: any) => void): string => {
      const p = structuredClone(plan);
      edit(p);
      p.hash = planContentHash(p);
      const f = path.join(tmp(), 'plan.json');
      fs.writeFileSync(f, JSON.stringify(p));
      return f;
    };
    const leaving = write((p) => {
      p.routes[0].firstTrack = -5;
    });
    expectOneLineError(csrun('simulate', TINY, '--model-dir', md, '--plan', leaving), new RegExp(`${leaving.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: corrupted route .* leaves the 757×996 fabric`));
    const overlapping = write((p) => {
      p.kernels[1].x = p.kernels[0].x;
      p.kernels[1].y = p.kernels[0].y;
    });
    expectOneLineError(csrun('simulate', TINY, '--model-dir', md, '--plan', overlapping), /plan\.json: corrupted kernels '.*' and '.*' overlap \(recompile with csrun compile\)/);
    const edited = path.join(tmp(), 'plan.json');
    fs.writeFileSync(edited, JSON.stringify({ ...plan, batchSize: 3 }));
    expectOneLineError(csrun('simulate', TINY, '--model-dir', md, '--plan', edited), /plan\.json: plan content does not match its hash/);
  }, 240_000);
});
