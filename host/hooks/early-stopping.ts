/**
 * Early stopping on an eval metric (Keras `EarlyStopping(monitor, mode, patience)`, tf.estimator's
 * `stop_if_no_increase_hook` / `stop_if_no_decrease_hook`), and the metric comparison it shares with
 * keep_best_checkpoint (host/best-checkpoint.ts).
 *
 * Like tf.estimator's hooks, {@link EarlyStoppingHook} reads the evaluations from model_dir rather than from
 * the evaluator: after each training step it looks for `eval/results-<step>.json` written since the session
 * started (train_and_evaluate evaluates inside the checkpoint saver's `afterRun`, which runs before this
 * hook), so any evaluator writing model_dir counts.
 */
import fs from 'node:fs';
import { UserError } from '../../runtime/errors.ts';
import type { RunContext, RunValues, Session, SessionRunHook } from './session.ts';

/** Which way a metric improves: `min` (loss, error) or `max` (accuracy). */
export type MetricMode = 'min' | 'max';

/** True when `value` is strictly better than `best` in `mode` (Keras `min_delta = 0`); any value beats none. */
export function improves(mode: MetricMode, value: number, best: number | undefined): boolean {
  return best === undefined || (mode === 'min' ? value < best : value > best);
}

/**
 * The value of `metric` in an evaluation's results (`{ global_step, loss, <metric>: value }`).
 * @param where the setting that names the metric, for the error.
 * @throws UserError naming the metric, the step and the metrics the results have.
 */
export function evalMetric(results: Record<string, unknown>, metric: string, where: string): number {
  const v = results[metric];
  if (typeof v === 'number') return v;
  const have = Object.keys(results).filter((k) => k !== 'global_step');
  throw new UserError(`${where}: the evaluation at step ${results.global_step} has no metric '${metric}'; it has ${have.join(', ')} (evalMetricOps of modelFn, and loss)`);
}

/** Options of {@link EarlyStoppingHook} (`runconfig.early_stopping` in params.yaml). */
export interface EarlyStoppingOptions {
  /** Name of an eval result: `loss` or an `evalMetricOps` key. */
  metric: string;
  mode: MetricMode;
  /** Evaluations without improvement tolerated: the stop comes at the `patience`-th one in a row (Keras: 0
   * stops at the first evaluation that does not improve). */
  patience: number;
  /** Named in errors (default `EarlyStoppingHook`). */
  where?: string;
}

/**
 * Requests a stop of training when `metric` has not improved (strictly) on its best value for `patience`
 * evaluations in a row; the first evaluation of the session sets the best. Counts evaluations of this
 * session only (results files already in model_dir when it starts are not evaluations of this run).
 */
export class EarlyStoppingHook implements SessionRunHook {
  private best?: { value: number; step: number };
  private wait = 0;
  /** mtime of every results file when the session started: a file counts once it is new or rewritten. */
  private before = new Map<string, number>();

  /** @throws UserError for a mode other than min/max or a patience that is not an integer ≥ 0. */
  constructor(private readonly opts: EarlyStoppingOptions) {
    const where = opts.where ?? 'EarlyStoppingHook';
    if (opts.mode !== 'min' && opts.mode !== 'max') throw new UserError(`${where}: mode must be 'min' or 'max', got '${opts.mode}'`);
    if (!Number.isInteger(opts.patience) || opts.patience < 0) throw new UserError(`${where}: patience must be an integer ≥ 0, got ${opts.patience}`);
  }

  afterCreateSession(s: Session): void {
    this.best = undefined;
    this.wait = 0;
    this.before = new Map();
    if (!fs.existsSync(s.out.eval)) return;
    for (const f of fs.readdirSync(s.out.eval)) {
      const m = /^results-(\d+)\.json$/.exec(f);
      if (m) this.before.set(s.out.evalResultsAt(Number(m[1])), fs.statSync(s.out.evalResultsAt(Number(m[1]))).mtimeMs);
    }
  }

  afterRun(ctx: RunContext, v: RunValues): void {
    const file = ctx.session.out.evalResultsAt(v.step);
    const st = fs.statSync(file, { throwIfNoEntry: false });
    if (!st || this.before.get(file) === st.mtimeMs) return;
    this.before.set(file, st.mtimeMs);
    const { metric, mode, patience } = this.opts;
    const value = evalMetric(JSON.parse(fs.readFileSync(file, 'utf8')), metric, this.opts.where ?? 'EarlyStoppingHook');
    if (improves(mode, value, this.best?.value)) {
      this.best = { value, step: v.step };
      this.wait = 0;
      return;
    }
    if (++this.wait < patience) return;
    ctx.session.log(`Early stopping at step ${v.step}: ${metric} has not ${mode === 'min' ? 'decreased' : 'increased'} from ${this.best!.value} (step ${this.best!.step}) in ${this.wait} evaluation(s) (patience ${patience})`);
    ctx.requestStop();
  }
}
