/**
 * The simulated clock of a wafer running a Plan, its per-kernel busy/idle counters, per-route traffic and
 * the Chrome trace of the simulated timeline.
 *
 * Time model (the compiler's, compiler/estimate.ts, so compile estimate and simulation cannot disagree):
 * a batch of B samples takes `batchCycles = fillCycles + (B − 1) · intervalCycles`; kernel k is busy
 * `cyclesPerSample_k · B` cycles of it, starting when the first sample reaches it (compiler/estimate.ts
 * `kernelStartCycles`: its earliest start along the data-flow DAG, route hop latencies included — the same
 * walk as the compiler's critical path). Batches of the plan's batch size therefore simulate exactly
 * `plan.estimate.samplesPerS`.
 */
import { batchCycles, kernelBusyCycles, kernelStartCycles } from '../compiler/estimate.ts';
import { busiestLink, linkLoads } from '../compiler/fabric.ts';
import type { Plan } from '../compiler/ir.ts';
import type { RouteTraffic } from './schedule.ts';

/** One Chrome trace event (https://docs.google.com/document/d/1CvAClvFfyA5R-PhYUmn5OOQtYMH4h6I0nSsKchNAySU). */
export interface TraceEvent {
  name: string;
  ph: 'X' | 'M' | 'C';
  pid: number;
  tid: number;
  /** Microseconds of simulated time. */
  ts?: number;
  dur?: number;
  cat?: string;
  args?: Record<string, unknown>;
}

/** Options of {@link SimClock}. */
export interface ClockOptions {
  /** Batches recorded in the trace (the first ones); later batches only advance counters. Default 200. */
  traceBatches?: number;
}

/** Per-kernel figures of `sim/utilization.json`. */
export interface KernelUtilization {
  name: string;
  op: string;
  /** Busy cycles / samples processed: equals the plan's cycles per sample by construction. */
  cycles_per_sample: number;
  busy_cycles: number;
  idle_cycles: number;
  /** busy / (busy + idle). */
  utilization: number;
  memory_bytes_per_pe: number;
}

/** Per-route figures of `sim/utilization.json`. */
export interface RouteUtilization {
  from: string;
  to: string;
  tensor: string;
  hops: number;
  /** Bytes the simulated run moved along the route (activations forward, gradients backward). */
  bytes_forward: number;
  bytes_backward: number;
  /** Measured forward bytes / samples, beside the plan's figure. */
  bytes_per_sample: number;
  planned_bytes_per_sample: number;
}

/** The simulated clock of one Plan (one mode). */
export class SimClock {
  /** Simulated cycles so far. */
  cycles = 0;
  samples = 0;
  batches = 0;
  readonly busy: Float64Array;
  readonly bytesForward: Float64Array;
  readonly bytesBackward: Float64Array;
  private readonly starts: number[];
  private readonly events: TraceEvent[] = [];
  private readonly traceBatches: number;

  constructor(
    readonly plan: Plan,
    opts: ClockOptions = {},
  ) {
    this.busy = new Float64Array(plan.kernels.length);
    this.bytesForward = new Float64Array(plan.routes.length);
    this.bytesBackward = new Float64Array(plan.routes.length);
    this.starts = kernelStartCycles(plan.kernels, plan.edges, plan.routes, plan.machine.hopLatencyCycles);
    this.traceBatches = opts.traceBatches ?? 200;
    plan.kernels.forEach((k, i) => this.events.push({ name: 'thread_name', ph: 'M', pid: 1, tid: i + 1, args: { name: `${k.name} (${k.op})` } }));
    this.events.push({ name: 'process_name', ph: 'M', pid: 1, tid: 0, args: { name: `wafer ${plan.machine.name} (${plan.mode})` } });
  }

  private us(cycles: number): number {
    return (cycles / this.plan.machine.clockHz) * 1e6;
  }

  /**
   * Advances the clock by one batch and adds the route traffic it caused.
   * @param batchSize samples in the batch (≥ 1).
   * @param step global step (trace labels).
   * @param traffic elements moved per route (from the compute workers); converted to bytes with the
   *   machine's word size.
   * @returns the batch's simulated cycles.
   */
  advance(batchSize: number, step: number, traffic?: RouteTraffic): number {
    const c = batchCycles(this.plan.estimate, batchSize);
    const t0 = this.cycles;
    this.plan.kernels.forEach((k, i) => {
      const busy = kernelBusyCycles(k, batchSize);
      this.busy[i] += busy;
      if (this.batches < this.traceBatches) {
        // Active window: from the first sample's arrival until the last sample leaves.
        const dur = (batchSize - 1) * this.plan.estimate.intervalCycles + k.cyclesPerSample;
        this.events.push({ name: `step ${step}`, cat: this.plan.mode, ph: 'X', pid: 1, tid: i + 1, ts: this.us(t0 + this.starts[i]), dur: this.us(dur), args: { samples: batchSize, busy_cycles: busy } });
      }
    });
    if (traffic) {
      const w = this.plan.machine.wordBytes;
      traffic.forward.forEach((v, i) => (this.bytesForward[i] += v * w));
      traffic.backward.forEach((v, i) => (this.bytesBackward[i] += v * w));
    }
    this.cycles += c;
    this.samples += batchSize;
    this.batches++;
    return c;
  }

  /** Simulated seconds so far. */
  get seconds(): number {
    return this.cycles / this.plan.machine.clockHz;
  }

  /** Simulated samples per second so far (0 before the first batch). */
  get samplesPerSecond(): number {
    return this.cycles > 0 ? this.samples / this.seconds : 0;
  }

  /** Per-kernel counters. */
  kernelUtilization(): KernelUtilization[] {
    return this.plan.kernels.map((k, i) => ({
      name: k.name,
      op: k.op,
      cycles_per_sample: this.samples > 0 ? this.busy[i] / this.samples : k.cyclesPerSample,
      busy_cycles: this.busy[i],
      idle_cycles: Math.max(0, this.cycles - this.busy[i]),
      utilization: this.cycles > 0 ? this.busy[i] / this.cycles : 0,
      memory_bytes_per_pe: k.memoryWordsPerPe * this.plan.machine.wordBytes,
    }));
  }

  /** Per-route traffic. */
  routeUtilization(): RouteUtilization[] {
    return this.plan.routes.map((r, i) => ({
      from: r.from,
      to: r.to,
      tensor: r.tensor,
      hops: r.hops,
      bytes_forward: this.bytesForward[i],
      bytes_backward: this.bytesBackward[i],
      bytes_per_sample: this.samples > 0 ? this.bytesForward[i] / this.samples : 0,
      planned_bytes_per_sample: r.bytesPerSample,
    }));
  }

  /** The `sim/utilization.json` document. */
  utilization(): Record<string, unknown> {
    const m = this.plan.machine;
    const measured = this.plan.routes.map((r, i) => ({ ...r, bytesPerSample: this.samples > 0 ? this.bytesForward[i] / this.samples : 0 }));
    const link = busiestLink(linkLoads(measured, m.fabric.width, m.fabric.height, this.plan.mode === 'train'), m.fabric.width);
    return {
      machine: { name: m.name, fabric: [m.fabric.width, m.fabric.height], clock_hz: m.clockHz },
      mode: this.plan.mode,
      plan_hash: this.plan.hash,
      batches: this.batches,
      samples: this.samples,
      simulated_cycles: this.cycles,
      simulated_seconds: this.seconds,
      simulated_samples_per_s: this.samplesPerSecond,
      estimated_samples_per_s: this.plan.estimate.samplesPerS,
      estimated_batch_size: this.plan.batchSize,
      steady_state_samples_per_s: this.plan.estimate.steadyStateSamplesPerS,
      kernels: this.kernelUtilization(),
      routes: this.routeUtilization(),
      busiest_link: link && { x: link.x, y: link.y, dir: link.dir, bytes_per_sample: link.bytesPerSample },
    };
  }

  /** The Chrome trace-event document of `sim/trace.json` (open in Perfetto or chrome://tracing). */
  trace(): { traceEvents: TraceEvent[]; displayTimeUnit: 'ns'; otherData: Record<string, unknown> } {
    return { traceEvents: this.events, displayTimeUnit: 'ns', otherData: { machine: this.plan.machine.name, mode: this.plan.mode, batches_traced: Math.min(this.batches, this.traceBatches) } };
  }
}
