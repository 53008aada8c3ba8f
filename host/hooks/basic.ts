/**
 * The small built-in hooks: the NaN guard (tf.train.NanTensorHook), StopAtStepHook, the step logger
 * (tf.estimator's `log_step_count_steps` line) and the summary saver (tf.train.SummarySaverHook).
 */
import { UserError } from '../../runtime/errors.ts';
import { SummaryWriter } from '../summaries.ts';
import { formatRate, RateWindow, sessionSystemRate, type RunContext, type RunValues, type Session, type SessionRunHook } from './session.ts';
import { boundLabel } from '../input/system-rate.ts';
import path from 'node:path';

/** True on the steps a `every`-steps hook fires: multiples of `every`, and the session's last step. */
function due(every: number, v: RunValues, s: Session): boolean {
  return (every > 0 && v.step % every === 0) || v.step === s.lastStep;
}

/**
 * Stops training on a NaN or infinite loss (tf.train.NanTensorHook). With `failOnNanLoss` (the default, as
 * TF) it throws, so that no later hook records the step and no checkpoint of diverged weights is written;
 * otherwise it logs and requests a stop. Put it first in the hook list.
 */
export class NanTensorHook implements SessionRunHook {
  constructor(private readonly opts: { failOnNanLoss?: boolean } = {}) {}

  /** @throws UserError naming the step and the latest (good) checkpoint. */
  afterRun(ctx: RunContext, v: RunValues): void {
    if (Number.isFinite(v.loss)) return;
    const ckpt = ctx.session.lastCheckpoint;
    const msg = `loss is ${v.loss} at step ${v.step}: training stopped; the latest checkpoint${ckpt ? ` ${path.basename(ckpt)}` : ''} is from before the divergence (lower the learning rate?)`;
    if (this.opts.failOnNanLoss ?? true) throw new UserError(msg);
    ctx.session.log(msg);
    ctx.requestStop();
  }
}

/** Requests a stop at an absolute global step, or after a number of steps (tf.train.StopAtStepHook). */
export class StopAtStepHook implements SessionRunHook {
  private last?: number;

  /** @param opts exactly one of `lastStep` (absolute) or `numSteps` (from the session's start step). */
  constructor(private readonly opts: { lastStep?: number; numSteps?: number }) {
    if ((opts.lastStep === undefined) === (opts.numSteps === undefined)) throw new Error('StopAtStepHook: pass exactly one of lastStep and numSteps');
  }

  afterCreateSession(s: Session): void {
    this.last = this.opts.lastStep ?? s.startStep + this.opts.numSteps!;
  }

  afterRun(ctx: RunContext, v: RunValues): void {
    if (v.step >= this.last!) ctx.requestStop();
  }
}

/**
 * Logs `step N: loss = L (steps/s, samples/s host; wafer W samples/s simulated, system S samples/s, <bound>)`
 * every `everyNSteps` steps and at the last step (tf.estimator's `log_step_count_steps`); rates are over the
 * steps since the previous line. The system rate is min(wafer, host I/O, input pipeline) with the part that
 * bounds it (host/input/system-rate.ts): csrun's own host rate is the emulator's cost, not the machine's.
 */
export class LoggingHook implements SessionRunHook {
  private readonly win = new RateWindow();

  constructor(private readonly opts: { everyNSteps: number }) {}

  afterRun(ctx: RunContext, v: RunValues): void {
    this.win.add(v);
    if (!due(this.opts.everyNSteps, v, ctx.session)) return;
    const r = this.win.take(ctx.session);
    const sys = sessionSystemRate(ctx.session, r.simulatedSamplesPerS);
    ctx.session.log(
      `step ${v.step}: loss = ${v.loss.toFixed(5)} (${r.stepsPerS.toFixed(2)} steps/s, ${formatRate(r.samplesPerS)} samples/s host; ` +
        `wafer ${formatRate(r.simulatedSamplesPerS)} samples/s simulated, system ${formatRate(sys.samplesPerS)} samples/s, ${boundLabel(sys)})`,
    );
  }
}

/**
 * Writes `loss`, `learning_rate`, `global_step/sec` and `simulated_samples/sec` scalars every `saveSteps`
 * steps and at the last step to an event file in `outputDir` (default model_dir; tf.train.SummarySaverHook).
 */
export class SummarySaverHook implements SessionRunHook {
  private readonly win = new RateWindow();
  private writer?: SummaryWriter;

  constructor(private readonly opts: { saveSteps: number; outputDir?: string }) {}

  afterCreateSession(s: Session): void {
    this.writer = new SummaryWriter(this.opts.outputDir ?? s.out.events);
  }

  afterRun(ctx: RunContext, v: RunValues): void {
    this.win.add(v);
    if (!due(this.opts.saveSteps, v, ctx.session)) return;
    const r = this.win.take(ctx.session);
    this.writer!.scalars({ loss: v.loss, ...(v.learningRate !== undefined ? { learning_rate: v.learningRate } : {}), 'global_step/sec': r.stepsPerS, 'simulated_samples/sec': r.simulatedSamplesPerS }, v.step);
    this.writer!.flush();
  }

  close(): void {
    this.writer?.close();
  }
}
