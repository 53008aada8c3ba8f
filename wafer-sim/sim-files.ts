/**
 * The documents of `model_dir/sim/` (docs/design.md §5, §10), from the batches a run simulated (a
 * {@link SimRun}: one {@link SimResult} per batch size and how many batches had it):
 * - `utilization.json`: run totals (samples, simulated cycles, samples/s), the first batch size's timing
 *   (batch cycles, first-sample latency, steady interval, bottleneck `{kind, name}`, plan errors, critical
 *   path of the event chain), per kernel busy / starved / blocked / fill / drain cycles summed over its
 *   passes and the run, SRAM high-water, per route the simulated bytes beside the compute workers' measured
 *   bytes, and the comparison with the compile estimate (wafer-sim/compare.ts);
 * - `links.json`: per directed port, bytes, busy cycles and utilization over the run, hottest first;
 * - `links.svg`: those links drawn as a heat map over the placement;
 * - `trace.json`: the Chrome trace of the first simulated batch (loads in Perfetto).
 */
import type { Plan } from '../compiler/ir.ts';
import { escapeXml as esc, utilizationColour } from '../compiler/report.ts';
import type { SimLevel } from '../runtime/params.ts';
import type { BatchTiming } from './clock.ts';
import { compareToEstimate } from './compare.ts';
import type { LinkSim, SimResult } from './sim/index.ts';

/** What a run simulated, with the route bytes the compute workers measured (absent for `csrun simulate`). */
export interface SimRun {
  plan: Plan;
  level: SimLevel;
  timings: BatchTiming[];
  /** The analytic timing (wafer-sim/clock.ts `timeBatch` at level analytic) of the first batch size. */
  estimate: SimResult;
  measured?: { forward: ArrayLike<number>; backward: ArrayLike<number> };
}

/** Files of `model_dir/sim/<mode>/`, in writing order. */
export const SIM_FILES = ['utilization.json', 'links.json', 'links.svg', 'trace.json'] as const;

/**
 * The contents of every {@link SIM_FILES} document of a run.
 * @throws RangeError when the run simulated no batch.
 */
export function simFiles(run: SimRun): Record<(typeof SIM_FILES)[number], string> {
  if (run.timings.length === 0) throw new RangeError('the run simulated no batch');
  const links = runLinks(run);
  return {
    'utilization.json': JSON.stringify(utilizationDoc(run), null, 2) + '\n',
    'links.json': JSON.stringify(linksDoc(run, links), null, 2) + '\n',
    'links.svg': linksSvg(run, links),
    'trace.json': JSON.stringify(run.timings[0].result.trace ?? { traceEvents: [] }) + '\n',
  };
}

const sum = (run: SimRun, f: (r: SimResult) => number) => run.timings.reduce((s, t) => s + t.batches * f(t.result), 0);

/** The `utilization.json` document (module doc). */
export function utilizationDoc(run: SimRun): Record<string, unknown> {
  const { plan } = run;
  const m = plan.machine;
  const first = run.timings[0].result;
  const cycles = sum(run, (r) => r.batchCycles);
  const samples = sum(run, (r) => r.batchSize);
  const wb = m.wordBytes;
  const kernels = plan.kernels.map((k, i) => {
    const passes = first.kernels[i].passes.map((p, j) => {
      const tot = (f: (q: SimResult['kernels'][number]['passes'][number]) => number) => sum(run, (r) => f(r.kernels[i].passes[j]));
      return { kind: p.kind, busy_cycles: tot((q) => q.busyCycles), starved_cycles: tot((q) => q.starvedCycles), blocked_cycles: tot((q) => q.blockedCycles), fill_cycles: tot((q) => q.fillCycles), drain_cycles: tot((q) => q.drainCycles) };
    });
    const add = (key: 'busy_cycles' | 'starved_cycles' | 'blocked_cycles' | 'fill_cycles' | 'drain_cycles') => passes.reduce((s, p) => s + p[key], 0);
    const ks = first.kernels[i];
    const high = Math.max(...run.timings.map((t) => t.result.kernels[i].sramHighWaterWordsPerPe));
    return {
      name: k.name, op: k.op, cycles_per_sample: k.cyclesPerSample,
      busy_cycles: add('busy_cycles'), starved_cycles: add('starved_cycles'), blocked_cycles: add('blocked_cycles'), fill_cycles: add('fill_cycles'), drain_cycles: add('drain_cycles'),
      /** Mean over its passes (each on its own PE copy). */
      utilization: cycles > 0 ? add('busy_cycles') / (passes.length * cycles) : 0,
      passes,
      memory_bytes_per_pe: k.memoryWordsPerPe * wb,
      sram_high_water_bytes_per_pe: high * wb,
      sram_bytes_per_pe: m.sramBytesPerPe,
      receive_slots: ks.receiveSlots,
      stash_high_water_samples: Math.max(...run.timings.map((t) => t.result.kernels[i].stashHighWaterSamples)),
    };
  });
  const routes = plan.routes.map((r, i) => ({
    route: i, from: r.from, to: r.to, tensor: r.tensor, hops: r.hops, lanes: r.lanes, bytes_per_sample: r.bytesPerSample,
    bytes_forward: sum(run, (x) => x.routes[i].bytesForward), bytes_backward: sum(run, (x) => x.routes[i].bytesBackward),
    ...(run.measured ? { measured_bytes_forward: run.measured.forward[i], measured_bytes_backward: run.measured.backward[i] } : {}),
  }));
  return {
    machine: { name: m.name, fabric: [m.fabric.width, m.fabric.height], clock_hz: m.clockHz, io_bytes_per_s: m.ioBytesPerS ?? null },
    mode: plan.mode,
    plan_hash: plan.hash,
    sim_level: run.level,
    batches: sum(run, () => 1),
    samples,
    simulated_cycles: cycles,
    simulated_seconds: cycles / m.clockHz,
    samples_per_s: cycles > 0 ? (samples * m.clockHz) / cycles : 0,
    batch_size: first.batchSize,
    batch_cycles: first.batchCycles,
    first_sample_latency_cycles: first.firstSampleLatencyCycles,
    steady_interval_cycles: first.steadyIntervalCycles,
    steady_samples_per_s: first.steadySamplesPerS,
    bottleneck: first.bottleneck,
    errors: first.errors,
    batch_sizes: run.timings.map((t) => ({ batch_size: t.result.batchSize, batches: t.batches, batch_cycles: t.result.batchCycles })),
    estimate: compareToEstimate(first, run.estimate),
    kernels,
    routes,
    io: first.io,
    critical_path: first.criticalPath,
  };
}

/** Per-port totals over the run, hottest first (each result lists its hottest ports). */
function runLinks(run: SimRun): LinkSim[] {
  const byPort = new Map<string, LinkSim>();
  for (const t of run.timings) {
    for (const l of t.result.links) {
      const key = `${l.x},${l.y},${l.dir}`;
      const got = byPort.get(key) ?? { ...l, bytes: 0, busyCycles: 0, utilization: 0 };
      got.bytes += t.batches * l.bytes;
      got.busyCycles += t.batches * l.busyCycles;
      byPort.set(key, got);
    }
  }
  const cycles = sum(run, (r) => r.batchCycles);
  const links = [...byPort.values()];
  for (const l of links) l.utilization = cycles > 0 ? l.busyCycles / cycles : 0;
  return links.sort((a, b) => b.bytes - a.bytes);
}

function linksDoc(run: SimRun, links: LinkSim[]): Record<string, unknown> {
  const cycles = sum(run, (r) => r.batchCycles);
  return {
    plan_hash: run.plan.hash, mode: run.plan.mode, sim_level: run.level, simulated_cycles: cycles,
    links_used: Math.max(...run.timings.map((t) => t.result.linksUsed)),
    links: links.map((l) => ({ x: l.x, y: l.y, dir: l.dir, bytes: l.bytes, busy_cycles: l.busyCycles, utilization: l.utilization })),
  };
}

/** Unit step of each fabric direction (y grows downwards in the drawing; N is y + 1 as in compiler/fabric.ts). */
const STEP: Record<string, [number, number]> = { E: [1, 0], W: [-1, 0], N: [0, 1], S: [0, -1] };

/** Hottest links drawn one by one (with a tooltip) over the heat grid. */
const SVG_LINKS = 300;

/**
 * `links.svg`: the fabric to scale (one PE = `scale` px, x right, y down); every used fabric link of the
 * first simulated batch size as a heat grid (`SimResult.linkHeat`: each cell coloured by its hottest link's
 * utilization, relative to the hottest link); kernels outlined and named on top; the {@link SVG_LINKS} hottest
 * links of the run as segments from their PE towards the neighbour (offset to their right so both
 * directions show) with a tooltip. Ramps and the edge entry are in links.json only.
 */
export function linksSvg(run: SimRun, links: LinkSim[]): string {
  const { plan } = run;
  const first = run.timings[0].result;
  const { width: FW, height: FH } = plan.machine.fabric;
  const scale = 900 / Math.max(FW, FH);
  const pad = 20;
  const W = Math.ceil(FW * scale + 2 * pad);
  const H = Math.ceil(FH * scale + 2 * pad + 60);
  const P = (v: number) => (pad + v * scale).toFixed(2);
  const heat = first.linkHeat;
  const peak = Math.max(1e-12, ...heat.maxUtilization, ...links.map((l) => l.utilization));
  const o: string[] = [];
  o.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif">`);
  o.push(`<title>${esc(`csrun link utilization — ${plan.machine.name} ${FW}×${FH} PEs, mode ${plan.mode}, sim_level ${run.level}`)}</title>`);
  o.push(`<rect x="0" y="0" width="${W}" height="${H}" fill="#ffffff"/>`);
  o.push(`<rect x="${P(0)}" y="${P(0)}" width="${(FW * scale).toFixed(2)}" height="${(FH * scale).toFixed(2)}" fill="#f7f7f7" stroke="#888"/>`);
  const c = heat.cellPes;
  o.push(`<g id="heat" shape-rendering="crispEdges">`);
  heat.maxUtilization.forEach((u, i) => {
    if (u <= 0) return;
    const [x, y] = [(i % heat.cols) * c, Math.floor(i / heat.cols) * c];
    o.push(`<rect x="${P(x)}" y="${P(y)}" width="${(Math.min(c, FW - x) * scale).toFixed(2)}" height="${(Math.min(c, FH - y) * scale).toFixed(2)}" fill="${utilizationColour(u / peak)}"/>`);
  });
  o.push('</g>');
  o.push('<g id="kernels" fill="none" stroke="#333" stroke-width="0.7">');
  for (const k of plan.kernels) o.push(`<rect x="${P(k.x)}" y="${P(k.y)}" width="${(k.width * scale).toFixed(2)}" height="${(k.height * scale).toFixed(2)}"><title>${esc(`${k.name} (${k.op}) at (${k.x},${k.y}) ${k.width}×${k.height}`)}</title></rect>`);
  o.push('</g>');
  o.push('<g id="labels" fill="#222" text-anchor="middle" dominant-baseline="central">');
  for (const k of plan.kernels) {
    const size = Math.min(12, k.height * scale * 0.6, ((k.width * scale) / Math.max(3, k.name.length)) * 1.7);
    if (size >= 4) o.push(`<text x="${P(k.x + k.width / 2)}" y="${P(k.y + k.height / 2)}" font-size="${size.toFixed(1)}">${esc(k.name)}</text>`);
  }
  o.push('</g>');
  const sw = Math.max(0.4, Math.min(3, scale * 0.35));
  o.push(`<g id="links" stroke-width="${sw.toFixed(2)}" stroke-linecap="round">`);
  for (const l of links.slice(0, SVG_LINKS).reverse()) {
    const d = STEP[l.dir];
    if (!d) continue;
    const off = 0.18;
    const [cx, cy] = [l.x + 0.5 - d[1] * off, l.y + 0.5 + d[0] * off];
    o.push(`<line x1="${P(cx)}" y1="${P(cy)}" x2="${P(cx + 0.8 * d[0])}" y2="${P(cy + 0.8 * d[1])}" stroke="${utilizationColour(l.utilization / peak)}"><title>${esc(`(${l.x},${l.y},${l.dir}): ${l.bytes} bytes, ${l.busyCycles.toFixed(0)} busy cycles, utilization ${(100 * l.utilization).toFixed(1)}%`)}</title></line>`);
  }
  o.push('</g>');
  const ly = pad + FH * scale + 16;
  o.push('<g id="legend" font-size="11">');
  for (let i = 0; i <= 10; i++) o.push(`<rect x="${pad + i * 16}" y="${ly}" width="16" height="10" fill="${utilizationColour(i / 10)}"/>`);
  o.push(`<text x="${pad}" y="${ly + 24}">link utilization 0 → ${(100 * peak).toFixed(1)}% (the hottest link)</text>`);
  o.push(`<text x="${pad + 200}" y="${ly + 9}">${esc(`${first.linksUsed} ports used; cells of ${c}×${c} PEs show their hottest link; bottleneck ${first.bottleneck.kind} ${first.bottleneck.name}`)}</text>`);
  o.push('</g>');
  o.push('</svg>');
  return o.join('\n') + '\n';
}
