/// <reference lib="dom" />
/**
 * Entry of the report page's script (bundled by host/report/html.ts). Reads the embedded JSON
 * (`<script id="report-data" type="application/json">`, one {@link ReportData} or two for a comparison) and
 * builds the page: overall estimate vs simulation, wafer map(s), kernel (or delta) table, training curves and
 * timeline. `window.csrunReport` exposes the maps and tables (the browser tests read it).
 */
import type { ReportData, ReportKernel } from '../data.ts';
import { drawCurves, drawTimeline } from './charts.ts';
import { WaferMap } from './map.ts';
import { type Column, KernelTable } from './table.ts';
import { type ColourBy, delta, detailsList, el, heatRgba, kernelDetails, kernelMem, kernelUtil, num, pct, STALL_COLOURS, viridis } from './util.ts';

interface Page {
  compare: boolean;
  reports: ReportData[];
}

const page: Page = JSON.parse(document.getElementById('report-data')!.textContent!);
const root = document.getElementById('app')!;
const maps: WaferMap[] = [];
const tables: KernelTable<any>[] = [];

function section(title: string, id: string): HTMLElement {
  const s = el('section', '', undefined, root);
  s.id = id;
  el('h2', '', title, s);
  return s;
}

/** Overall figures: estimated vs simulated samples/s, bottlenecks and the cause of the difference. */
function overall(parent: HTMLElement, d: ReportData): void {
  const e = d.estimate;
  const rows: [string, string][] = [
    ['machine', `${d.machine.name}, ${d.machine.fabric.join(' × ')} PEs, ${num(d.machine.clock_hz / 1e6)} MHz`],
    ['mode / batch', `${d.mode}, batches of ${e.batch_size}`],
    ['kernels / routes', `${d.kernels.length} / ${d.routes.length}`],
    ['estimated samples/s', `${num(e.samples_per_s)} (steady state ${num(e.steady_state_samples_per_s as number)}), bottleneck ${e.bottleneck}`],
    ['simulated samples/s', d.sim ? `${num(d.sim.samples_per_s)} (${num(d.sim.samples)} samples in ${num(d.sim.batches)} batches), bottleneck ${d.sim.bottleneck ?? '–'}` : 'not simulated'],
    ['simulated / estimated', d.sim ? `${delta(e.samples_per_s, d.sim.samples_per_s)}: ${d.sim.cause}` : '–'],
    ['active PEs', pct(e.active_pe_fraction as number)],
  ];
  for (const e of d.sim?.errors ?? []) rows.push([`plan error (${e.kind})`, e.message]);
  const p = d.performance as Record<string, number> | null;
  if (p) rows.push(['host samples/s', `${num(p.host_samples_per_s)} (input wait ${pct(p.input_wait_fraction)})`]);
  detailsList(parent, rows);
}

/** Map controls (colouring, layers, fit) applying to every map in `ms`, and the legend. */
function controls(parent: HTMLElement, ms: WaferMap[]): void {
  const bar = el('div', 'controls', undefined, parent);
  el('label', '', 'colour by ', bar);
  const sel = el('select', 'colour-by', undefined, bar);
  for (const [v, t] of [['utilization', 'utilization'], ['memory', 'memory per PE'], ['stall', 'stall kind'], ['op', 'op']]) el('option', '', t, sel).value = v;
  const legend = el('span', 'legend', undefined, bar);
  const setLegend = () => {
    legend.replaceChildren();
    const by = sel.value as ColourBy;
    if (by === 'stall') for (const [k, c] of Object.entries(STALL_COLOURS)) el('span', 'swatch', k, legend).style.setProperty('--c', c);
    else if (by !== 'op') {
      const simulated = ms[0].data.sim !== null;
      el('span', 'note', by === 'memory' ? `${simulated ? 'SRAM high water' : 'plan memory'}: 0 B` : `${simulated ? 'simulated' : 'estimated steady-state'}: 0%`, legend);
      const g = el('span', 'gradient', undefined, legend);
      g.style.background = `linear-gradient(to right, ${[0, 0.25, 0.5, 0.75, 1].map(viridis).join(',')})`;
      el('span', '', by === 'memory' ? `${num(ms[0].data.machine.sram_bytes_per_pe)} B (SRAM)` : '100%', legend);
    }
  };
  sel.addEventListener('change', () => {
    for (const m of ms) {
      m.colourBy = sel.value as ColourBy;
      m.redraw();
    }
    setLegend();
  });
  setLegend();
  for (const [key, text] of [['routes', 'routes'], ['heat', 'link heat map']] as const) {
    const lab = el('label', 'toggle', undefined, bar);
    const cb = el('input', `layer-${key}`, undefined, lab);
    cb.type = 'checkbox';
    lab.append(` ${text}`);
    cb.addEventListener('change', () => {
      for (const m of ms) {
        m.layers[key] = cb.checked;
        m.redraw();
      }
    });
  }
  const heat = ms[0].data.heat;
  if (heat) {
    const h = el('span', 'legend', undefined, bar);
    el('span', 'note', `heat (${heat.source} ${heat.unit}): 0`, h);
    el('span', 'gradient', undefined, h).style.background = `linear-gradient(to right, ${[0.01, 0.5, 1].map((t) => `rgba(${heatRgba(t).slice(0, 3).join(',')},${heatRgba(t)[3] / 255})`).join(',')})`;
    el('span', 'note', num(heat.max), h);
  } else el('span', 'note', 'no link loads', bar);
  el('button', 'fit', 'fit', bar).addEventListener('click', () => ms.forEach((m) => m.fit()));
}

/** b − a in percentage points ('–' when b is missing). */
const points = (a: number, b: number | null | undefined): string => (b === null || b === undefined ? '–' : `${b >= a ? '+' : ''}${(100 * (b - a)).toFixed(1)} pp`);

const KERNEL_COLUMNS: Column<ReportKernel>[] = [
  { label: 'kernel', text: (k) => k.name },
  { label: 'op', text: (k) => k.op },
  { label: 'layers', text: (k) => k.layers.join(', ') },
  { label: 'exec params', text: (k) => Object.entries(k.exec_params).map(([a, b]) => `${a}=${b}`).join(' ') },
  { label: 'PEs', text: (k) => `${k.width}×${k.height}`, sort: (k) => k.width * k.height, right: true },
  { label: 'cycles/sample est.', text: (k) => num(k.est.cycles_per_sample), sort: (k) => k.est.cycles_per_sample, right: true },
  { label: 'util. est.', text: (k) => pct(k.est.utilization), sort: (k) => k.est.utilization, right: true, title: 'over a batch, pipeline fill included' },
  { label: 'sim.', text: (k) => pct(k.sim?.utilization), sort: (k) => k.sim?.utilization ?? null, right: true },
  { label: 'Δ util.', text: (k) => points(k.est.utilization, k.sim?.utilization), sort: (k) => (k.sim?.utilization ?? NaN) - k.est.utilization, right: true, title: 'simulated − estimated utilization, percentage points' },
  { label: 'mem B/PE est.', text: (k) => num(k.est.memory_bytes_per_pe), sort: (k) => k.est.memory_bytes_per_pe, right: true },
  { label: 'sim.', text: (k) => num(k.sim?.memory_bytes_per_pe), sort: (k) => k.sim?.memory_bytes_per_pe ?? null, right: true, title: 'SRAM high water (weights, queued inputs, TRAIN stash) when the simulator tracks it' },
  { label: 'stall', text: (k) => k.sim?.stall ?? '–' },
  { label: 'cause', text: (k) => k.cause },
];

function single(d: ReportData): void {
  const head = el('header', '', undefined, root);
  el('h1', '', `csrun report: ${d.title}`, head);
  el('p', 'sub', `${d.modelDir} · mode ${d.mode}`, head);
  overall(section('Estimate vs simulation', 'overall'), d);
  const ms = section('Wafer map', 'map');
  const layout = el('div', 'map-layout', undefined, ms);
  const box = el('div', 'map-box', undefined, layout);
  const details = el('div', 'side', undefined, layout);
  el('p', 'note', 'Click a kernel (on the map or in the table) for its details; double-click a row to zoom to it. Wheel: zoom, drag: pan, double-click the map: fit.', details);
  const map = new WaferMap(d, box);
  maps.push(map);
  controls(ms, [map]);
  ms.insertBefore(ms.lastElementChild!, layout);
  const table = new KernelTable(section('Kernels', 'kernels'), d.kernels, (k) => k.name, KERNEL_COLUMNS);
  tables.push(table);
  const show = (name: string | null) => {
    const k = d.kernels.find((q) => q.name === name);
    if (k) detailsList(details, kernelDetails(k));
    else details.replaceChildren();
  };
  map.onSelect((name) => {
    table.select(name, true);
    show(name);
  });
  table.onSelect((name) => {
    map.select(name, true);
    show(name);
  });
  table.onZoom((name) => map.show(name));
  const curves = section('Training curves', 'curves');
  const timeline = section('Timeline', 'timeline');
  later.push(() => drawCurves(curves, d), () => drawTimeline(timeline, d));
}

interface DeltaRow {
  name: string;
  a?: ReportKernel;
  b?: ReportKernel;
}

function compare([a, b]: ReportData[]): void {
  const head = el('header', '', undefined, root);
  el('h1', '', `csrun report: ${a.title} vs ${b.title}`, head);
  el('p', 'sub', `A: ${a.modelDir} (${a.machine.name}, ${a.mode}) · B: ${b.modelDir} (${b.machine.name}, ${b.mode})`, head);
  const ov = el('div', 'side-by-side', undefined, section('Overall', 'overall'));
  for (const [tag, d] of [['A', a], ['B', b]] as const) {
    const col = el('div', '', undefined, ov);
    el('h3', '', `${tag}: ${d.title}`, col);
    overall(el('div', '', undefined, col), d);
  }
  el('p', 'delta-rate', `estimated samples/s B vs A: ${delta(a.estimate.samples_per_s, b.estimate.samples_per_s)}; simulated: ${delta(a.sim?.samples_per_s, b.sim?.samples_per_s)}`, ov.parentElement!);
  const ms = section('Wafer maps', 'map');
  const pair = el('div', 'side-by-side', undefined, ms);
  const both = [a, b].map((d, i) => {
    const col = el('div', '', undefined, pair);
    el('h3', '', `${i === 0 ? 'A' : 'B'}: ${d.machine.name} ${d.machine.fabric.join('×')}`, col);
    return new WaferMap(d, el('div', 'map-box', undefined, col));
  });
  maps.push(...both);
  controls(ms, both);
  ms.insertBefore(ms.lastElementChild!, pair);
  const names = [...new Set([...a.kernels.map((k) => k.name), ...b.kernels.map((k) => k.name)])];
  const rows: DeltaRow[] = names.map((name) => ({ name, a: a.kernels.find((k) => k.name === name), b: b.kernels.find((k) => k.name === name) }));
  const cps = (k?: ReportKernel) => k?.sim?.cycles_per_sample ?? k?.est.cycles_per_sample;
  const ratio = (x?: number | null, y?: number | null) => (x && y !== undefined && y !== null ? y / x - 1 : null);
  const cols: Column<DeltaRow>[] = [
    { label: 'kernel', text: (r) => r.name },
    { label: 'op', text: (r) => (r.a ?? r.b)!.op },
    { label: 'PEs A', text: (r) => (r.a ? `${r.a.width}×${r.a.height}` : '–'), sort: (r) => (r.a ? r.a.width * r.a.height : null), right: true },
    { label: 'PEs B', text: (r) => (r.b ? `${r.b.width}×${r.b.height}` : '–'), sort: (r) => (r.b ? r.b.width * r.b.height : null), right: true },
    { label: 'cycles/sample A', text: (r) => num(cps(r.a)), sort: (r) => cps(r.a) ?? null, right: true },
    { label: 'B', text: (r) => num(cps(r.b)), sort: (r) => cps(r.b) ?? null, right: true },
    { label: 'Δ', text: (r) => delta(cps(r.a), cps(r.b)), sort: (r) => ratio(cps(r.a), cps(r.b)), right: true },
    { label: 'util. A', text: (r) => pct(r.a && kernelUtil(r.a)), sort: (r) => (r.a ? kernelUtil(r.a) : null), right: true },
    { label: 'B', text: (r) => pct(r.b && kernelUtil(r.b)), sort: (r) => (r.b ? kernelUtil(r.b) : null), right: true },
    { label: 'mem B/PE A', text: (r) => num(r.a && kernelMem(r.a)), sort: (r) => (r.a ? kernelMem(r.a) : null), right: true },
    { label: 'B', text: (r) => num(r.b && kernelMem(r.b)), sort: (r) => (r.b ? kernelMem(r.b) : null), right: true },
    { label: 'Δ mem', text: (r) => delta(r.a && kernelMem(r.a), r.b && kernelMem(r.b)), sort: (r) => ratio(r.a && kernelMem(r.a), r.b && kernelMem(r.b)), right: true },
  ];
  const table = new KernelTable(section('Per-kernel deltas (B vs A)', 'kernels'), rows, (r) => r.name, cols);
  tables.push(table);
  table.onSelect((name) => both.forEach((m) => m.select(name, true)));
  table.onZoom((name) => both.forEach((m) => m.show(name)));
  for (const m of both) {
    m.onSelect((name) => {
      table.select(name, true);
      for (const o of both) if (o !== m) o.select(name, true);
    });
  }
}

/** Work after the map's first frame (charts and timeline), so the map shows and answers first. */
const later: (() => void)[] = [];
if (page.compare) compare(page.reports);
else single(page.reports[0]);
(window as any).csrunReport = { maps, tables, compare: page.compare };
requestAnimationFrame(() =>
  setTimeout(() => {
    for (const f of later) f();
    document.body.dataset.ready = 'true';
  }),
);
