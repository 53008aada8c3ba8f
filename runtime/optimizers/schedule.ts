/**
 * Learning-rate schedules of Cerebras params.yaml (`optimizer.learning_rate`): a constant, one schedule, or a
 * list of segments run one after the other. Each segment but the last ends after its `steps`; a segment sees
 * the step counted from its own start. The formulas are those of the TF/Keras schedules named below
 * (keras/src/optimizers/schedules/learning_rate_schedule.py), evaluated in double precision.
 *
 * `step` is the global step BEFORE the update, i.e. the number of updates already applied (TF optimizers call
 * `schedule(iterations)` with `iterations` starting at 0), so step 0 uses the initial rate.
 */
import type { LearningRate, ScheduleSegment } from '../graph.ts';

function bad(seg: ScheduleSegment, what: string): never {
  throw new Error(`learning-rate schedule ${seg.scheduler}: ${what}`);
}

function positive(seg: ScheduleSegment, key: string, v: number | undefined): number {
  if (typeof v !== 'number' || !(v > 0)) bad(seg, `${key} must be a positive number, got ${String(v)}`);
  return v;
}

/**
 * Learning rate of one segment at `step` steps after the segment's start.
 *
 * | scheduler | rate (s = step) | source |
 * | --- | --- | --- |
 * | Constant | learning_rate | — |
 * | Exponential | lr₀ · rate^(s / decay_steps), exponent floored when `staircase` | Keras `ExponentialDecay` |
 * | PiecewiseConstant | values[0] for s ≤ b₀, values[i] for b₍ᵢ₋₁₎ < s ≤ bᵢ, values[n] for s > b₍ₙ₋₁₎ | Keras `PiecewiseConstantDecay` |
 * | Linear | lr₀ + (lr_end − lr₀) · min(s, steps)/steps | Cerebras `LinearLR` (= Polynomial with power 1) |
 * | Polynomial | (lr₀ − lr_end)(1 − s′/D)^power + lr_end, s′ = min(s, D), D = decay_steps; with `cycle`, D = decay_steps·⌈s/decay_steps⌉ (1 at s = 0) and s′ = s | Keras `PolynomialDecay` |
 * | Cosine | lr₀ · ((1 − α)·½(1 + cos(π·min(s, D)/D)) + α), D = decay_steps | Keras `CosineDecay` (no warm-up) |
 *
 * @throws Error naming the scheduler when a parameter is invalid (e.g. non-positive decay_steps, or values
 *   not one longer than boundaries).
 */
export function segmentRate(seg: ScheduleSegment, step: number): number {
  switch (seg.scheduler) {
    case 'Constant':
      return seg.learning_rate;
    case 'Exponential': {
      const d = positive(seg, 'decay_steps', seg.decay_steps);
      const p = seg.staircase ? Math.floor(step / d) : step / d;
      return seg.initial_learning_rate * Math.pow(seg.decay_rate, p);
    }
    case 'PiecewiseConstant': {
      const { values, boundaries } = seg;
      if (values.length !== boundaries.length + 1) {
        bad(seg, `needs one more value than boundaries, got ${values.length} values and ${boundaries.length} boundaries`);
      }
      for (let i = 1; i < boundaries.length; i++) if (!(boundaries[i] > boundaries[i - 1])) bad(seg, 'boundaries must increase');
      for (let i = 0; i < boundaries.length; i++) if (step <= boundaries[i]) return values[i];
      return values[values.length - 1];
    }
    case 'Linear': {
      const n = positive(seg, 'steps', seg.steps);
      return seg.initial_learning_rate + (seg.end_learning_rate - seg.initial_learning_rate) * (Math.min(step, n) / n);
    }
    case 'Polynomial': {
      const d0 = positive(seg, 'decay_steps', seg.decay_steps);
      const power = seg.power ?? 1;
      let d = d0;
      let s = step;
      if (seg.cycle) d = d0 * Math.max(1, Math.ceil(step / d0));
      else s = Math.min(step, d0);
      return (seg.initial_learning_rate - seg.end_learning_rate) * Math.pow(1 - s / d, power) + seg.end_learning_rate;
    }
    case 'Cosine': {
      const d = positive(seg, 'decay_steps', seg.decay_steps);
      const alpha = seg.alpha ?? 0;
      const cosine = 0.5 * (1 + Math.cos((Math.PI * Math.min(step, d)) / d));
      return seg.initial_learning_rate * ((1 - alpha) * cosine + alpha);
    }
    default:
      throw new Error(`unknown learning-rate scheduler '${(seg as { scheduler: string }).scheduler}' (expected Constant, Exponential, PiecewiseConstant, Linear, Polynomial or Cosine)`);
  }
}

/**
 * The learning rate at a global step.
 * @param lr   a number (constant), one segment, or a list of segments; in a list, every segment but the last
 *             must give `steps`, and segment i covers steps [Σ₍ⱼ<ᵢ₎ steps_j, Σ₍ⱼ≤ᵢ₎ steps_j) — the last segment
 *             also covers every later step, continuing its own formula.
 * @param step global step (≥ 0): updates applied so far.
 * @returns the rate (same units as the configured rates).
 * @throws Error if `step` is negative or not an integer, the list is empty, a non-final segment has no
 *   `steps`, or a segment is invalid (see {@link segmentRate}).
 */
export function learningRateAt(lr: LearningRate, step: number): number {
  if (!Number.isInteger(step) || step < 0) throw new Error(`learning-rate schedule: step must be a non-negative integer, got ${step}`);
  if (typeof lr === 'number') return lr;
  if (!Array.isArray(lr)) return segmentRate(lr, step);
  if (lr.length === 0) throw new Error('learning-rate schedule: the list of segments is empty');
  let start = 0;
  for (let i = 0; i < lr.length; i++) {
    const seg = lr[i];
    const last = i === lr.length - 1;
    if (last) return segmentRate(seg, step - start);
    if (seg.steps === undefined) throw new Error(`learning-rate schedule: segment ${i} (${seg.scheduler}) needs 'steps' because another segment follows it`);
    if (!(Number.isInteger(seg.steps) && seg.steps > 0)) throw new Error(`learning-rate schedule: segment ${i} (${seg.scheduler}) has invalid steps ${seg.steps}`);
    if (step < start + seg.steps) return segmentRate(seg, step - start);
    start += seg.steps;
  }
  throw new Error('unreachable');
}
