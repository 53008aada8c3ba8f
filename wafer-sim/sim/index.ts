/**
 * The wafer's timing simulation (docs/design.md §10): `simulate(plan, { batchSize })` runs one batch of a
 * placed and routed plan through the flow-level engine (default, any fabric) or the wavelet-level engine
 * (fabrics of at most 64 × 64 PEs) and returns a {@link SimResult}.
 *
 * Both engines take from the plan only the placement, the routes and their lanes, the bytes per sample of
 * each edge, and each kernel's cycles per sample and memory (plus its copies and, for the egress, its
 * output shape); they never read the compile estimate. The pipeline rules are core.ts's, the fabric's
 * streams network.ts's; flow.ts and wavelet.ts differ only in moving the wavelets.
 *
 * Timing depends only on (plan, batch size, options), so results are cached by the plan's content hash
 * (`plan.hash`) and the options ({@link SIM_CACHE_SIZE} entries); a cached result is shared: do not mutate
 * it.
 */
import { passGraph } from '../../compiler/pass-graph.ts';
import { UserError } from '../../runtime/errors.ts';
import type { SimLevel } from '../../runtime/params.ts';
import { PipelineSim } from './core.ts';
import type { SimPlan } from './events.ts';
import { FlowTransport } from './flow.ts';
import { buildNetwork, checkGeometry } from './network.ts';
import { buildResult, type SimResult } from './result.ts';
import { WAVELET_MAX_SIDE, WaveletTransport } from './wavelet.ts';

export type { SimPlan } from './events.ts';
export { checkGeometry } from './network.ts';
export type * from './result.ts';
export { linkHeat } from './result.ts';

/** Simulation levels of docs/design.md §10 that simulate (`analytic`, the estimate, is wafer-sim/analytic.ts). */
export type EngineLevel = Exclude<SimLevel, 'analytic'>;

/** Options of {@link simulate}. */
export interface SimulateOptions {
  /** Samples in the batch, an integer ≥ 1. */
  batchSize: number;
  /** Engine (default `flow`). */
  level?: EngineLevel;
  /** `chunked` (default): tensors stream over their lanes as wavelets sharing port bandwidth; `whole`: one
   * zero-cost message per transfer with hop latency only (the analytic limit; flow level only). */
  transfer?: 'chunked' | 'whole';
  /** `sram` (default): receive slots from the spare SRAM (core.ts); `unbounded`: no credits bind. */
  buffers?: 'sram' | 'unbounded';
  /** Host I/O bytes/s per direction (default `machine.ioBytesPerS`; Infinity: free). */
  ioBytesPerS?: number;
  /** Share of the spare SRAM for receive buffers (default 0.5 in TRAIN, the rest being the stash's; 1
   * otherwise). */
  bufferShare?: number;
  /** Ports listed in `links` at most (hottest first; default 1000). */
  maxLinks?: number;
  /** Build the Chrome trace (default true). */
  trace?: boolean;
}

/** Options that make the flow engine the analytic limit (compiler/pass-graph.ts `passGraphLimit`). */
export const LIMIT_OPTIONS = { transfer: 'whole', buffers: 'unbounded', ioBytesPerS: Infinity } as const satisfies Partial<SimulateOptions>;

/** Results kept in the cache. */
export const SIM_CACHE_SIZE = 16;
const cache = new Map<string, SimResult>();

/** Empties the result cache (benchmarks time uncached runs). */
export function clearSimCache(): void {
  cache.clear();
}

/**
 * Simulates one batch of a plan.
 * @param plan a compiled plan (its `hash` must be its content hash: it keys the cache).
 * @param opts batch size and engine options.
 * @returns the batch's timing, counters, traffic, critical path and trace (result.ts).
 * @throws UserError when the machine has no host I/O bandwidth (`io_bytes_per_s`, naming its file), when
 *   the wavelet level is asked for a fabric larger than 64 × 64 or a machine it cannot model, or when the
 *   plan's geometry is corrupted (network.ts `checkGeometry`); RangeError for a bad batch size or option.
 */
export function simulate(plan: SimPlan, opts: SimulateOptions): SimResult {
  const B = opts.batchSize;
  if (!Number.isInteger(B) || B < 1) throw new RangeError(`batch size must be an integer ≥ 1, got ${B}`);
  const m = plan.machine;
  const level = opts.level ?? 'flow';
  const transfer = opts.transfer ?? 'chunked';
  const buffers = opts.buffers ?? 'sram';
  const bufferShare = opts.bufferShare ?? (plan.mode === 'train' ? 0.5 : 1);
  if (!(bufferShare >= 0 && bufferShare <= 1)) throw new RangeError(`bufferShare must lie in [0, 1], got ${bufferShare}`);
  const io = opts.ioBytesPerS ?? m.ioBytesPerS;
  if (io === undefined) {
    throw new UserError(`${m.source ?? `machine '${m.name}'`}: machine description key io_bytes_per_s is missing: the host I/O bandwidth in bytes/s per direction that the flow and wavelet simulations need (CS-2: 150000000000, i.e. 1.2 Tb/s); add it, or use sim_level analytic`);
  }
  if (!(io > 0)) throw new RangeError(`ioBytesPerS must be > 0, got ${io}`);
  if (level === 'wavelet') {
    const { width, height } = m.fabric;
    if (width > WAVELET_MAX_SIDE || height > WAVELET_MAX_SIDE) {
      throw new UserError(`sim_level wavelet simulates fabrics of at most ${WAVELET_MAX_SIDE}×${WAVELET_MAX_SIDE} PEs; machine '${m.name}' has ${width}×${height} (use sim_level flow)`);
    }
    if (m.linkBitsPerCycle !== 32 || !Number.isInteger(m.hopLatencyCycles) || m.hopLatencyCycles < 1) {
      throw new UserError(`sim_level wavelet models 32-bit links and a whole number ≥ 1 of cycles per hop; machine '${m.name}' has link_bits_per_cycle ${m.linkBitsPerCycle}, hop_latency_cycles ${m.hopLatencyCycles}`);
    }
    if (transfer !== 'chunked') throw new RangeError(`the wavelet level moves wavelets: transfer '${transfer}' is a flow-level option`);
  }
  const maxLinks = opts.maxLinks ?? 1000;
  const withTrace = opts.trace ?? true;
  const key = JSON.stringify([plan.hash, B, level, transfer, buffers, bufferShare, String(io), maxLinks, withTrace]);
  const hit = cache.get(key);
  if (hit) {
    cache.delete(key);
    cache.set(key, hit);
    return hit;
  }
  checkGeometry(plan);
  const graph = passGraph(plan);
  const net = buildNetwork(plan, graph);
  const sim = new PipelineSim(plan, graph, net, { batchSize: B, buffers, ioBytesPerCycle: io / m.clockHz, bufferShare });
  const transport =
    level === 'wavelet'
      ? new WaveletTransport(net, B, m.hopLatencyCycles, sim)
      : new FlowTransport(net, plan.routes.map((r) => r.hops), m.linkBitsPerCycle, m.hopLatencyCycles, transfer, sim);
  sim.run(transport);
  const result = buildResult(sim, { simLevel: level, transfer, ioBytesPerS: io, maxLinks, trace: withTrace });
  cache.set(key, result);
  if (cache.size > SIM_CACHE_SIZE) cache.delete(cache.keys().next().value!);
  return result;
}
