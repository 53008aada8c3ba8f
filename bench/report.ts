/**
 * HTML report benchmark (not a test): `csrun report --html` on examples/resnet50 compiled for WSE-2 and
 * simulated (`csrun simulate`: utilization, links and trace, as a trained run has them), in a temporary
 * model_dir. Measures page generation (data + bundle + write; the first call bundles the page
 * script with esbuild, later ones reuse it), page size, and in headless Chromium (Debian's chromium via
 * playwright-core) first contentful paint and the first frame of the wafer map, against the budget of
 * issue 16 (≤ 5 MB, ≤ 2 s) and against the peer: the same model's static `placement.svg` opened in the same
 * browser (its load event). Also the time of one full map redraw with routes and the link heat map on.
 *
 *   npx tsx bench/report.ts [--runs 5]
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { runCompile } from '../host/commands/compile.ts';
import { runSimulate } from '../host/commands/simulate.ts';
import { collectReport } from '../host/report/data.ts';
import { writeHtmlReport } from '../host/report/html.ts';
import { launchChromium } from '../test/helpers/browser.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({ options: { runs: { type: 'string', default: '5' } } });
const runs = Number(values.runs);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const md = fs.mkdtempSync(path.join(os.tmpdir(), 'csrun-bench-report-'));
await runCompile(path.join(root, 'examples/resnet50'), { modelDir: md }, () => {});
await runSimulate(path.join(root, 'examples/resnet50'), { modelDir: md }, () => {});
const gen: number[] = [];
let file = '';
for (let i = 0; i < runs + 1; i++) {
  const t0 = performance.now();
  file = await writeHtmlReport(path.join(md, 'report'), [collectReport(md, 'train')]);
  gen.push(performance.now() - t0);
}
const bytes = fs.statSync(file).size;

const browser = await launchChromium();
const load: { fcp: number; map: number }[] = [];
const svg: number[] = [];
let redraw = 0;
for (let i = 0; i < runs; i++) {
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  await page.goto(`file://${file}`);
  await page.waitForSelector('canvas.wafer[data-first-frame-ms]');
  load.push(
    await page.evaluate(() => ({
      fcp: performance.getEntriesByName('first-contentful-paint')[0]?.startTime ?? NaN,
      map: Number(document.querySelector<HTMLCanvasElement>('canvas.wafer')!.dataset.firstFrameMs),
    })),
  );
  if (i === 0) {
    redraw = await page.evaluate(() => {
      const m = (window as any).csrunReport.maps[0];
      m.layers = { routes: true, heat: true };
      const t0 = performance.now();
      for (let k = 0; k < 20; k++) m.draw();
      return (performance.now() - t0) / 20;
    });
  }
  await page.close();
  const p2 = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  await p2.goto(`file://${path.join(md, 'compile/train/placement.svg')}`, { waitUntil: 'load' });
  svg.push(await p2.evaluate(() => (performance.getEntriesByType('navigation')[0] as PerformanceNavigationTiming).loadEventEnd));
  await p2.close();
}
await browser.close();
const mapMs = median(load.map((l) => l.map));
console.log(`csrun report --html, examples/resnet50 on wse2 compiled and simulated (${collectReport(md, 'train').kernels.length} kernels), median of ${runs}:`);
console.log(`  generation       first ${gen[0].toFixed(0)} ms (bundles the page script), then ${median(gen.slice(1)).toFixed(0)} ms`);
console.log(`  page size        ${(bytes / 1e6).toFixed(2)} MB (budget 5 MB)`);
console.log(`  first paint      ${median(load.map((l) => l.fcp)).toFixed(0)} ms`);
console.log(`  map drawn        ${mapMs.toFixed(0)} ms after navigation (budget 2000 ms)`);
console.log(`  map redraw       ${redraw.toFixed(1)} ms with routes and heat map`);
console.log(`  peer: placement.svg load ${median(svg).toFixed(0)} ms; map drawn / svg loaded = ${(mapMs / median(svg)).toFixed(2)}`);
fs.rmSync(md, { recursive: true, force: true });
