/// <reference lib="dom" />
/**
 * Training curves (uPlot, bundled into the page) and the simulated timeline of the report page.
 * Curves: one chart per tag of the event files, train and eval series of a tag in the same chart, against
 * global step. Timeline: the first traced events of `sim/trace.json`, one row per kernel, on a canvas, and
 * the steps to open the whole trace in Perfetto.
 */
import uPlot from 'uplot';
import type { ReportData } from '../data.ts';
import { el, num } from './util.ts';

/** Draws one chart per scalar tag into `parent`; returns the number of charts (0: a note instead). */
export function drawCurves(parent: HTMLElement, d: ReportData): number {
  const tags = [...new Set([...Object.keys(d.curves.train), ...Object.keys(d.curves.eval)])].sort((a, b) => rank(a) - rank(b) || (a < b ? -1 : 1));
  if (tags.length === 0) {
    el('p', 'note', 'No event files in the model_dir: train the model (csrun train) to see loss, learning rate and eval metrics here.', parent);
    return 0;
  }
  const grid = el('div', 'charts', undefined, parent);
  for (const tag of tags) {
    const box = el('div', 'chart', undefined, grid);
    box.dataset.tag = tag;
    el('h4', '', tag, box);
    const parts: [string, { steps: number[]; values: number[] }][] = [];
    if (d.curves.train[tag]) parts.push(['train', d.curves.train[tag]]);
    if (d.curves.eval[tag]) parts.push(['eval', d.curves.eval[tag]]);
    const data = uPlot.join(parts.map(([, s]) => [s.steps, s.values] as uPlot.AlignedData));
    const colours = { train: '#1f77b4', eval: '#d62728' };
    new uPlot(
      {
        width: 360,
        height: 200,
        scales: { x: { time: false } },
        axes: [{ label: 'step' }, { size: 64, values: (_u: uPlot, vs: number[]) => vs.map(compact) }],
        series: [{ label: 'step' }, ...parts.map(([name, s]) => ({ label: name, stroke: colours[name as 'train' | 'eval'], width: 1.5, spanGaps: true, points: { show: s.steps.length <= 30, size: 5 } }))],
      },
      data,
      box,
    );
  }
  return tags.length;
}

/** An axis tick: at most 4 significant digits, large values compact (1.2M). */
const compact = (v: number): string => (v === null ? '' : Math.abs(v) >= 1e4 ? v.toLocaleString('en-US', { notation: 'compact', maximumSignificantDigits: 3 }) : v.toLocaleString('en-US', { maximumSignificantDigits: 4 }));

/** Loss first, then learning rate, then the rest. */
const rank = (t: string): number => (t === 'loss' ? 0 : t === 'learning_rate' ? 1 : 2);

/** Draws the first traced batches per kernel and the Perfetto steps into `parent`. */
export function drawTimeline(parent: HTMLElement, d: ReportData): void {
  const t = d.trace;
  if (!t) {
    el('p', 'note', 'No simulated run in the model_dir (sim/trace.json): run the model (csrun train, eval or predict) to see its timeline.', parent);
    return;
  }
  const steps = el('ol', 'steps', undefined, parent);
  el('li', '', 'Open https://ui.perfetto.dev (or chrome://tracing) in a browser.', steps);
  el('li', '', 'Choose "Open trace file" and pick this file:', steps);
  el('code', 'path', t.file, steps.lastElementChild as HTMLElement);
  el('li', '', 'Each row (thread) is a kernel, a kernel pass or a transfer stream; each slice is simulated work on it (W/S zoom, A/D pan).', steps);
  if (t.events.length === 0) return;
  const tids = [...new Set(t.events.map((e) => e.tid))].sort((a, b) => a - b);
  const t0 = Math.min(...t.events.map((e) => e.ts));
  const t1 = Math.max(...t.events.map((e) => e.ts + e.dur));
  const row = tids.length > 60 ? 9 : 14;
  const label = 170;
  const width = 900;
  const c = el('canvas', 'timeline', undefined, parent);
  const dpr = window.devicePixelRatio || 1;
  c.style.width = `${width}px`;
  c.style.height = `${tids.length * row + 20}px`;
  c.width = width * dpr;
  c.height = (tids.length * row + 20) * dpr;
  const ctx = c.getContext('2d')!;
  ctx.scale(dpr, dpr);
  ctx.font = `${row > 10 ? 10 : 8}px system-ui, sans-serif`;
  ctx.textBaseline = 'middle';
  const x = (ts: number) => label + ((ts - t0) / Math.max(t1 - t0, 1e-9)) * (width - label - 10);
  tids.forEach((tid, i) => {
    ctx.fillStyle = '#333';
    ctx.fillText((t.threads[String(tid)] ?? String(tid)).slice(0, 30), 2, i * row + row / 2);
  });
  const names = [...new Set(t.events.map((e) => e.name))];
  for (const e of t.events) {
    const i = tids.indexOf(e.tid);
    ctx.fillStyle = `hsl(${(names.indexOf(e.name) * 47) % 360},60%,55%)`;
    ctx.fillRect(x(e.ts), i * row + 2, Math.max(1, x(e.ts + e.dur) - x(e.ts)), row - 4);
  }
  ctx.fillStyle = '#333';
  ctx.fillText(`0 µs`, label, tids.length * row + 10);
  const end = `${num(t1 - t0)} µs simulated (${t.events.length} events)`;
  ctx.fillText(end, width - 10 - ctx.measureText(end).width, tids.length * row + 10);
}
