/**
 * The vocabulary the simulation engines share (docs/design.md §10): what they read of a plan, the
 * transport interface between the pipeline rules (core.ts) and the fabric models (flow.ts, wavelet.ts), the
 * event log whose causes give the critical path (result.ts), and the engines' event queue.
 *
 * Units: cycles, bytes per PE, samples.
 */
import type { Plan } from '../../compiler/ir.ts';

/** What the engines read of a plan: placement, routes and lanes, bytes per edge, cycles and memory. */
export type SimPlan = Pick<Plan, 'hash' | 'mode' | 'machine' | 'kernels' | 'edges' | 'routes'>;

/** Moves streams' wavelets over the fabric; reports through a {@link TransportSink}. */
export interface Transport {
  /** Starts transfer `sample` of `stream` at cycle `now` (the previous one has left its source). */
  start(stream: number, sample: number, now: number): void;
  /** Time of the transport's next internal event (Infinity when idle). */
  nextTime(): number;
  /** Processes the internal events at time `t` (= `nextTime()`). */
  advance(t: number): void;
  /** The port that limited the stream's rate most recently, or −1 (none / its own lanes). */
  limitingPort(stream: number): number;
}

/** How a transport reports (times ≥ the current time). */
export interface TransportSink {
  /** The transfer's last wavelet left its source. */
  injected(stream: number, sample: number, time: number): void;
  /** The transfer's last wavelet arrived over `route`. */
  delivered(stream: number, route: number, sample: number, time: number): void;
}

/** Resolved engine options. */
export interface CoreOptions {
  batchSize: number;
  buffers: 'sram' | 'unbounded';
  /** Host I/O, bytes per cycle per direction (Infinity: free). */
  ioBytesPerCycle: number;
  /** Share of the spare SRAM given to receive buffers. */
  bufferShare: number;
}

/** Record kinds of the event log. */
export enum Rec { Pass, Inject, Deliver, Ingress, Egress }
/** How a record waited for its cause. */
export const VIA = ['start', 'server', 'input', 'local', 'grant', 'source', 'fifo', 'credit', 'latency'] as const;
export enum Via { Start, Server, Input, Local, Grant, Source, Fifo, Credit, Latency }

/** One input edge of a kernel: a (stream, route) delivering there; per-sample arrays of length B. */
export interface InEdge {
  stream: number;
  route: number;
  kernel: number;
  consumers: number[];
  /** Bytes per PE of one sample. */
  bytesPerPe: number;
  cap: number;
  used: number;
  delivered: number;
  delTime: Float64Array;
  delRec: Int32Array;
  done: Int32Array;
  relTime: Float64Array;
  relRec: Int32Array;
}

/** SRAM of one kernel, bytes per PE (dynamic figures: queued receive slots and the stash). */
export interface KernelSram {
  /** Receive slots per input edge (Infinity: unbounded). */
  slots: number;
  /** Bytes of the extra slots allocated. */
  bufferBytes: number;
  /** `sramBytesPerPe − memoryWordsPerPe · wordBytes`. */
  spareBytes: number;
  stashBytesPerSample: number;
  /** Samples in the stash now and at most. */
  stash: number;
  stashHigh: number;
  /** Bytes of queued samples (beyond the one in service) plus the stash, now and at most. */
  dynamic: number;
  dynamicHigh: number;
}

/** The event log (index = record id). */
export interface EventLog {
  kind: Rec[];
  a: number[];
  b: number[];
  sample: number[];
  start: number[];
  end: number[];
  cause: number[];
  via: Via[];
}

/** Per-pass counters (cycles). */
export interface PassCounters {
  busy: number;
  starved: number;
  blocked: number;
  fill: number;
  lastEnd: number;
}


/** A binary heap of timed actions, first in first out among equal times (the engines' event queue). */
export class EventQueue {
  private t: number[] = [];
  private q: number[] = [];
  private f: (() => void)[] = [];
  private seq = 0;
  get size(): number {
    return this.t.length;
  }
  peek(): number {
    return this.t.length ? this.t[0] : Infinity;
  }
  push(time: number, fn: () => void): void {
    const { t, q, f } = this;
    let i = t.length;
    const s = this.seq++;
    t.push(time);
    q.push(s);
    f.push(fn);
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (t[p] < time || (t[p] === time && q[p] < s)) break;
      t[i] = t[p];
      q[i] = q[p];
      f[i] = f[p];
      i = p;
    }
    t[i] = time;
    q[i] = s;
    f[i] = fn;
  }
  pop(): () => void {
    const { t, q, f } = this;
    const top = f[0];
    const lt = t.pop()!;
    const lq = q.pop()!;
    const lf = f.pop()!;
    const n = t.length;
    if (n > 0) {
      let i = 0;
      for (;;) {
        let c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && (t[c + 1] < t[c] || (t[c + 1] === t[c] && q[c + 1] < q[c]))) c++;
        if (t[c] > lt || (t[c] === lt && q[c] > lq)) break;
        t[i] = t[c];
        q[i] = q[c];
        f[i] = f[c];
        i = c;
      }
      t[i] = lt;
      q[i] = lq;
      f[i] = lf;
    }
    return top;
  }
}

