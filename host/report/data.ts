/**
 * The data behind `csrun report --html` (host/report/html.ts): everything one page shows about one model_dir
 * and mode, gathered from the files the compiler, the simulated run and the estimator wrote:
 * - `compile/<mode>/compile_report.json` (required) and `plan.json` (route geometry);
 * - `sim[/<mode>]/utilization.json`, `links.json`, `trace.json` (optional: a compile-only model_dir has
 *   none; fields the simulator does not write are left out, the page says "not simulated");
 * - the TensorBoard event files of model_dir (train) and model_dir/eval (optional);
 * - `performance.json` (optional, train only).
 *
 * The result is plain JSON (it is embedded in the page). Link loads are a per-PE raster, quantised to a byte
 * and deflated (`heat`), so a 757 × 996 fabric costs kilobytes, not megabytes.
 */
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { batchCycles, kernelBusyCycles } from '../../compiler/estimate.ts';
import { lanePoints, linkLoads } from '../../compiler/fabric.ts';
import type { Plan } from '../../compiler/ir.ts';
import { UserError } from '../../runtime/errors.ts';
import type { Mode } from '../../runtime/graph.ts';
import { ModelDirLayout } from '../model-dir.ts';
import { readScalarEvents, type ScalarSeries } from '../summaries.ts';

/** What one kernel did in the simulated run (`sim/utilization.json`); cycles over the simulated batches. */
export interface SimKernel {
  cycles_per_sample: number | null;
  /** busy / simulated cycles (0…1). */
  utilization: number | null;
  memory_bytes_per_pe: number | null;
  busy_cycles: number | null;
  /** Idle, waiting for an input (null when the simulator does not break idle time down). */
  starved_cycles: number | null;
  /** Idle, waiting to hand an output to the fabric. */
  blocked_cycles: number | null;
  /** What the kernel mostly did: the largest of busy / starved / blocked (null without a breakdown). */
  stall: 'busy' | 'starved' | 'blocked' | null;
}

/** One kernel of the page: the compile report's row, placement and, when simulated, {@link SimKernel}. */
export interface ReportKernel {
  name: string;
  op: string;
  kind: string;
  layers: string[];
  /** Footprint as placed, PEs (x right, y down). */
  x: number;
  y: number;
  width: number;
  height: number;
  rotation: string;
  copies: number;
  exec_params: Record<string, number>;
  /** The compile estimate; `utilization` over a batch of the compiled size, pipeline fill included (what a
   * run measures), `steady_utilization` with the pipeline full. */
  est: { cycles_per_sample: number; utilization: number; steady_utilization: number; memory_bytes_per_pe: number };
  sim: SimKernel | null;
  /** Why estimate and simulation differ ('' when they agree or nothing was simulated). */
  cause: string;
}

/** A route: its middle lane (an L of three points, PE coordinates) of a bundle of `lanes`. */
export interface ReportRoute {
  from: string;
  to: string;
  tensor: string;
  bytes_per_sample: number;
  lanes: number;
  /** Also carries gradients back (TRAIN). */
  backward: boolean;
  points: [number, number][];
}

/** Per-PE link load: `data` is base64 of a deflated `Uint8Array(width · height)` (row-major, y down) of the
 * busiest outgoing link of each PE, scaled so 255 = `max`. */
export interface ReportHeat {
  source: 'simulated' | 'estimated';
  unit: string;
  max: number;
  width: number;
  height: number;
  data: string;
}

/** Everything one page shows about one model_dir and mode. */
export interface ReportData {
  title: string;
  modelDir: string;
  mode: Mode;
  machine: { name: string; fabric: [number, number]; clock_hz: number; sram_bytes_per_pe: number; word_bytes: number };
  estimate: Record<string, unknown> & { samples_per_s: number; bottleneck: string; batch_size: number };
  kernels: ReportKernel[];
  routes: ReportRoute[];
  heat: ReportHeat | null;
  /** Overall simulated figures (null: not simulated). */
  sim: {
    samples_per_s: number; batches: number; samples: number; seconds: number; bottleneck: string | null; cause: string;
    /** Plan errors the simulation found (a TRAIN stash or memory above SRAM): `{ kind, kernel, message }`. */
    errors: { kind: string; kernel: string; message: string }[];
  } | null;
  /** Training curves: tag → series, for the train events (model_dir) and the eval events (model_dir/eval). */
  curves: { train: Record<string, ScalarSeries>; eval: Record<string, ScalarSeries> };
  /** `sim/trace.json` (absolute path) and its first events per kernel (null when absent). */
  trace: { file: string; threads: Record<string, string>; events: { tid: number; name: string; ts: number; dur: number }[] } | null;
  performance: Record<string, unknown> | null;
}

/**
 * Reads a JSON file of model_dir.
 * @param hint what to do when the file is missing (after "not found: ").
 * @throws UserError naming the file when it is missing or not valid JSON.
 */
export function readJson(file: string, hint: string): any {
  if (!fs.existsSync(file)) throw new UserError(`${file} not found: ${hint}`);
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e: any) {
    throw new UserError(`${file}: not valid JSON (${e.message}); delete it and run the command that writes it again`);
  }
}
const readOptional = (file: string): any => (fs.existsSync(file) ? readJson(file, '') : null);
const numOrNull = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);

/** Sums a counter over the simulator's passes (`passes: [{ busyCycles | busy_cycles, … }]`), if present. */
function passSum(k: any, camel: string, snake: string): number | null {
  if (numOrNull(k[snake]) !== null) return k[snake];
  if (!Array.isArray(k.passes)) return null;
  const vs = k.passes.map((p: any) => numOrNull(p[camel] ?? p[snake]));
  return vs.every((v: number | null) => v !== null) && vs.length > 0 ? vs.reduce((a: number, b: number) => a + b, 0) : null;
}

/** Normalises a kernel of `sim/utilization.json` (counters at the kernel or summed over `passes`; memory: the
 * SRAM high water when the simulator tracks it, else the plan's). */
function simKernel(k: any): SimKernel {
  const busy = passSum(k, 'busyCycles', 'busy_cycles');
  const starved = passSum(k, 'starvedCycles', 'starved_cycles');
  const blocked = passSum(k, 'blockedCycles', 'blocked_cycles');
  let stall: SimKernel['stall'] = null;
  if (busy !== null && starved !== null && blocked !== null) stall = busy >= starved && busy >= blocked ? 'busy' : starved >= blocked ? 'starved' : 'blocked';
  const high = numOrNull(k.sram_high_water_bytes_per_pe);
  return {
    cycles_per_sample: numOrNull(k.cycles_per_sample),
    utilization: numOrNull(k.utilization),
    memory_bytes_per_pe: high ?? numOrNull(k.memory_bytes_per_pe),
    busy_cycles: busy,
    starved_cycles: starved,
    blocked_cycles: blocked,
    stall,
  };
}

/** A bottleneck as text: `kernel conv2d_3`, from a string or `{ kind, name }`. */
function bottleneckText(b: unknown): string | null {
  if (typeof b === 'string') return b;
  if (b && typeof b === 'object' && 'name' in b) return `${(b as any).kind ?? ''} ${(b as any).name}`.trim();
  return null;
}

/**
 * Why a kernel's simulated figures differ from the estimate: the cause the simulator names for it in
 * `utilization.json`'s `estimate.kernels` (wafer-sim/compare.ts: stash, credits, fill, or the overall cause),
 * else a `cause` on the kernel itself; '' when it names none (they agree, or the simulator gives no causes).
 */
function kernelCause(name: string, util: any, raw: any): string {
  const c = Array.isArray(util?.estimate?.kernels) ? util.estimate.kernels.find((k: any) => k.name === name)?.cause : undefined;
  return typeof c === 'string' ? c : typeof raw?.cause === 'string' ? raw.cause : '';
}

/** The overall cause: the simulator's (`estimate.cause`), else whether the rates agree within 1%. */
function overallCause(util: any, estRate: number, simRate: number): string {
  if (util?.estimate && 'cause' in util.estimate) return util.estimate.cause ?? 'agrees with the estimate (within the simulator\'s 2% threshold)';
  const agree = Math.abs(simRate / estRate - 1) <= 0.01;
  return agree ? 'agrees with the estimate (within 1%)' : 'differs from the estimate; the simulator names no cause';
}

/** The per-PE raster of {@link ReportHeat} from per-link loads (index `((y · w) + x) · 4 + dir`). */
function heatRaster(loads: ArrayLike<number>, w: number, h: number, source: ReportHeat['source'], unit: string): ReportHeat | null {
  const pe = new Float64Array(w * h);
  let max = 0;
  for (let i = 0; i < pe.length; i++) {
    const v = Math.max(loads[4 * i] || 0, loads[4 * i + 1] || 0, loads[4 * i + 2] || 0, loads[4 * i + 3] || 0);
    pe[i] = v;
    if (v > max) max = v;
  }
  if (max <= 0) return null;
  const q = new Uint8Array(pe.length);
  for (let i = 0; i < pe.length; i++) q[i] = pe[i] > 0 ? Math.max(1, Math.round((255 * pe[i]) / max)) : 0;
  return { source, unit, max, width: w, height: h, data: zlib.deflateSync(q, { level: 9 }).toString('base64') };
}

const DIRS = { E: 0, W: 1, N: 2, S: 3 } as const;

/** Link loads from `sim/links.json` (a list of `{ x, y, dir, utilization | bytes }`, bare or under `links`). */
function simHeat(links: any, w: number, h: number): ReportHeat | null {
  const list: any[] | null = Array.isArray(links) ? links : Array.isArray(links?.links) ? links.links : null;
  if (!list || list.length === 0) return null;
  const byUtil = list.every((l) => numOrNull(l.utilization) !== null);
  const loads = new Float64Array(w * h * 4);
  for (const l of list) {
    const d = DIRS[l.dir as keyof typeof DIRS];
    if (!(l.x >= 0 && l.x < w && l.y >= 0 && l.y < h) || d === undefined) continue;
    loads[((l.y * w) + l.x) * 4 + d] = byUtil ? l.utilization : (numOrNull(l.bytes) ?? 0);
  }
  return heatRaster(loads, w, h, 'simulated', byUtil ? 'link utilization' : 'bytes per batch');
}

/** Up to `max` duration events of the trace, earliest first, and its thread names. */
function traceSummary(file: string, max = 4000): ReportData['trace'] {
  const doc = readOptional(file);
  if (!doc || !Array.isArray(doc.traceEvents)) return null;
  const threads: Record<string, string> = {};
  for (const e of doc.traceEvents) if (e.ph === 'M' && e.name === 'thread_name') threads[String(e.tid)] = String(e.args?.name ?? e.tid);
  const events = doc.traceEvents
    .filter((e: any) => e.ph === 'X' && typeof e.ts === 'number' && typeof e.dur === 'number')
    .sort((a: any, b: any) => a.ts - b.ts)
    .slice(0, max)
    .map((e: any) => ({ tid: e.tid, name: String(e.name), ts: e.ts, dur: e.dur }));
  return { file: path.resolve(file), threads, events };
}

/**
 * Gathers the page data of one model_dir and mode.
 * @param modelDir the run's output directory (runconfig.model_dir).
 * @throws UserError when `compile/<mode>/compile_report.json` is missing or a file is not valid JSON, or
 *   when the simulated run is of another plan than the compile report.
 */
export function collectReport(modelDir: string, mode: Mode): ReportData {
  const run = mode === 'train' ? 'csrun compile (or csrun train)' : `csrun compile --mode ${mode} (or csrun ${mode === 'eval' ? 'eval' : 'predict'})`;
  const out = new ModelDirLayout(modelDir);
  const rep = readJson(out.compileReportJson(mode), `compile the model first: ${run}`);
  const plan: Plan | null = readOptional(out.plan(mode));
  const sdir = out.sim(mode);
  const util = readOptional(out.simUtilization(mode));
  if (util && util.plan_hash !== rep.plan_hash) {
    throw new UserError(`${sdir}: the simulated run used plan ${String(util.plan_hash).slice(0, 12)}, the compile report is for plan ${String(rep.plan_hash).slice(0, 12)}; run the model again or delete ${sdir}`);
  }
  const m = rep.machine;
  const [w, h] = m.fabric as [number, number];
  const simByName = new Map<string, any>((util?.kernels ?? []).map((k: any) => [k.name, k]));
  const simBottleneck = util ? bottleneckText(util.bottleneck) : null;
  const e = rep.estimate;
  const cycles = batchCycles({ fillCycles: e.fill_cycles, intervalCycles: e.interval_cycles }, e.batch_size);
  const kernels: ReportKernel[] = rep.kernels.map((k: any) => {
    const raw = simByName.get(k.name);
    return {
      name: k.name, op: k.op, kind: k.kind, layers: k.layers ?? [], x: k.x, y: k.y, width: k.width, height: k.height,
      rotation: k.rotation, copies: k.copies, exec_params: k.exec_params ?? {},
      est: {
        cycles_per_sample: k.cycles_per_sample, utilization: cycles > 0 ? kernelBusyCycles({ cyclesPerSample: k.cycles_per_sample }, e.batch_size) / cycles : 0,
        steady_utilization: k.utilization, memory_bytes_per_pe: k.memory_bytes_per_pe,
      },
      sim: raw ? simKernel(raw) : null,
      cause: kernelCause(k.name, util, raw),
    };
  });
  const routes: ReportRoute[] = (plan?.routes ?? []).map((r) => ({
    from: r.from, to: r.to, tensor: r.tensor, bytes_per_sample: r.bytesPerSample, lanes: r.lanes, backward: r.backward,
    points: lanePoints(r, Math.floor((r.lanes - 1) / 2)),
  }));
  const heat = simHeat(readOptional(path.join(sdir, 'links.json')), w, h)
    ?? (plan ? heatRaster(linkLoads(plan.routes, w, h, mode === 'train'), w, h, 'estimated', 'bytes per sample') : null);
  const estRate: number = rep.estimate.samples_per_s;
  const simRate = numOrNull(util?.simulated_samples_per_s ?? util?.samples_per_s);
  const sim = util && simRate !== null
    ? {
        samples_per_s: simRate, batches: util.batches ?? 0, samples: util.samples ?? 0, seconds: util.simulated_seconds ?? 0, bottleneck: simBottleneck,
        cause: overallCause(util, estRate, simRate),
        errors: Array.isArray(util.errors) ? util.errors.map((e: any) => ({ kind: String(e.kind), kernel: String(e.kernel), message: String(e.message) })) : [],
      }
    : null;
  return {
    title: path.basename(path.resolve(modelDir, '..')) + '/' + path.basename(modelDir),
    modelDir: path.resolve(modelDir),
    mode,
    machine: { name: m.name, fabric: [w, h], clock_hz: m.clock_hz, sram_bytes_per_pe: m.sram_bytes_per_pe, word_bytes: m.word_bytes },
    estimate: rep.estimate,
    kernels,
    routes,
    heat,
    sim,
    curves: { train: readScalarEvents(out.events), eval: readScalarEvents(out.eval) },
    trace: traceSummary(out.simTrace(mode)),
    performance: mode === 'train' ? readOptional(out.performance) : null,
  };
}
