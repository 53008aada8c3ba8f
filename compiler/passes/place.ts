/**
 * Pass `place`: SizedGraph → PlacedGraph. Lays the floorplan rows chosen by `size` out on the fabric as
 * non-overlapping rectangles, snaking (row 0 left → right, row 1 right → left, …) so that a pipeline's
 * consecutive kernels are neighbours, then slides kernels inside their rows to shorten wires.
 *
 * Objective (ISPD 2020, docs/design.md §9): `max kernel time + wirePenalty × Σ L1 distance between the centres of
 * connected kernels`. The max kernel time is fixed by `size`; placement minimises the wire term:
 * - rows alternate direction, and each row starts under the end of the previous one;
 * - inside its row a kernel moves (keeping the row order, never overlapping) towards the median of its
 *   neighbours' centres, which minimises its L1 wire in that coordinate; a few sweeps converge.
 */
import { centreDistance, overlaps, type Rect } from '../fabric.ts';
import { kernelCost } from '../estimate.ts';
import type { KernelEdge, PlacedGraph, PlacedKernel, SizedGraph, SizedKernel } from '../ir.ts';
import { memoryWordsPerPe, type Machine } from '../machine.ts';

/** Options of {@link place}. */
export interface PlaceOptions {
  /** Refinement sweeps (default 6). */
  sweeps?: number;
}

interface Box {
  k: SizedKernel;
  /** Footprint in the (possibly transposed) layout frame. */
  fw: number;
  fh: number;
  x: number;
  y: number;
  row: number;
  /** Row band [ry, ry + rh). */
  ry: number;
  rh: number;
  rotated: boolean;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

/**
 * Pass `place`.
 * @param sg sized graph with its floorplan.
 * @param machine the fabric.
 * @returns placed kernels (`x`, `y`, footprint `width`/`height`, `rotation`) and the wirelength.
 * @throws Error if the floorplan does not fit the fabric (a bug in `size`).
 */
export function place(sg: SizedGraph, machine: Machine, opts: PlaceOptions = {}): PlacedGraph {
  const { transposed } = sg.floorplan;
  const lenMax = transposed ? machine.fabric.height : machine.fabric.width;
  const byName = new Map(sg.kernels.map((k) => [k.name, k]));
  const boxes = new Map<string, Box>();
  const rows: Box[][] = [];
  let y = 0;
  let prevEnd: { x: number; w: number } | null = null;
  sg.floorplan.rows.forEach((row, ri) => {
    const list: Box[] = row.kernels.map(({ name, rotated }) => {
      const k = byName.get(name);
      if (!k) throw new Error(`floorplan names unknown kernel '${name}'`);
      return { k, fw: rotated ? k.height : k.width, fh: rotated ? k.width : k.height, x: 0, y, row: ri, ry: y, rh: row.height, rotated };
    });
    const total = list.reduce((s, b) => s + b.fw, 0);
    if (total > lenMax || list.some((b) => b.fh > row.height)) throw new Error(`floorplan row ${ri} does not fit`);
    const forward = ri % 2 === 0;
    if (forward) {
      // start under the previous row's last kernel (it sits at the left end of a backward row)
      let x0 = prevEnd ? prevEnd.x : 0;
      x0 = Math.max(0, Math.min(x0, lenMax - total));
      let x = x0;
      for (const b of list) {
        b.x = x;
        x += b.fw;
      }
    } else {
      let xr = prevEnd ? prevEnd.x + prevEnd.w : lenMax;
      xr = Math.min(lenMax, Math.max(xr, total));
      let x = xr;
      for (const b of list) {
        x -= b.fw;
        b.x = x;
      }
    }
    const last = list[list.length - 1];
    if (last) prevEnd = { x: last.x, w: last.fw };
    for (const b of list) boxes.set(b.k.name, b);
    rows.push(list);
    y += row.height;
  });
  const rowMax = transposed ? machine.fabric.width : machine.fabric.height;
  if (y > rowMax) throw new Error(`floorplan rows are ${y} PEs high, the fabric ${rowMax}`);

  // neighbours for wire refinement (kernel → kernel edges only)
  const nbrs = new Map<string, string[]>();
  for (const e of sg.edges) {
    if (e.external || e.from === e.to || !boxes.has(e.from) || !boxes.has(e.to)) continue;
    nbrs.set(e.from, [...(nbrs.get(e.from) ?? []), e.to]);
    nbrs.set(e.to, [...(nbrs.get(e.to) ?? []), e.from]);
  }
  const sweeps = opts.sweeps ?? 6;
  for (let s = 0; s < sweeps; s++) {
    // vertical: within the row band
    for (const b of boxes.values()) {
      const ns = nbrs.get(b.k.name);
      if (!ns?.length || b.fh === b.rh) continue;
      const want = median(ns.map((n) => boxes.get(n)!).map((o) => o.y + o.fh / 2)) - b.fh / 2;
      b.y = Math.round(Math.max(b.ry, Math.min(b.ry + b.rh - b.fh, want)));
    }
    // horizontal: keep row order, no overlap
    for (const list of rows) {
      const sorted = [...list].sort((a, b) => a.x - b.x);
      for (let i = 0; i < sorted.length; i++) {
        const b = sorted[i];
        const ns = nbrs.get(b.k.name);
        if (!ns?.length) continue;
        const lo = i > 0 ? sorted[i - 1].x + sorted[i - 1].fw : 0;
        const hi = i + 1 < sorted.length ? sorted[i + 1].x - b.fw : lenMax - b.fw;
        if (hi <= lo) continue;
        const want = median(ns.map((n) => boxes.get(n)!).map((o) => o.x + o.fw / 2)) - b.fw / 2;
        b.x = Math.round(Math.max(lo, Math.min(hi, want)));
      }
    }
  }

  const placed = sg.kernels.map((k): PlacedKernel => {
    const b = boxes.get(k.name);
    if (!b) throw new Error(`kernel '${k.name}' missing from the floorplan`);
    // layout frame → fabric frame
    const rotatedOnFabric = transposed ? !b.rotated : b.rotated;
    return transposed
      ? { ...k, x: b.y, y: b.x, width: b.fh, height: b.fw, rotation: rotatedOnFabric ? 'R90' : 'R0' }
      : { ...k, x: b.x, y: b.y, width: b.fw, height: b.fh, rotation: rotatedOnFabric ? 'R90' : 'R0' };
  });
  return { ...sg, kernels: placed, wirelength: wirelength(placed, sg.edges) };
}

/** Σ over kernel → kernel edges of the L1 distance between rectangle centres (PEs; ISPD 2020). */
export function wirelength(kernels: readonly (Rect & { name: string })[], edges: readonly KernelEdge[]): number {
  const by = new Map(kernels.map((k) => [k.name, k]));
  let sum = 0;
  for (const e of edges) {
    if (e.external) continue;
    const a = by.get(e.from);
    const b = by.get(e.to);
    if (a && b) sum += centreDistance(a, b);
  }
  return sum;
}

/**
 * Checks a placement against the machine: inside the fabric, no overlaps, memory within SRAM, footprint
 * equal to the estimate's rectangle (swapped for R90), cycles per sample equal to the estimate.
 * @returns human-readable violations (empty when legal).
 */
export function checkPlacement(kernels: readonly PlacedKernel[], machine: Machine): string[] {
  const v: string[] = [];
  const { width: FW, height: FH } = machine.fabric;
  const mem = memoryWordsPerPe(machine);
  for (const k of kernels) {
    if (k.x < 0 || k.y < 0 || k.x + k.width > FW || k.y + k.height > FH) v.push(`kernel '${k.name}' lies outside the ${FW}×${FH} fabric`);
    const c = kernelCost(k.spec, k.exec, k.copies, machine.macsPerPePerCycle);
    const [w, h] = k.rotation === 'R0' ? [c.width, c.height] : [c.height, c.width];
    if (w !== k.width || h !== k.height) v.push(`kernel '${k.name}' footprint ${k.width}×${k.height} differs from its execution parameters' ${w}×${h}`);
    if (c.memoryWordsPerPe > mem) v.push(`kernel '${k.name}' needs ${c.memoryWordsPerPe} words per PE, more than ${mem}`);
    if (c.cyclesPerSample !== k.cyclesPerSample) v.push(`kernel '${k.name}' reports ${k.cyclesPerSample} cycles, its parameters give ${c.cyclesPerSample}`);
  }
  const sorted = [...kernels].sort((a, b) => a.x - b.x);
  for (let i = 0; i < sorted.length; i++) {
    for (let j = i + 1; j < sorted.length && sorted[j].x < sorted[i].x + sorted[i].width; j++) {
      if (overlaps(sorted[i], sorted[j])) v.push(`kernels '${sorted[i].name}' and '${sorted[j].name}' overlap`);
    }
  }
  return v;
}
