/// <reference lib="dom" />
/**
 * The wafer map of the report page: the fabric on a canvas (x right, y down, one PE = one unit), kernels as
 * placed, coloured by a {@link ColourBy}, routes as their middle lane (width by bytes per sample), and the link
 * heat map as a per-PE raster. Wheel zooms about the cursor, dragging pans, double-click fits; redraws are
 * batched per animation frame, so a 757 × 996 fabric zooms smoothly. Hover shows a kernel's details in a
 * tooltip, click selects it.
 */
import type { ReportData, ReportKernel } from '../data.ts';
import { type ColourBy, detailsList, el, heatRgba, kernelColour, kernelDetails } from './util.ts';

/** Layers drawn above the kernels. */
export interface MapLayers {
  routes: boolean;
  heat: boolean;
}

/** A kernel's rectangle on screen (CSS pixels relative to the canvas). */
export interface ScreenRect {
  name: string;
  x: number;
  y: number;
  w: number;
  h: number;
}

/** Decodes the deflated per-PE heat raster into an offscreen canvas and the PE of its maximum (null when
 * absent or unsupported). */
async function heatCanvas(d: ReportData): Promise<{ canvas: HTMLCanvasElement; hottest: [number, number] } | null> {
  const heat = d.heat;
  if (!heat || typeof DecompressionStream === 'undefined') return null;
  const bytes = Uint8Array.from(atob(heat.data), (c) => c.charCodeAt(0));
  const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream('deflate'));
  const q = new Uint8Array(await new Response(stream).arrayBuffer());
  const c = document.createElement('canvas');
  c.width = heat.width;
  c.height = heat.height;
  const img = c.getContext('2d')!.createImageData(heat.width, heat.height);
  let top = 0;
  for (let i = 0; i < q.length; i++) {
    if (q[i] > q[top]) top = i;
    if (q[i] === 0) continue;
    img.data.set(heatRgba(q[i] / 255), 4 * i);
  }
  c.getContext('2d')!.putImageData(img, 0, 0);
  return { canvas: c, hottest: [top % heat.width, Math.floor(top / heat.width)] };
}

/** One wafer map bound to a container. */
export class WaferMap {
  readonly canvas: HTMLCanvasElement;
  readonly tooltip: HTMLDivElement;
  colourBy: ColourBy = 'utilization';
  layers: MapLayers = { routes: false, heat: false };
  selected: string | null = null;
  /** Screen px per PE and the screen position of PE (0, 0). */
  scale = 1;
  ox = 0;
  oy = 0;
  /** Frames drawn so far (tests wait for a frame after an action). */
  frames = 0;
  private heat: HTMLCanvasElement | null = null;
  /** The PE whose outgoing link carries the most (null until the heat raster is decoded, or without one). */
  hottest: [number, number] | null = null;
  private pending = false;
  private readonly listeners: ((name: string | null) => void)[] = [];

  constructor(
    readonly data: ReportData,
    container: HTMLElement,
  ) {
    this.canvas = el('canvas', 'wafer', undefined, container);
    this.canvas.setAttribute('aria-label', `wafer map of ${data.title}`);
    this.canvas.dataset.kernels = String(data.kernels.length);
    this.tooltip = el('div', 'tooltip', undefined, container);
    this.tooltip.hidden = true;
    new ResizeObserver(() => this.resize()).observe(container);
    this.bind();
    this.resize();
    this.fit();
    void heatCanvas(data).then((h) => {
      this.heat = h?.canvas ?? null;
      this.hottest = h?.hottest ?? null;
      this.canvas.dataset.heat = h ? 'ready' : 'none';
      this.redraw();
    });
  }

  /** Calls `f` with the kernel name (or null) whenever the selection changes on the map. */
  onSelect(f: (name: string | null) => void): void {
    this.listeners.push(f);
  }

  /** Selects a kernel (null: none) and redraws; `centre` also pans it into the middle. */
  select(name: string | null, centre = false): void {
    this.selected = name;
    this.canvas.dataset.selected = name ?? '';
    const k = name === null ? undefined : this.data.kernels.find((q) => q.name === name);
    if (k && centre) {
      const r = this.canvas.getBoundingClientRect();
      this.ox = r.width / 2 - (k.x + k.width / 2) * this.scale;
      this.oy = r.height / 2 - (k.y + k.height / 2) * this.scale;
    }
    this.redraw();
  }

  /** Fits the whole fabric in the canvas. */
  fit(): void {
    const r = this.canvas.getBoundingClientRect();
    const [w, h] = this.data.machine.fabric;
    this.scale = Math.max(1e-3, Math.min(r.width / w, r.height / h) * 0.98);
    this.ox = (r.width - w * this.scale) / 2;
    this.oy = (r.height - h * this.scale) / 2;
    this.redraw();
  }

  /** Zooms and pans so one kernel fills about 60% of the canvas. */
  show(name: string): void {
    const k = this.data.kernels.find((q) => q.name === name);
    if (!k) return;
    const r = this.canvas.getBoundingClientRect();
    this.scale = Math.min(400, r.width / (k.width * 1.6), r.height / (k.height * 1.6));
    this.ox = r.width / 2 - (k.x + k.width / 2) * this.scale;
    this.oy = r.height / 2 - (k.y + k.height / 2) * this.scale;
    this.redraw();
  }

  /** The fill colour of a kernel under the current colouring (CSS colour). */
  colourOf(name: string): string | undefined {
    const k = this.data.kernels.find((q) => q.name === name);
    return k && kernelColour(k, this.colourBy, this.data.machine.sram_bytes_per_pe);
  }

  /** Zooms by `factor` about the screen point (sx, sy). */
  zoom(factor: number, sx: number, sy: number): void {
    const s = Math.min(400, Math.max(0.05, this.scale * factor));
    const f = s / this.scale;
    this.ox = sx - (sx - this.ox) * f;
    this.oy = sy - (sy - this.oy) * f;
    this.scale = s;
    this.redraw();
  }

  /** The kernel under a screen point, if any. */
  kernelAt(sx: number, sy: number): ReportKernel | undefined {
    const fx = (sx - this.ox) / this.scale;
    const fy = (sy - this.oy) / this.scale;
    for (let i = this.data.kernels.length - 1; i >= 0; i--) {
      const k = this.data.kernels[i];
      if (fx >= k.x && fx < k.x + k.width && fy >= k.y && fy < k.y + k.height) return k;
    }
    return undefined;
  }

  /** Every kernel's rectangle as drawn now (CSS pixels relative to the canvas). */
  rects(): ScreenRect[] {
    return this.data.kernels.map((k) => ({ name: k.name, x: this.ox + k.x * this.scale, y: this.oy + k.y * this.scale, w: k.width * this.scale, h: k.height * this.scale }));
  }

  /** Schedules a redraw on the next animation frame (coalesced). */
  redraw(): void {
    if (this.pending) return;
    this.pending = true;
    requestAnimationFrame(() => {
      this.pending = false;
      this.draw();
    });
  }

  private resize(): void {
    const r = this.canvas.getBoundingClientRect();
    const dpr = window.devicePixelRatio || 1;
    this.canvas.width = Math.max(1, Math.round(r.width * dpr));
    this.canvas.height = Math.max(1, Math.round(r.height * dpr));
    this.redraw();
  }

  private bind(): void {
    const c = this.canvas;
    const pos = (e: MouseEvent) => {
      const r = c.getBoundingClientRect();
      return [e.clientX - r.left, e.clientY - r.top] as const;
    };
    c.addEventListener(
      'wheel',
      (e) => {
        e.preventDefault();
        const [x, y] = pos(e);
        this.zoom(Math.exp(-e.deltaY * (e.deltaMode === 1 ? 0.05 : 0.0015)), x, y);
      },
      { passive: false },
    );
    let drag: { x: number; y: number; moved: boolean } | null = null;
    c.addEventListener('mousedown', (e) => {
      drag = { x: e.clientX, y: e.clientY, moved: false };
    });
    window.addEventListener('mouseup', (e) => {
      if (drag && !drag.moved && e.target === c) {
        const [x, y] = pos(e);
        const k = this.kernelAt(x, y);
        this.select(k ? k.name : null);
        for (const f of this.listeners) f(this.selected);
      }
      drag = null;
    });
    window.addEventListener('mousemove', (e) => {
      if (drag) {
        const dx = e.clientX - drag.x;
        const dy = e.clientY - drag.y;
        if (Math.abs(dx) + Math.abs(dy) > 2) drag.moved = true;
        if (drag.moved) {
          this.ox += dx;
          this.oy += dy;
          drag.x = e.clientX;
          drag.y = e.clientY;
          this.redraw();
        }
      }
    });
    c.addEventListener('mousemove', (e) => {
      const [x, y] = pos(e);
      this.hover(x, y);
    });
    c.addEventListener('mouseleave', () => (this.tooltip.hidden = true));
    c.addEventListener('dblclick', () => this.fit());
  }

  private hover(x: number, y: number): void {
    const k = this.kernelAt(x, y);
    this.canvas.style.cursor = k ? 'pointer' : 'grab';
    if (!k) {
      this.tooltip.hidden = true;
      return;
    }
    detailsList(this.tooltip, kernelDetails(k));
    this.tooltip.hidden = false;
    this.tooltip.dataset.kernel = k.name;
    const r = this.canvas.getBoundingClientRect();
    this.tooltip.style.left = `${Math.min(x + 14, r.width - this.tooltip.offsetWidth - 4)}px`;
    this.tooltip.style.top = `${Math.min(y + 14, r.height - this.tooltip.offsetHeight - 4)}px`;
  }

  /** Draws now (redraw() batches this per animation frame). */
  draw(): void {
    const ctx = this.canvas.getContext('2d')!;
    const dpr = window.devicePixelRatio || 1;
    const [fw, fh] = this.data.machine.fabric;
    const s = this.scale;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.fillStyle = '#f4f4f6';
    ctx.fillRect(0, 0, this.canvas.width, this.canvas.height);
    ctx.setTransform(dpr * s, 0, 0, dpr * s, dpr * this.ox, dpr * this.oy);
    ctx.fillStyle = '#d9dbe1';
    ctx.fillRect(0, 0, fw, fh);
    const sram = this.data.machine.sram_bytes_per_pe;
    const dim = this.selected !== null;
    for (const k of this.data.kernels) {
      ctx.globalAlpha = dim && k.name !== this.selected ? 0.35 : 1;
      ctx.fillStyle = kernelColour(k, this.colourBy, sram);
      ctx.fillRect(k.x, k.y, k.width, k.height);
    }
    ctx.globalAlpha = 1;
    ctx.lineWidth = 1 / s;
    ctx.strokeStyle = 'rgba(20,20,30,0.55)';
    for (const k of this.data.kernels) ctx.strokeRect(k.x, k.y, k.width, k.height);
    if (this.layers.heat && this.heat) {
      ctx.imageSmoothingEnabled = false;
      ctx.drawImage(this.heat, 0, 0);
    }
    if (this.layers.routes) this.drawRoutes(ctx);
    const sel = this.data.kernels.find((k) => k.name === this.selected);
    if (sel) {
      ctx.lineWidth = 3 / s;
      ctx.strokeStyle = '#ff2d55';
      ctx.strokeRect(sel.x, sel.y, sel.width, sel.height);
    }
    this.drawLabels(ctx, dpr);
    if (this.frames === 0) this.canvas.dataset.firstFrameMs = performance.now().toFixed(1);
    this.frames++;
    this.canvas.dataset.frames = String(this.frames);
  }

  /** Routes as their middle lane, 1–5 screen px wide by bytes per sample, ending in a dot at the consumer;
   * with a kernel selected, its own routes stand out and the others fade. */
  private drawRoutes(ctx: CanvasRenderingContext2D): void {
    const s = this.scale;
    const max = Math.max(...this.data.routes.map((r) => r.bytes_per_sample), 1);
    const sel = this.selected;
    for (const r of this.data.routes) {
      const mine = sel !== null && (r.from === sel || r.to === sel);
      ctx.strokeStyle = ctx.fillStyle = mine ? 'rgba(0,90,255,0.95)' : sel !== null ? 'rgba(200,20,70,0.3)' : 'rgba(200,20,70,0.75)';
      ctx.beginPath();
      const [p, ...rest] = r.points;
      ctx.moveTo(p[0] + 0.5, p[1] + 0.5);
      for (const q of rest) ctx.lineTo(q[0] + 0.5, q[1] + 0.5);
      ctx.lineWidth = (1 + 4 * (r.bytes_per_sample / max)) / s;
      ctx.stroke();
      const end = r.points[r.points.length - 1];
      ctx.beginPath();
      ctx.arc(end[0] + 0.5, end[1] + 0.5, 3 / s, 0, 2 * Math.PI);
      ctx.fill();
    }
  }

  private drawLabels(ctx: CanvasRenderingContext2D, dpr: number): void {
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.font = '11px system-ui, sans-serif';
    ctx.textBaseline = 'top';
    for (const k of this.data.kernels) {
      const w = k.width * this.scale;
      const h = k.height * this.scale;
      if (w < 40 || h < 14) continue;
      const x = this.ox + k.x * this.scale;
      const y = this.oy + k.y * this.scale;
      ctx.save();
      ctx.beginPath();
      ctx.rect(x, y, w, h);
      ctx.clip();
      ctx.fillStyle = '#fff';
      ctx.strokeStyle = 'rgba(0,0,0,0.6)';
      ctx.lineWidth = 2.5;
      ctx.strokeText(k.name, x + 3, y + 2);
      ctx.fillText(k.name, x + 3, y + 2);
      ctx.restore();
    }
  }
}
