/// <reference lib="dom" />
/**
 * Browser-side helpers of the report page (bundled by host/report/html.ts): element building that only ever
 * sets text (user-supplied names are never parsed as HTML), number formatting and colour scales.
 */
import type { ReportKernel } from '../data.ts';

/** Creates an element with a class and text content (text is assigned with `textContent`, never as HTML). */
export function el<K extends keyof HTMLElementTagNameMap>(tag: K, cls = '', text?: string, parent?: HTMLElement): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  parent?.appendChild(e);
  return e;
}

/** A number for a table: integers with thousands separators, others with 3 significant digits; '–' for null. */
export function num(x: number | null | undefined): string {
  if (x === null || x === undefined || !Number.isFinite(x)) return '–';
  if (Number.isInteger(x)) return x.toLocaleString('en-US');
  const a = Math.abs(x);
  if (a >= 1e5 || a < 1e-3) return x.toExponential(2);
  return x.toLocaleString('en-US', { maximumSignificantDigits: 4 });
}

/** A fraction as a percentage with one decimal ('–' for null). */
export const pct = (x: number | null | undefined): string => (x === null || x === undefined || !Number.isFinite(x) ? '–' : `${(100 * x).toFixed(1)}%`);

/** Relative change b/a − 1 as a signed percentage ('–' when undefined). */
export function delta(a: number | null | undefined, b: number | null | undefined): string {
  if (a === null || a === undefined || b === null || b === undefined || !(a !== 0)) return '–';
  const d = b / a - 1;
  return `${d >= 0 ? '+' : ''}${(100 * d).toFixed(1)}%`;
}

// Viridis control points (matplotlib's viridis at 0, .25, .5, .75, 1).
const VIRIDIS: [number, number, number][] = [
  [68, 1, 84],
  [59, 82, 139],
  [33, 145, 140],
  [94, 201, 98],
  [253, 231, 37],
];

/** Viridis colour of t ∈ [0, 1] as `rgb(r,g,b)` (clamped). */
export function viridis(t: number): string {
  const [r, g, b] = viridisRgb(t);
  return `rgb(${r},${g},${b})`;
}

/** Viridis colour of t ∈ [0, 1] as a byte triple (clamped). */
export function viridisRgb(t: number): [number, number, number] {
  const u = Math.min(1, Math.max(0, Number.isFinite(t) ? t : 0)) * (VIRIDIS.length - 1);
  const i = Math.min(VIRIDIS.length - 2, Math.floor(u));
  const f = u - i;
  const a = VIRIDIS[i];
  const b = VIRIDIS[i + 1];
  return [0, 1, 2].map((c) => Math.round(a[c] + f * (b[c] - a[c]))) as [number, number, number];
}

/** The heat-map ramp of t ∈ (0, 1]: dark red → red → yellow, more opaque when hotter (RGBA bytes); distinct
 * from the kernels' viridis so both layers read at once. */
export function heatRgba(t: number): [number, number, number, number] {
  const u = Math.min(1, Math.max(0, t));
  return [Math.round(120 + 135 * Math.min(1, 2 * u)), Math.round(255 * Math.max(0, 2 * u - 1)), 0, Math.round(140 + 115 * u)];
}

/** Stall-kind colours (busy: computing; starved: waiting for inputs; blocked: waiting to send). */
export const STALL_COLOURS: Record<string, string> = { busy: '#2a9d8f', starved: '#e9c46a', blocked: '#e76f51', none: '#8d99ae' };

/** What the map colours kernels by. */
export type ColourBy = 'utilization' | 'memory' | 'stall' | 'op';

/** Utilization the map shows for a kernel: the simulated one when present, else the steady-state estimate
 * (over one small batch the fill makes every kernel look alike). */
export const kernelUtil = (k: ReportKernel): number => k.sim?.utilization ?? k.est.steady_utilization;

/** Memory per PE shown for a kernel (simulated high water when present, else the plan's). */
export const kernelMem = (k: ReportKernel): number => k.sim?.memory_bytes_per_pe ?? k.est.memory_bytes_per_pe;

/** A stable colour per op name (hash → hue). */
export function opColour(op: string): string {
  let h = 0;
  for (let i = 0; i < op.length; i++) h = (h * 31 + op.charCodeAt(i)) >>> 0;
  return `hsl(${h % 360},55%,55%)`;
}

/**
 * The fill colour of a kernel under a colouring; `sramBytes` scales memory (fraction of a PE's SRAM).
 */
export function kernelColour(k: ReportKernel, by: ColourBy, sramBytes: number): string {
  if (by === 'utilization') return viridis(kernelUtil(k));
  if (by === 'memory') return viridis(kernelMem(k) / sramBytes);
  if (by === 'stall') return STALL_COLOURS[k.sim?.stall ?? 'none'];
  return opColour(k.op);
}

/** The details of a kernel as label/value pairs (tooltip and details panel). */
export function kernelDetails(k: ReportKernel): [string, string][] {
  const exec = Object.entries(k.exec_params).map(([a, b]) => `${a}=${b}`).join(' ');
  return [
    ['kernel', k.name],
    ['op', `${k.op} (${k.kind})`],
    ['layers', k.layers.join(', ') || '–'],
    ['execution parameters', exec || '–'],
    ['placement', `(${k.x}, ${k.y}) ${k.width}×${k.height} PEs ${k.rotation}${k.copies > 1 ? `, ${k.copies} copies` : ''}`],
    ['cycles/sample', `${num(k.est.cycles_per_sample)} est. · ${num(k.sim?.cycles_per_sample)} sim.`],
    ['utilization', `${pct(k.est.utilization)} est. (steady ${pct(k.est.steady_utilization)}) · ${pct(k.sim?.utilization)} sim.`],
    ['memory B/PE', `${num(k.est.memory_bytes_per_pe)} est. · ${num(k.sim?.memory_bytes_per_pe)} sim.`],
    ['stall', k.sim?.stall ?? '–'],
    ['busy / starved / blocked', k.sim && k.sim.busy_cycles !== null ? [k.sim.busy_cycles, k.sim.starved_cycles, k.sim.blocked_cycles].map((c) => `${num(c)}`).join(' / ') + ' cycles' : '–'],
    ['cause', k.cause || '–'],
  ];
}

/** Fills `parent` with a two-column definition list of `pairs`. */
export function detailsList(parent: HTMLElement, pairs: [string, string][]): void {
  parent.replaceChildren();
  const dl = el('dl', 'details', undefined, parent);
  for (const [a, b] of pairs) {
    el('dt', '', a, dl);
    el('dd', '', b, dl);
  }
}
