/**
 * SessionRunHooks (tf.estimator's `tf.estimator.SessionRunHook`, camelCase) and the monitored session loop
 * that calls them. The Estimator's train and evaluate loops are this loop plus a list of hooks
 * (host/hooks/*.ts); users add their own through `Estimator.train({ hooks })`, `Estimator.evaluate({ hooks })`
 * or `EstimatorOptions.hooks` (tf.estimator: `estimator.train(input_fn, hooks=[...])`).
 *
 * Call order (as tf.train.MonitoredSession):
 * 1. `begin()` on every hook, before the wafer is loaded;
 * 2. the session is created (plan loaded on a Wafer, checkpoint restored), then `afterCreateSession(session)`;
 * 3. per step: `beforeRun(ctx)` on every hook, one step on the wafer, `afterRun(ctx, values)` on every hook;
 *    a hook stops the loop with `ctx.requestStop()` (checked after the step), the input ending stops it too;
 * 4. `end(session)` on every hook, only when the loop ended without an error (TF skips `end` on errors);
 * 5. `close()` (a csrun extension, not in TF) on every hook, always, also on errors: release a progress
 *    bar's timer, flush a file.
 * Hooks run in list order at every stage; a hook that throws stops the loop and the error propagates
 * (the NaN guard relies on this: it comes first, so no later hook records a diverged step).
 */
import type { Plan } from '../../compiler/ir.ts';
import type { Machine } from '../../compiler/machine.ts';
import type { Mode } from '../../runtime/graph.ts';
import type { Wafer } from '../../wafer-sim/wafer.ts';
import type { MetricValue } from '../../runtime/exec/metrics.ts';
import type { ModelDirLayout } from '../model-dir.ts';
import { ioSamplesPerS, systemRate, type SystemRate } from '../input/system-rate.ts';

/** The running session a hook sees: the loaded wafer and the run's bookkeeping. */
export interface Session {
  /** 'train' or 'eval'. */
  readonly mode: Mode;
  readonly wafer: Wafer;
  /** The plan loaded on the wafer (its `estimate` is the compile-time prediction). */
  readonly plan: Plan;
  /** Seconds this run spent compiling the plan (0 for a compile-cache hit). */
  readonly compileSeconds: number;
  readonly machine: Machine;
  /** Paths in model_dir (absolute). */
  readonly out: ModelDirLayout;
  /** Global step when the session was created (restored from the checkpoint, 0 without one). */
  readonly startStep: number;
  /** Train: the global step training stops at (absolute max_steps); eval: undefined. */
  readonly lastStep?: number;
  /** Current global step (after the last step run; eval: the checkpoint's step). */
  globalStep: number;
  /** Host wall time of the steps so far, ms: taking the batch plus running it, not the hooks' own time
   * (checkpointing and evaluation are not training time). */
  runMs: number;
  /** Where hooks write log lines; the progress bar hook redirects it above the bar. */
  log: (line: string) => void;
  /** True after Ctrl-C: training stops after the current step. */
  readonly interrupted: boolean;
  /** The latest checkpoint written or restored in this run (set by the checkpoint saver). */
  lastCheckpoint?: string;
  /** Input-pipeline figures of the support server: workers, input-wait fraction, samples and bytes taken, and
   * the pipeline's capacity in samples/s from the workers' busy time (host/support-server.ts). */
  inputStats(): { numWorkers: number; inputWaitFraction: number; samples: number; bytes: number; capacitySamplesPerSecond: number };
}

/** What a hook gets around one step (tf.train.SessionRunContext). */
export interface RunContext {
  readonly session: Session;
  /** Asks the loop to stop after this step (tf: `run_context.request_stop()`). */
  requestStop(): void;
  readonly stopRequested: boolean;
}

/** The results of one step (tf.train.SessionRunValues, with csrun's fixed outputs). */
export interface RunValues {
  /** Global step after the step (train: previous + 1; eval: the checkpoint's step). */
  step: number;
  /** The batch's loss (mean over its rows). */
  loss: number;
  /** Learning rate used by the step (train only). */
  learningRate?: number;
  /** Rows in the batch. */
  samples: number;
  /** Simulated wafer cycles of the step (0 when the mode does not report them). */
  simulatedCycles: number;
  /** Eval: this batch's streaming metric sums (`runtime/exec/metrics.ts` MetricValue). */
  metrics?: Record<string, MetricValue>;
}

/**
 * A hook into the session loop; every method is optional and may be async.
 * See the file header for when each one is called.
 */
export interface SessionRunHook {
  begin?(): void | Promise<void>;
  afterCreateSession?(session: Session): void | Promise<void>;
  beforeRun?(ctx: RunContext): void | Promise<void>;
  afterRun?(ctx: RunContext, values: RunValues): void | Promise<void>;
  end?(session: Session): void | Promise<void>;
  /** csrun extension: always called last, also after an error. */
  close?(): void | Promise<void>;
}

/**
 * Runs a monitored session: `begin`, `create()`, `afterCreateSession`, then `runStep` until it returns
 * undefined (input ended) or a hook requests a stop, then `end` and `close`.
 * @param create   loads the session (wafer, restore); called after every hook's `begin`.
 * @param runStep  takes one batch and runs one step, or returns undefined when the input has ended; its
 *   time is added to `session.runMs`.
 * @returns the session after the loop.
 * @throws whatever `create`, `runStep` or a hook throws (after every hook's `close`).
 */
export async function runSession<S extends Session>(hooks: readonly SessionRunHook[], create: () => Promise<S>, runStep: (session: S) => Promise<RunValues | undefined>): Promise<S> {
  try {
    for (const h of hooks) await h.begin?.();
    const session = await create();
    for (const h of hooks) await h.afterCreateSession?.(session);
    let stop = false;
    const ctx: RunContext = {
      session,
      requestStop: () => {
        stop = true;
      },
      get stopRequested() {
        return stop;
      },
    };
    while (!stop && !session.interrupted) {
      for (const h of hooks) await h.beforeRun?.(ctx);
      const t0 = performance.now();
      const values = await runStep(session);
      session.runMs += performance.now() - t0;
      if (!values) break;
      session.globalStep = values.step;
      for (const h of hooks) await h.afterRun?.(ctx, values);
    }
    for (const h of hooks) await h.end?.(session);
    return session;
  } finally {
    for (const h of hooks) await h.close?.();
  }
}

/**
 * Steps, samples, simulated cycles and host time since the last {@link RateWindow.take}: the rates of a
 * log line or a summary over the steps since the previous one.
 */
export class RateWindow {
  private steps = 0;
  private samples = 0;
  private cycles = 0;
  private startMs = 0;

  /** Counts one step. */
  add(v: RunValues): void {
    this.steps++;
    this.samples += v.samples;
    this.cycles += v.simulatedCycles;
  }

  /**
   * The window's rates, then starts a new window at `session.runMs`.
   * @returns steps/s and samples/s of host time, samples/s of simulated time (`clockHz` cycles per second).
   */
  take(session: Session): { stepsPerS: number; samplesPerS: number; simulatedSamplesPerS: number } {
    const secs = Math.max((session.runMs - this.startMs) / 1000, 1e-9);
    const out = { stepsPerS: this.steps / secs, samplesPerS: this.samples / secs, simulatedSamplesPerS: this.samples / (this.cycles / session.machine.clockHz) };
    Object.assign(this, { steps: 0, samples: 0, cycles: 0, startMs: session.runMs });
    return out;
  }
}

/** Human rate: `1.23e+06` style beyond 10⁵, integers beyond 100, else two decimals. */
export function formatRate(x: number): string {
  return x >= 1e5 ? x.toExponential(2) : x >= 100 ? x.toFixed(0) : x.toFixed(2);
}

/**
 * The system rate of a session for a simulated wafer rate: min(wafer, host I/O, input pipeline) with its
 * bound (host/input/system-rate.ts); I/O from the machine's `io_bytes_per_s` and the bytes per sample taken
 * so far, the input pipeline from the support server's capacity.
 */
export function sessionSystemRate(session: Session, waferSamplesPerS: number): SystemRate {
  const st = session.inputStats();
  const bytesPerSample = st.samples > 0 ? st.bytes / st.samples : 0;
  return systemRate({ wafer: waferSamplesPerS, io: ioSamplesPerS(session.machine.ioBytesPerS, bytesPerSample), input: st.capacitySamplesPerSecond });
}
