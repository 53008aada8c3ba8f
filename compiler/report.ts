/**
 * Pass `report`: Plan → the three compile reports of `model_dir/compile/<mode>/` (docs/design.md §5):
 * - `compile_report.txt`: Cerebras compile-report style — the estimated performance block (samples/s at the
 *   plan's batch size, steady-state samples/s, compute samples/s, transmission samples/s, active PEs %,
 *   compute utilization %, batch size and pipeline fill, with a note explaining the two rates) then one row
 *   per kernel;
 * - `compile_report.json`: the same in snake_case with every docs/design.md §5 field (rates that are unbounded,
 *   e.g. transmission with nothing routed, are `null`);
 * - `placement.svg`: the fabric to scale, each kernel a labelled rectangle coloured by its utilization
 *   (cycles per sample / interval), routes drawn as arrows of width growing with their bytes.
 */
import { lanePoints } from './fabric.ts';
import type { KernelGraph, Plan, PlacedKernel } from './ir.ts';
import { kernelKind } from './kernels/registry.ts';

/** Fraction of the pipeline interval a kernel is busy: `cyclesPerSample / intervalCycles` (0…1), a
 * steady-state figure (over a whole batch the fill lowers it to `B · cyclesPerSample / batchCycles`). */
export function kernelUtilization(k: Pick<PlacedKernel, 'cyclesPerSample'>, plan: Pick<Plan, 'estimate'>): number {
  return plan.estimate.intervalCycles > 0 ? k.cyclesPerSample / plan.estimate.intervalCycles : 0;
}

const finite = (x: number): number | null => (Number.isFinite(x) ? x : null);
const fmt = (x: number, digits = 1): string =>
  Number.isFinite(x) ? x.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: 0 }) : 'unbounded';
const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
/** As Cerebras prints rates: one decimal, no grouping (`2321.9`). */
const plain = (x: number): string => (Number.isFinite(x) ? x.toFixed(1) : 'unbounded');

/** Execution parameters as `h=2 w=2 c=8 k=16`. */
export function formatExec(exec: Record<string, number>): string {
  return Object.entries(exec)
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');
}

/**
 * The `compile_report.json` object (snake_case, docs/design.md §5 fields and a few more). In `estimate`,
 * `samples_per_s` is the effective rate at `batch_size` (pipeline fill included, what a run simulates) and
 * `steady_state_samples_per_s` the pipeline-full rate `clock_hz / interval_cycles` = min(compute, transmission
 * samples/s); `compute_utilization` and the kernels' `utilization` are steady-state figures.
 */
/** The replica fields of compile_report.json (compiler/replicas.ts): `replicas` (K), `samples_per_s_per_replica`,
 * `allreduce_cycles` and every K tried; absent without `multireplica` / `num_replicas`. */
function replicasJson(plan: Plan): Record<string, unknown> {
  const r = plan.replicas;
  if (!r) return {};
  return {
    replicas: r.count,
    samples_per_s_per_replica: r.samplesPerSPerReplica,
    allreduce_cycles: r.allreduceCycles,
    replica_layout: { axis: r.axis, region: [r.region.width, r.region.height], offsets: r.offsets.map((o) => [o.x, o.y]), samples_per_replica: r.samplesPerReplica, allreduce_words: r.allreduceWords },
    replicas_tried: r.tried.map((t) => ({ replicas: t.replicas, samples_per_s: t.samplesPerS, ...(t.error ? { error: t.error } : {}) })),
  };
}

export function reportJson(plan: Plan): Record<string, unknown> {
  const e = plan.estimate;
  const m = plan.machine;
  return {
    format_version: 1,
    plan_hash: plan.hash,
    compiler_version: plan.compilerVersion,
    machine: {
      name: m.name,
      fabric: [m.fabric.width, m.fabric.height],
      sram_bytes_per_pe: m.sramBytesPerPe,
      clock_hz: m.clockHz,
      word_bytes: m.wordBytes,
      link_bits_per_cycle: m.linkBitsPerCycle,
    },
    mode: plan.mode,
    ...replicasJson(plan),
    estimate: {
      samples_per_s: e.samplesPerS,
      steady_state_samples_per_s: e.steadyStateSamplesPerS,
      batch_size: plan.batchSize,
      compute_samples_per_s: finite(e.computeSamplesPerS),
      transmission_samples_per_s: finite(e.transmissionSamplesPerS),
      active_pe_fraction: e.activePeFraction,
      compute_utilization: e.computeUtilization,
      interval_cycles: e.intervalCycles,
      compute_cycles: e.computeCycles,
      transmission_cycles: e.transmissionCycles,
      fill_cycles: e.fillCycles,
      critical_path: e.criticalPath,
      bottleneck: e.bottleneck,
      area_bound_cycles: plan.areaBoundCycles,
      wirelength: plan.wirelength,
      busiest_link: plan.busiestLink
        ? { x: plan.busiestLink.x, y: plan.busiestLink.y, dir: plan.busiestLink.dir, bytes_per_sample: plan.busiestLink.bytesPerSample }
        : null,
    },
    kernels: plan.kernels.map((k) => ({
      name: k.name,
      op: k.op,
      kind: k.spec.kind,
      layers: k.layers,
      x: k.x,
      y: k.y,
      width: k.width,
      height: k.height,
      rotation: k.rotation,
      copies: k.copies,
      exec_params: k.exec,
      cycles_per_sample: k.cyclesPerSample,
      utilization: kernelUtilization(k, plan),
      memory_words_per_pe: k.memoryWordsPerPe,
      memory_bytes_per_pe: k.memoryWordsPerPe * m.wordBytes,
      param_words: k.paramWords,
    })),
    routes: plan.routes.map((r) => ({
      from: r.from,
      to: r.to,
      tensor: r.tensor,
      bytes_per_sample: r.bytesPerSample,
      hops: r.hops,
      lanes: r.lanes,
      order: r.order,
      external: r.external,
    })),
  };
}

/**
 * A plain-text table: a header row, a rule of dashes and the rows, columns two spaces apart, each cell
 * padded to its column's width (right-aligned where `right[i]`).
 */
export function formatTable(head: string[], rows: string[][], right: boolean[]): string {
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => (right[i] ? c.padStart(w[i]) : c.padEnd(w[i]))).join('  ').trimEnd();
  return [line(head), w.map((x) => '-'.repeat(x)).join('  '), ...rows.map(line)].join('\n');
}

/**
 * The block Cerebras' compile_report.txt opens with ("Estimated Overall Performance": Samples/s, Compute
 * Samples/s, Transmission Samples/s, Active PEs, Compute Utilization; the Cerebras developer docs, "Compile
 * Report"), in their labels and units, from the plan's estimate (compiler/estimate.ts): Samples/s is the
 * estimate at the plan's batch size (pipeline fill included), Compute and Transmission Samples/s the slowest
 * kernel's and the busiest link's steady rates, Active PEs the share of the fabric inside kernels, Compute
 * Utilization the steady-state average of the active PEs (docs/design.md §6).
 * @returns the block's lines (no trailing blank line).
 */
export function overallPerformance(plan: Pick<Plan, 'estimate'>): string[] {
  const e = plan.estimate;
  const rows: [string, string][] = [
    ['Samples/s', plain(e.samplesPerS)],
    ['Compute Samples/s', plain(e.computeSamplesPerS)],
    ['Transmission Samples/s', plain(e.transmissionSamplesPerS)],
    ['Active PEs', `${Math.round(100 * e.activePeFraction)}%`],
    ['Compute Utilization', `${Math.round(100 * e.computeUtilization)}%`],
  ];
  return ['Estimated Overall Performance', ...rows.map(([k, v]) => ` ${(k + ':').padEnd(30)}${v}`)];
}

/** The `compile_report.txt` text (also printed by `csrun compile`): {@link overallPerformance}, then csrun's
 * own estimate with its derivation, then one row per kernel. */
export function reportText(plan: Plan): string {
  const e = plan.estimate;
  const m = plan.machine;
  const fabricPes = m.fabric.width * m.fabric.height;
  const activePes = plan.kernels.reduce((s, k) => s + k.width * k.height, 0);
  const out: string[] = [];
  out.push(`Compile report — mode ${plan.mode}, machine ${m.name} (${m.fabric.width}×${m.fabric.height} PEs, ${m.sramBytesPerPe} B SRAM/PE, ${fmt(m.clockHz / 1e6, 0)} MHz)`);
  out.push(`Plan ${plan.hash.slice(0, 16)}  compiler ${plan.compilerVersion}`);
  out.push('');
  out.push(...overallPerformance(plan), '');
  const B = plan.batchSize;
  const slowest = plan.kernels.find((k) => k.cyclesPerSample === e.computeCycles);
  const link = plan.busiestLink;
  out.push(`Estimated performance (batches of ${B.toLocaleString('en-US')} samples)`);
  const kv: [string, string][] = [
    ['Estimated samples/s', `${fmt(e.samplesPerS)}  (at batch size ${B.toLocaleString('en-US')}, pipeline fill included)`],
    ['Steady-state samples/s', `${fmt(e.steadyStateSamplesPerS)}  (pipeline full: the lower of compute and transmission)`],
    ['Compute samples/s', `${fmt(e.computeSamplesPerS)}${slowest ? `  (slowest kernel ${slowest.name}: ${fmt(e.computeCycles, 0)} cycles/sample)` : ''}`],
    ['Transmission samples/s', `${fmt(e.transmissionSamplesPerS)}${link ? `  (busiest link (${link.x},${link.y},${link.dir}): ${fmt(link.bytesPerSample)} B/sample)` : ''}`],
    ['Active PEs', `${pct(e.activePeFraction)} (${activePes.toLocaleString('en-US')} of ${fabricPes.toLocaleString('en-US')})`],
    ['Compute utilization', `${pct(e.computeUtilization)} (steady state)`],
    ['Bottleneck', `${e.bottleneck} (${fmt(e.intervalCycles)} cycles/sample)`],
    ['Batch size', B.toLocaleString('en-US')],
    ['Pipeline fill', `${fmt(e.fillCycles, 0)} cycles per batch (critical path ${e.criticalPath.join(' → ') || '—'}${plan.mode === 'train' ? ', forward and backward' : ''})`],
    ['Area bound on max kernel time', `${fmt(plan.areaBoundCycles, 0)} cycles`],
    ['Wirelength', `${fmt(plan.wirelength)} PEs`],
  ];
  const r = plan.replicas;
  if (r) {
    kv.splice(1, 0, [
      'Replicas',
      `${r.count} (each ${r.region.width}×${r.region.height} PEs and ${r.samplesPerReplica} samples of every batch, ${fmt(r.samplesPerSPerReplica)} samples/s each); ` +
        `all-reduce ${fmt(r.allreduceCycles, 0)} cycles per batch (${fmt(r.allreduceWords, 0)} gradient words)`,
    ]);
    kv.splice(2, 0, ['Replicas tried', r.tried.map((t) => `K=${t.replicas}: ${t.error ? `does not fit (${t.error})` : `${fmt(t.samplesPerS)} samples/s`}`).join('; ')]);
  }
  const kw = Math.max(...kv.map(([k]) => k.length));
  for (const [k, v] of kv) out.push(`  ${k.padEnd(kw)}  ${v}`);
  out.push('');
  const interval = fmt(e.intervalCycles);
  const fill = fmt(e.fillCycles, 0);
  const hz = `${fmt(m.clockHz, 0)} Hz`;
  out.push(
    ...[
      r && r.count > 1
        ? `Estimated samples/s = ${B} × ${hz} / (${fill} + ${r.samplesPerReplica - 1} × ${interval} + ${fmt(r.allreduceCycles, 0)}) cycles (${r.count} replicas of ${r.samplesPerReplica} samples, then the all-reduce): the rate a run with batches of`
        : `Estimated samples/s = ${B} × ${hz} / (${fill} + ${B - 1} × ${interval}) cycles: the rate a run with batches of`,
      `${B} samples simulates — each batch pays the pipeline fill (${fill} cycles) once, then takes one sample`,
      `every ${interval} cycles. Steady-state samples/s = ${hz} / ${interval} cycles: what the slowest kernel`,
      '(compute) and the busiest link (transmission) allow once the pipeline is full; larger batches approach',
      'it. Compute utilization and the util column below are steady-state figures.',
    ].map((l) => `  ${l}`),
  );
  out.push('');
  out.push(`Kernels (${plan.kernels.length})`);
  const rows = plan.kernels.map((k) => [
    k.name,
    k.op,
    `(${k.x},${k.y})`,
    `${k.width}×${k.height}${k.rotation === 'R90' ? ' R90' : ''}`,
    formatExec(k.exec),
    fmt(k.cyclesPerSample, 0),
    pct(kernelUtilization(k, plan)),
    fmt(k.memoryWordsPerPe * m.wordBytes, 0),
  ]);
  out.push(formatTable(['kernel', 'op', 'x,y', 'w×h', 'exec params', 'cycles/sample', 'util', 'B/PE'], rows, [false, false, false, false, false, true, true, true]));
  return out.join('\n') + '\n';
}

/** Text escaped for XML (SVG) content and attributes. */
export const escapeXml = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');
const esc = escapeXml;

/** Colour of a utilization 0…1: blue (idle) through green and yellow to red (bottleneck). */
export function utilizationColour(u: number): string {
  const x = Math.max(0, Math.min(1, u));
  return `hsl(${Math.round(230 * (1 - x))}, 75%, ${Math.round(62 - 10 * x)}%)`;
}

/**
 * The `placement.svg` document: the fabric drawn to scale (x to the right, y downwards, one PE = `scale`
 * px), kernels as rectangles coloured by utilization with name labels (and a tooltip with details), each
 * route as an arrow along its middle lane, and a legend.
 */
export function placementSvg(plan: Plan): string {
  const { width: FW, height: FH } = plan.machine.fabric;
  const scale = 900 / Math.max(FW, FH);
  const pad = 20;
  const legendH = 80;
  const W = Math.ceil(FW * scale + 2 * pad);
  const H = Math.ceil(FH * scale + 2 * pad + legendH);
  const X = (x: number) => (pad + x * scale).toFixed(2);
  const Y = (y: number) => (pad + y * scale).toFixed(2);
  const o: string[] = [];
  o.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif">`);
  o.push(`<title>${esc(`csrun placement — ${plan.machine.name} ${FW}×${FH} PEs, mode ${plan.mode}`)}</title>`);
  o.push('<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="5" markerHeight="5" orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#333"/></marker></defs>');
  o.push(`<rect x="0" y="0" width="${W}" height="${H}" fill="#ffffff"/>`);
  o.push(`<rect x="${X(0)}" y="${Y(0)}" width="${(FW * scale).toFixed(2)}" height="${(FH * scale).toFixed(2)}" fill="#f2f2f2" stroke="#888" stroke-width="1"/>`);
  o.push('<g id="kernels">');
  for (const k of plan.kernels) {
    const u = kernelUtilization(k, plan);
    const w = k.width * scale;
    const h = k.height * scale;
    const tip = `${k.name} (${k.op})\nlayers: ${k.layers.join(', ')}\nat (${k.x},${k.y}) ${k.width}×${k.height} ${k.rotation}\n${formatExec(k.exec)}\n${k.cyclesPerSample} cycles/sample, utilization ${(100 * u).toFixed(1)}%\n${k.memoryWordsPerPe * plan.machine.wordBytes} bytes/PE`;
    o.push(
      `<g><title>${esc(tip)}</title><rect x="${X(k.x)}" y="${Y(k.y)}" width="${w.toFixed(2)}" height="${h.toFixed(2)}" fill="${utilizationColour(u)}" stroke="#222" stroke-width="0.6"/>`,
    );
    const size = Math.min(12, h * 0.6, (w / Math.max(3, k.name.length)) * 1.7);
    if (size >= 4) {
      o.push(
        `<text x="${(pad + (k.x + k.width / 2) * scale).toFixed(2)}" y="${(pad + (k.y + k.height / 2) * scale).toFixed(2)}" font-size="${size.toFixed(1)}" text-anchor="middle" dominant-baseline="central" fill="#111">${esc(k.name)}</text>`,
      );
    }
    o.push('</g>');
  }
  o.push('</g>');
  const maxBytes = Math.max(1, ...plan.routes.map((r) => r.bytesPerSample));
  o.push('<g id="routes" fill="none" stroke="#333" stroke-opacity="0.55">');
  for (const r of plan.routes) {
    if (r.lanes < 1) continue;
    const pts = lanePoints(r, Math.floor(r.lanes / 2)).map(([x, y]) => `${(pad + (x + 0.5) * scale).toFixed(2)},${(pad + (y + 0.5) * scale).toFixed(2)}`);
    const sw = 0.6 + 2.4 * Math.sqrt(r.bytesPerSample / maxBytes);
    o.push(
      `<polyline points="${pts.join(' ')}" stroke-width="${sw.toFixed(2)}" marker-end="url(#arrow)"><title>${esc(`${r.from} → ${r.to}: ${r.bytesPerSample} B/sample, ${r.lanes} lanes, ${r.hops} hops`)}</title></polyline>`,
    );
  }
  o.push('</g>');
  const rep = plan.replicas;
  if (rep && rep.count > 1) {
    // Replicas 1…K−1 are copies of replica 0's kernels and routes, translated; their regions outlined.
    o.push('<g id="replicas">');
    rep.offsets.forEach((off, i) => {
      if (i > 0) for (const g of ['kernels', 'routes']) o.push(`<use href="#${g}" transform="translate(${(off.x * scale).toFixed(2)} ${(off.y * scale).toFixed(2)})"/>`);
      o.push(
        `<rect x="${X(off.x)}" y="${Y(off.y)}" width="${(rep.region.width * scale).toFixed(2)}" height="${(rep.region.height * scale).toFixed(2)}" fill="none" stroke="#0055aa" stroke-dasharray="6 3" stroke-width="1.2"><title>${esc(`replica ${i}: ${rep.region.width}×${rep.region.height} PEs at (${off.x},${off.y}), ${rep.samplesPerReplica} samples per batch`)}</title></rect>`,
      );
    });
    o.push(`<text x="${X(0)}" y="${(pad - 6).toFixed(2)}" font-size="11" fill="#0055aa">${esc(`${rep.count} replicas; gradient all-reduce along ${rep.axis}: ${fmt(rep.allreduceCycles, 0)} cycles per batch`)}</text>`);
    o.push('</g>');
  }
  // legend
  const ly = pad + FH * scale + 18;
  o.push('<g id="legend" font-size="11">');
  for (let i = 0; i <= 10; i++) {
    o.push(`<rect x="${pad + i * 16}" y="${ly}" width="16" height="10" fill="${utilizationColour(i / 10)}"/>`);
  }
  o.push(`<text x="${pad}" y="${ly + 24}">utilization 0% → 100%</text>`);
  const e = plan.estimate;
  const lines = [
    `${plan.machine.name} ${FW}×${FH}, ${plan.mode}: ${fmt(e.samplesPerS)} samples/s at batch ${plan.batchSize}, active PEs ${pct(e.activePeFraction)}`,
    `steady state ${fmt(e.steadyStateSamplesPerS)} samples/s (compute ${fmt(e.computeSamplesPerS)}, transmission ${fmt(e.transmissionSamplesPerS)})`,
    `x → right, y ↓; ${plan.kernels.length} kernels, ${plan.routes.length} routes`,
  ];
  lines.forEach((l, i) => o.push(`<text x="${pad + 200}" y="${ly + 9 + 15 * i}">${esc(l)}</text>`));
  o.push('</g>');
  o.push('</svg>');
  return o.join('\n') + '\n';
}

/** The kernel list of `csrun compile --validate-only`: one row per kernel (name, op, fused layers, model,
 * copies, parameter words). */
export function formatKernelList(kg: KernelGraph): string {
  const rows = kg.kernels.map((k) => [k.name, k.op, kernelKind(k.spec.kind).describe(k.spec), String(k.copies), k.paramWords.toLocaleString('en-US'), k.layers.join(', ')]);
  return formatTable(['kernel', 'op', 'model', 'copies', 'params', 'layers'], rows, [false, false, false, true, true, false]);
}
