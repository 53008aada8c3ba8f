/**
 * A terminal progress bar over the training steps (cli-progress): steps done, last loss, host samples/s,
 * ETA. While it is shown, the session's log lines are printed above it.
 */
import cliProgress from 'cli-progress';
import { formatRate, type RunContext, type RunValues, type Session, type SessionRunHook } from './session.ts';

/** Shows `train [bar] step/last | loss | samples/s | ETA`; needs `session.lastStep`. */
export class ProgressBarHook implements SessionRunHook {
  private bars?: cliProgress.MultiBar;
  private bar?: cliProgress.SingleBar;
  private session?: Session;
  private log?: (line: string) => void;
  private samples = 0;

  afterCreateSession(s: Session): void {
    this.bars = new cliProgress.MultiBar({ format: 'train [{bar}] {value}/{total} steps | loss {loss} | {rate} samples/s | ETA {eta_formatted}', hideCursor: true }, cliProgress.Presets.shades_classic);
    this.bar = this.bars.create(s.lastStep ?? s.startStep, s.startStep, { loss: '-', rate: '-' });
    this.session = s;
    this.log = s.log;
    const bars = this.bars;
    s.log = (l) => bars.log(l + '\n');
  }

  afterRun(ctx: RunContext, v: RunValues): void {
    this.samples += v.samples;
    this.bar?.update(v.step, { loss: v.loss.toFixed(4), rate: formatRate((this.samples * 1000) / Math.max(ctx.session.runMs, 1e-9)) });
  }

  /** Stops the bar (its redraw timer would keep the process alive) and restores the session's log. */
  end(): void {
    this.bars?.stop();
    this.bars = undefined;
    if (this.session && this.log) this.session.log = this.log;
  }

  close(): void {
    this.end();
  }
}
