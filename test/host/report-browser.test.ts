/**
 * `csrun report --html` in a real headless Chromium (test/helpers/browser.ts): the pages of a briefly
 * trained examples/mnist, a compiled examples/resnet50, a comparison, and a model with a hostile layer name.
 * Checks: no console errors and no network request; every kernel of compile_report.json drawn as its
 * rectangle (its colour at its place, and the hover tooltip naming it); table sort, filter and selection
 * highlighting the map; zoom about the cursor; training curves; the compare page; names stay text.
 * Screenshots go to test/.artifacts/ (gitignored).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCompile } from '../../host/commands/compile.ts';
import { loadMachine } from '../../compiler/machine.ts';
import { Estimator } from '../../host/estimator.ts';
import { loadModelDir } from '../../host/model-dir.ts';
import { runHtmlReport } from '../../host/report/index.ts';
import { ARTIFACTS, launchChromium, nextFrame, openReport, type WatchedPage } from '../helpers/browser.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const tmp = (tag: string) => fs.mkdtempSync(path.join(os.tmpdir(), `csrun-report-${tag}-`));
const quiet = () => {};
const kernelsOf = (md: string, mode = 'train') => JSON.parse(fs.readFileSync(path.join(md, 'compile', mode, 'compile_report.json'), 'utf8')).kernels as { name: string }[];

let browser: Browser;
const dirs: Record<string, string> = {};
const pages: Record<string, string> = {};

beforeAll(async () => {
  browser = await launchChromium();
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  // examples/mnist, trained 20 steps with an evaluation at each checkpoint (events for train and eval).
  dirs.mnist = tmp('mnist');
  const md = await loadModelDir(path.join(ROOT, 'examples/mnist'), { overrides: { runconfig: { model_dir: dirs.mnist, max_steps: 20, save_summary_steps: 5, save_checkpoints_steps: 10, compute_workers: 1 } } });
  const est = new Estimator(md, { machine: loadMachine('wse2'), log: quiet, progress: false });
  await est.train({ maxSteps: 20, onCheckpoint: async () => void (await est.evaluate({ steps: 2 })) });
  dirs.resnet = tmp('resnet');
  await runCompile(path.join(ROOT, 'examples/resnet50'), { modelDir: dirs.resnet }, quiet);
  dirs.mnist3 = tmp('mnist-wse3');
  await runCompile(path.join(ROOT, 'examples/mnist'), { modelDir: dirs.mnist3, machine: 'wse3' }, quiet);
  // A layer named like markup, in a model directory of its own ('csrun' resolves through node_modules).
  dirs.xssSrc = tmp('xss');
  fs.cpSync(path.join(ROOT, 'test/fixtures/estimator-tiny'), dirs.xssSrc, { recursive: true });
  const model = path.join(dirs.xssSrc, 'model.ts');
  fs.writeFileSync(model, fs.readFileSync(model, 'utf8').replace('layers.dense({ units: 4 })', "layers.dense({ units: 4, name: '<img src=x onerror=alert(1)>' })"));
  fs.mkdirSync(path.join(dirs.xssSrc, 'node_modules'));
  fs.symlinkSync(ROOT, path.join(dirs.xssSrc, 'node_modules', 'csrun'));
  dirs.xss = path.join(dirs.xssSrc, 'md');
  await runCompile(dirs.xssSrc, { modelDir: dirs.xss }, quiet);
  for (const k of ['mnist', 'resnet', 'xss']) pages[k] = await runHtmlReport([dirs[k]], { mode: 'train' });
  pages.compare = await runHtmlReport([dirs.mnist, dirs.mnist3], { mode: 'train', compare: true });
  pages.mnistEval = await runHtmlReport([dirs.mnist], { mode: 'eval', out: path.join(dirs.mnist, 'report-eval') });
}, 300_000);

afterAll(async () => {
  await browser?.close();
});

/** Pixel (r, g, b) of map `i`'s canvas at CSS point (x, y). */
function pixel(page: Page, i: number, x: number, y: number): Promise<number[]> {
  return page.evaluate(
    ([i, x, y]) => {
      const c = (window as any).csrunReport.maps[i].canvas as HTMLCanvasElement;
      const d = window.devicePixelRatio || 1;
      return [...c.getContext('2d')!.getImageData(Math.round(x * d), Math.round(y * d), 1, 1).data.slice(0, 3)];
    },
    [i, x, y],
  );
}
/** `rgb(r,g,b)` or `#rrggbb` as [r, g, b]. */
const rgb = (css: string) => (css.startsWith('#') ? [1, 3, 5].map((i) => parseInt(css.slice(i, i + 2), 16)) : css.match(/\d+/g)!.slice(0, 3).map(Number));
const close = (a: number[], b: number[], tol = 3) => a.every((v, i) => Math.abs(v - b[i]) <= tol);

/** Every kernel of the report is drawn at its rectangle in its colour, and hovering it names it. */
async function everyKernelDrawn(w: WatchedPage, names: string[], mapIndex = 0): Promise<void> {
  const { page } = w;
  const box = (await page.locator('canvas.wafer').nth(mapIndex).boundingBox())!;
  expect(await page.locator('canvas.wafer').nth(mapIndex).getAttribute('data-kernels')).toBe(String(names.length));
  for (const name of names) {
    const r = await page.evaluate(
      ([i, name]) => {
        const m = (window as any).csrunReport.maps[i];
        m.show(name);
        m.draw();
        return { rect: m.rects().find((q: any) => q.name === name), colour: m.colourOf(name) };
      },
      [mapIndex, name] as const,
    );
    const [x, y] = [r.rect.x + r.rect.w * 0.75, r.rect.y + r.rect.h * 0.75];
    expect(close(await pixel(page, mapIndex, x, y), rgb(r.colour)), `${name} drawn in ${r.colour}`).toBe(true);
    await page.mouse.move(box.x + x, box.y + y);
    await expect.poll(() => page.locator('.tooltip').nth(mapIndex).getAttribute('data-kernel')).toBe(name);
  }
  await page.evaluate((i) => (window as any).csrunReport.maps[i].fit(), mapIndex);
}

describe('csrun report --html in headless Chromium', () => {
  it('trained examples/mnist: loads offline without errors, draws every kernel, tooltip, curves', async () => {
    const w = await openReport(browser, pages.mnist);
    const names = kernelsOf(dirs.mnist).map((k) => k.name);
    await everyKernelDrawn(w, names);
    // Coloured by the simulator's stall kind: each kernel in the colour of its kind, and the kinds are known.
    await w.page.locator('select.colour-by').selectOption('stall');
    await everyKernelDrawn(w, names);
    const stalls = await w.page.evaluate(() => (window as any).csrunReport.maps[0].data.kernels.map((k: any) => k.sim.stall));
    for (const s of stalls) expect(['busy', 'starved', 'blocked']).toContain(s);
    await w.page.locator('select.colour-by').selectOption('utilization');
    expect(await w.page.locator('table.kernels tbody tr').count()).toBe(names.length);
    // Estimate vs simulation, per kernel and overall.
    expect(await w.page.locator('#overall').textContent()).toMatch(/simulated samples\/s.*\(1,280 samples in 20 batches\)/);
    // Training curves: loss (train and eval), learning rate, eval accuracy, each a uPlot chart.
    for (const tag of ['loss', 'learning_rate', 'accuracy']) expect(await w.page.locator(`.chart[data-tag="${tag}"] canvas`).count(), tag).toBe(1);
    expect(await w.page.locator('.chart[data-tag="loss"] .u-legend').textContent()).toMatch(/train.*eval/);
    expect(await w.page.locator('#timeline code.path').textContent()).toBe(path.join(dirs.mnist, 'sim', 'trace.json'));
    // The simulated link heat map (sim/links.json) lays over the map: the hottest PE changes colour.
    await w.page.locator('canvas.wafer[data-heat="ready"]').waitFor();
    const hot = await w.page.evaluate(() => {
      const m = (window as any).csrunReport.maps[0];
      const [x, y] = m.hottest;
      m.scale = 40;
      m.ox = 200 - (x + 0.5) * m.scale;
      m.oy = 200 - (y + 0.5) * m.scale;
      m.draw();
      return m.data.heat.source;
    });
    expect(hot).toBe('simulated');
    const off = await pixel(w.page, 0, 200, 200);
    await w.page.locator('input.layer-heat').check();
    await nextFrame(w.page);
    const on = await pixel(w.page, 0, 200, 200);
    // The top of the heat ramp is opaque yellow (255, 255, 0), unlike what lay beneath.
    expect(on[0] > 180 && on[1] > 180 && on[2] < 120, `hottest PE drawn at the top of the scale: ${on}`).toBe(true);
    expect(close(on, off, 40)).toBe(false);
    await w.page.locator('input.layer-heat').uncheck();
    await w.page.screenshot({ path: path.join(ARTIFACTS, 'report-mnist.png'), fullPage: true });
    expect(w.errors).toEqual([]);
    expect(w.requests).toEqual([]);
    await w.page.close();
  });

  it('kernel table: sort by a column both ways, filter, and a selected row highlights its kernel on the map', async () => {
    const w = await openReport(browser, pages.mnist);
    const { page } = w;
    const col = (i: number) => page.$$eval(`table.kernels tbody tr:not([hidden]) td:nth-child(${i + 1})`, (tds) => tds.map((t) => t.textContent!));
    const cpsCol = 5;
    const nums = async () => (await col(cpsCol)).map((s) => Number(s.replace(/,/g, '')));
    await page.locator('table.kernels th').nth(cpsCol).click();
    const up = await nums();
    expect(up).toEqual([...up].sort((a, b) => a - b));
    await page.locator('table.kernels th').nth(cpsCol).click();
    expect(await nums()).toEqual([...up].reverse());
    await page.locator('input.filter').fill('conv');
    const shown = await col(0);
    expect(shown.length).toBeGreaterThan(0);
    expect(shown.length).toBeLessThan(kernelsOf(dirs.mnist).length);
    expect(await page.$$eval('table.kernels tbody tr:not([hidden])', (trs) => trs.every((t) => t.textContent!.toLowerCase().includes('conv')))).toBe(true);
    await page.locator('input.filter').fill('');
    // Select the largest kernel; another kernel dims, the selected one gets the accent outline.
    const other = 'dense';
    const before = await page.evaluate((n) => (window as any).csrunReport.maps[0].rects().find((q: any) => q.name === n), other);
    const otherPx = await pixel(page, 0, before.x + before.w / 2, before.y + before.h * 0.75);
    await page.locator('table.kernels tbody tr[data-key="conv2d_1"]').click();
    await nextFrame(page);
    expect(await page.locator('canvas.wafer').getAttribute('data-selected')).toBe('conv2d_1');
    expect(await page.locator('table.kernels tbody tr.selected').getAttribute('data-key')).toBe('conv2d_1');
    const [sel, oth] = await page.evaluate(() => ['conv2d_1', 'dense'].map((n) => (window as any).csrunReport.maps[0].rects().find((q: any) => q.name === n)));
    expect(close(await pixel(page, 0, sel.x + 0.5, sel.y + sel.h / 2), [255, 45, 85], 40)).toBe(true);
    expect(close(await pixel(page, 0, oth.x + oth.w / 2, oth.y + oth.h * 0.75), otherPx)).toBe(false);
    expect(await page.locator('.side dd').first().textContent()).toBe('conv2d_1');
    // Clicking the map selects the row.
    await page.locator('canvas.wafer').scrollIntoViewIfNeeded();
    const box = (await page.locator('canvas.wafer').boundingBox())!;
    await page.mouse.click(box.x + oth.x + oth.w / 2, box.y + oth.y + oth.h / 2);
    expect(await page.locator('table.kernels tbody tr.selected').getAttribute('data-key')).toBe('dense');
    expect(w.errors).toEqual([]);
    await page.close();
  });

  it('compiled examples/resnet50: every kernel on the 757 × 996 fabric; the wheel zooms about the cursor', async () => {
    const w = await openReport(browser, pages.resnet);
    const names = kernelsOf(dirs.resnet).map((k) => k.name);
    expect(names.length).toBeGreaterThan(50);
    await everyKernelDrawn(w, names);
    const { page } = w;
    const box = (await page.locator('canvas.wafer').boundingBox())!;
    const at = { x: box.width * 0.3, y: box.height * 0.6 };
    const fabricAt = () => page.evaluate(([x, y]) => {
      const m = (window as any).csrunReport.maps[0];
      return [(x - m.ox) / m.scale, (y - m.oy) / m.scale, m.scale];
    }, [at.x, at.y]);
    const [fx, fy, s0] = await fabricAt();
    await page.mouse.move(box.x + at.x, box.y + at.y);
    await page.mouse.wheel(0, -400);
    await expect.poll(async () => (await fabricAt())[2]).toBeGreaterThan(s0 * 1.5);
    const [gx, gy] = await fabricAt();
    // The point under the cursor stays put (to a CSS pixel: mouse events have integer coordinates).
    expect(Math.abs(gx - fx)).toBeLessThan(1 / s0);
    expect(Math.abs(gy - fy)).toBeLessThan(1 / s0);
    await page.locator('input.layer-routes').check();
    await page.locator('input.layer-heat').check();
    await page.locator('select.colour-by').selectOption('memory');
    await page.evaluate(() => (window as any).csrunReport.maps[0].fit());
    await nextFrame(page);
    await page.screenshot({ path: path.join(ARTIFACTS, 'report-resnet50.png') });
    expect(w.errors).toEqual([]);
    expect(w.requests).toEqual([]);
    await page.close();
  });

  it('--mode eval: the eval plan and its simulated run', async () => {
    const w = await openReport(browser, pages.mnistEval);
    await everyKernelDrawn(w, kernelsOf(dirs.mnist, 'eval').map((k) => k.name));
    expect(await w.page.locator('header .sub').textContent()).toMatch(/mode eval$/);
    expect(await w.page.locator('#overall').textContent()).toMatch(/simulated samples\/s[\d.e+]+ \(/);
    expect(await w.page.locator('#timeline code.path').textContent()).toBe(path.join(dirs.mnist, 'sim', 'eval', 'trace.json'));
    expect(w.errors).toEqual([]);
    await w.page.close();
  });

  it('--compare: two maps, a delta row per kernel, and selecting a row highlights it on both maps', async () => {
    const w = await openReport(browser, pages.compare);
    const { page } = w;
    expect(await page.locator('canvas.wafer').count()).toBe(2);
    const a = kernelsOf(dirs.mnist).map((k) => k.name);
    const b = kernelsOf(dirs.mnist3).map((k) => k.name);
    expect(await page.locator('table.kernels tbody tr').count()).toBe(new Set([...a, ...b]).size);
    await everyKernelDrawn(w, b, 1);
    await page.locator('table.kernels tbody tr[data-key="conv2d"]').click();
    await nextFrame(page);
    for (let i = 0; i < 2; i++) expect(await page.locator('canvas.wafer').nth(i).getAttribute('data-selected')).toBe('conv2d');
    expect(await page.locator('h1').textContent()).toMatch(/ vs /);
    expect(await page.locator('#overall').textContent()).toMatch(/wse3/);
    await page.screenshot({ path: path.join(ARTIFACTS, 'report-compare.png') });
    expect(w.errors).toEqual([]);
    await page.close();
  });

  it('a layer named <img src=x onerror=alert(1)> renders as text: no script runs, no element is injected', async () => {
    const html = fs.readFileSync(pages.xss, 'utf8');
    expect(html).not.toContain('<img');
    const w = await openReport(browser, pages.xss);
    const { page } = w;
    expect(await page.locator('img').count()).toBe(0);
    expect(await page.locator('table.kernels td', { hasText: '<img src=x onerror=alert(1)>' }).count()).toBeGreaterThan(0);
    await everyKernelDrawn(w, kernelsOf(dirs.xss).map((k) => k.name));
    expect(await page.locator('.tooltip img').count()).toBe(0);
    expect(w.dialogs).toEqual([]);
    expect(w.errors).toEqual([]);
    await page.close();
  });
});
