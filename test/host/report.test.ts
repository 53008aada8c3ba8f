/**
 * `csrun report --html` without a browser: the page data of a compiled model_dir (kernels, routes, the
 * estimated link heat raster), the simulator's stall breakdown, bottleneck, links and causes when present,
 * the event-file reader behind the curves, escaping of the embedded data, and the bad paths.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { beforeAll, describe, expect, it } from 'vitest';
import { runCompile } from '../../host/commands/compile.ts';
import { collectReport } from '../../host/report/data.ts';
import { renderHtml, scriptJson } from '../../host/report/html.ts';
import { runHtmlReport } from '../../host/report/index.ts';
import { readScalarEvents, SummaryWriter } from '../../host/summaries.ts';
import { UserError } from '../../runtime/errors.ts';

const FIXTURE = path.resolve(import.meta.dirname, '../fixtures/estimator-tiny');
const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'csrun-report-'));
let md: string;
let rep: any;

beforeAll(async () => {
  md = tmp();
  await runCompile(FIXTURE, { modelDir: md }, () => {});
  rep = JSON.parse(fs.readFileSync(path.join(md, 'compile/train/compile_report.json'), 'utf8'));
});

/** A copy of the compiled model_dir with a sim/ directory holding `files`. */
function withSim(files: Record<string, unknown>): string {
  const d = tmp();
  fs.cpSync(md, d, { recursive: true });
  fs.mkdirSync(path.join(d, 'sim'), { recursive: true });
  for (const [f, v] of Object.entries(files)) fs.writeFileSync(path.join(d, 'sim', f), typeof v === 'string' ? v : JSON.stringify(v));
  return d;
}

describe('report page data', () => {
  it('of a compiled model_dir: every kernel placed as in the compile report, routes as L-shaped lanes, estimated link heat', () => {
    const d = collectReport(md, 'train');
    expect(d.kernels.map((k) => [k.name, k.x, k.y, k.width, k.height])).toEqual(rep.kernels.map((k: any) => [k.name, k.x, k.y, k.width, k.height]));
    expect(d.routes).toHaveLength(rep.routes.length);
    for (const r of d.routes) expect(r.points).toHaveLength(3);
    expect(d.sim).toBeNull();
    expect(d.trace).toBeNull();
    expect(d.kernels.every((k) => k.sim === null && k.cause === '')).toBe(true);
    const heat = d.heat!;
    expect(heat.source).toBe('estimated');
    const q = zlib.inflateSync(Buffer.from(heat.data, 'base64'));
    expect(q.length).toBe(heat.width * heat.height);
    expect(q.reduce((a, b) => Math.max(a, b), 0)).toBe(255);
    // The busiest link's PE carries the maximum.
    const b = rep.estimate.busiest_link;
    expect(q[b.y * heat.width + b.x]).toBe(255);
    expect(heat.max).toBeCloseTo(b.bytes_per_sample, 6);
  });

  it('reads the simulator breakdown: stall kind per kernel, SRAM high water, bottleneck, causes, link utilization', () => {
    const [k0, k1] = rep.kernels;
    const d = withSim({
      'utilization.json': {
        plan_hash: rep.plan_hash, batches: 2, samples: 64, simulated_seconds: 1e-4, samples_per_s: rep.estimate.samples_per_s * 0.8,
        bottleneck: { kind: 'link', name: '(3,2,E)' },
        errors: [{ kind: 'stash', kernel: k0.name, message: `kernel '${k0.name}': the TRAIN stash needs more SRAM` }],
        estimate: { cause: 'link (3,2,E)', kernels: [{ name: k0.name, cause: 'credits (blocked 70 cycles waiting for receive slots downstream)' }, { name: k1.name, cause: null }] },
        kernels: [
          { name: k0.name, cycles_per_sample: k0.cycles_per_sample, utilization: 0.2, sram_high_water_bytes_per_pe: 999, passes: [{ busyCycles: 10, starvedCycles: 5, blockedCycles: 70 }, { busyCycles: 10, starvedCycles: 0, blockedCycles: 0 }] },
          { name: k1.name, cycles_per_sample: k1.cycles_per_sample, utilization: 0.3, memory_bytes_per_pe: 12, busy_cycles: 30, starved_cycles: 60, blocked_cycles: 0 },
        ],
      },
      'links.json': { links: [{ x: 3, y: 2, dir: 'E', utilization: 0.5 }, { x: 4, y: 2, dir: 'N', utilization: 1 }] },
    });
    const r = collectReport(d, 'train');
    expect(r.kernels[0].sim).toMatchObject({ busy_cycles: 20, starved_cycles: 5, blocked_cycles: 70, stall: 'blocked', memory_bytes_per_pe: 999 });
    expect(r.kernels[0].cause).toMatch(/^credits \(blocked 70 cycles/);
    expect(r.kernels[1].sim).toMatchObject({ stall: 'starved', memory_bytes_per_pe: 12 });
    expect(r.kernels[1].cause).toBe('');
    expect(r.kernels[2].sim).toBeNull();
    expect(r.sim).toMatchObject({ samples_per_s: rep.estimate.samples_per_s * 0.8, bottleneck: 'link (3,2,E)', cause: 'link (3,2,E)' });
    expect(r.sim!.errors).toEqual([{ kind: 'stash', kernel: k0.name, message: `kernel '${k0.name}': the TRAIN stash needs more SRAM` }]);
    const q = zlib.inflateSync(Buffer.from(r.heat!.data, 'base64'));
    expect(r.heat!.source).toBe('simulated');
    expect([q[2 * r.heat!.width + 3], q[2 * r.heat!.width + 4], q[0]]).toEqual([128, 255, 0]);
    // Without the simulator's comparison: only whether the rates agree.
    const plain = withSim({ 'utilization.json': { plan_hash: rep.plan_hash, simulated_samples_per_s: rep.estimate.samples_per_s, kernels: [] } });
    expect(collectReport(plain, 'train').sim!.cause).toBe('agrees with the estimate (within 1%)');
  });

  it('bad paths: no compile report, another plan simulated, broken JSON, wrong number of dirs', async () => {
    const empty = tmp();
    fs.mkdirSync(path.join(empty, 'compile'));
    expect(() => collectReport(empty, 'train')).toThrow(UserError);
    expect(() => collectReport(empty, 'train')).toThrow(/compile\/train\/compile_report\.json not found: compile the model first/);
    expect(() => collectReport(md, 'eval')).toThrow(/csrun compile --mode eval/);
    expect(() => collectReport(withSim({ 'utilization.json': { plan_hash: 'f00', kernels: [] } }), 'train')).toThrow(/the simulated run used plan f00, the compile report is for plan/);
    expect(() => collectReport(withSim({ 'links.json': '{ not json' }), 'train')).toThrow(/links\.json: not valid JSON/);
    await expect(runHtmlReport([md], { mode: 'train', compare: true })).rejects.toThrow(/--compare takes two model dirs \(A B\), got 1/);
    await expect(runHtmlReport([md, md], { mode: 'train' })).rejects.toThrow(/takes one model dir, got 2/);
    await expect(runHtmlReport([tmp()], { mode: 'train' })).rejects.toThrow(UserError);
  });
});

describe('report page', () => {
  it('embeds the data as JSON that cannot close its script element, and writes model_dir/report/index.html', async () => {
    expect(scriptJson({ a: '</script><img src=x onerror=alert(1)>\u2028' })).toBe('{"a":"\\u003c/script>\\u003cimg src=x onerror=alert(1)>\\u2028"}');
    const d = collectReport(md, 'train');
    d.kernels[0].layers = ['</script><img src=x onerror=alert(1)>'];
    d.title = '<b>title</b>';
    const html = await renderHtml([d]);
    expect(html).not.toMatch(/<img|<b>|<\/script><img/);
    expect(html).toContain('<title>csrun report: &lt;b&gt;title&lt;/b&gt;</title>');
    expect(html).not.toMatch(/<(script|link)[^>]+src=|https?:\/\/(?!ui\.perfetto\.dev)[a-z]/);
    const file = await runHtmlReport([md], { mode: 'train' });
    expect(file).toBe(path.join(md, 'report', 'index.html'));
    expect(fs.readFileSync(file, 'utf8')).toMatch(/^<!doctype html>/);
  });
});

describe('csrun report --html (CLI)', () => {
  const csrun = (...args: string[]) => spawnSync(process.execPath, [path.join(import.meta.dirname, '../../bin/csrun.js'), ...args], { encoding: 'utf8', timeout: 60_000 });
  it('writes the page and says where; bad combinations end in one line and exit code 1', () => {
    const ok = csrun('report', md, '--html');
    expect(ok.status).toBe(0);
    expect(ok.stdout).toBe(`Wrote ${path.join(md, 'report', 'index.html')} (open it in a browser; it works offline)\n`);
    for (const [args, msg] of [
      [[md, '--compare'], /--compare needs --html/],
      [[md, '--html', '--compare'], /--compare takes two model dirs \(A B\), got 1/],
      [[md, md], /takes one model dir, got 2 \(two need --html --compare\)/],
      [[md, '--html', '--mode', 'eval'], /compile\/eval\/compile_report\.json not found/],
    ] as const) {
      const r = csrun('report', ...args);
      expect(r.status, args.join(' ')).toBe(1);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(msg);
    }
  });
});

describe('readScalarEvents', () => {
  it('reads every scalar of the event files by tag, sorted by step, later files winning a repeated step', () => {
    const dir = tmp();
    const a = new SummaryWriter(dir);
    a.scalars({ loss: 0.5, learning_rate: 0.01 }, 10);
    a.scalars({ loss: 0 }, 20);
    a.close();
    fs.renameSync(a.file, path.join(dir, 'events.out.tfevents.1.a'));
    const b = new SummaryWriter(dir);
    b.scalars({ loss: 0.25 }, 20);
    b.scalars({ loss: 0.125 }, 15);
    b.close();
    fs.renameSync(b.file, path.join(dir, 'events.out.tfevents.2.b'));
    expect(readScalarEvents(dir)).toEqual({ learning_rate: { steps: [10], values: [Math.fround(0.01)] }, loss: { steps: [10, 15, 20], values: [0.5, 0.125, 0.25] } });
    expect(readScalarEvents(path.join(dir, 'missing'))).toEqual({});
    const zero = tmp();
    const z = new SummaryWriter(zero);
    z.scalars({ loss: 0 }, 1);
    z.close();
    expect(readScalarEvents(zero)).toEqual({ loss: { steps: [1], values: [0] } });
    fs.appendFileSync(z.file, Buffer.from([1, 2, 3]));
    expect(() => readScalarEvents(zero)).toThrow(UserError);
  });
});
