/**
 * Optimizer update rules against tfjs-core's optimizers (cpu backend), learning-rate schedules against their
 * closed forms, regularization penalties against autodiff.
 */
import { describe, expect, it } from 'vitest';
import { initBackend } from '../../runtime/backend.ts';
import type { LearningRate, OptimizerSpec, ScheduleSegment } from '../../runtime/graph.ts';
import { penalty, penaltyGrad } from '../../runtime/optimizers/regularization.ts';
import { learningRateAt, segmentRate } from '../../runtime/optimizers/schedule.ts';
import { applyUpdate, slotSuffixes } from '../../runtime/optimizers/update.ts';
import { expectClose, randn, tf, tfl } from '../fixtures/numerics-helpers.ts';

const SHAPE = [7, 5];
const STEPS = 6;
const grads = Array.from({ length: STEPS }, (_, i) => randn(SHAPE, 40 + i, i % 2 ? 0.01 : 1));
const w0 = randn(SHAPE, 3);

/** Our update on wasm, learning rate from the schedule at each step. */
async function ours(spec: OptimizerSpec, lr: (s: number) => number): Promise<Float32Array[]> {
  await initBackend();
  let w: tf.Tensor = tf.tensor(w0, SHAPE);
  let slots = slotSuffixes(spec).map(() => tf.zeros(SHAPE));
  const out: Float32Array[] = [];
  for (let s = 0; s < STEPS; s++) {
    const g = tf.tensor(grads[s], SHAPE);
    const r = applyUpdate(spec, w, g, slots, lr(s), s);
    tf.dispose([w, g, ...slots]);
    w = r.value;
    slots = r.slots;
    out.push((w.dataSync() as Float32Array).slice());
  }
  tf.dispose([w, ...slots]);
  return out;
}

/** tfjs-core's optimizer on cpu; `before` may modify the variable before each step (AdamW decay). */
async function theirs(make: () => tf.Optimizer, before?: (v: tf.Variable, step: number) => void): Promise<Float32Array[]> {
  await tf.setBackend('cpu');
  try {
    const v = tf.variable(tf.tensor(w0, SHAPE), true, 'w');
    const opt = make();
    const out: Float32Array[] = [];
    for (let s = 0; s < STEPS; s++) {
      before?.(v, s);
      const g = tf.tensor(grads[s], SHAPE);
      opt.applyGradients({ w: g });
      g.dispose();
      out.push((v.dataSync() as Float32Array).slice());
    }
    opt.dispose();
    v.dispose();
    return out;
  } finally {
    await initBackend();
  }
}

describe('update rules match tfjs-core optimizers', () => {
  const cases: [string, OptimizerSpec, () => tf.Optimizer][] = [
    ['sgd', { name: 'sgd', learningRate: 0.1 }, () => tfl.train.sgd(0.1)],
    ['momentum', { name: 'momentum', learningRate: 0.05, momentum: 0.9, useNesterov: false }, () => tfl.train.momentum(0.05, 0.9, false)],
    ['momentum (Nesterov)', { name: 'momentum', learningRate: 0.05, momentum: 0.8, useNesterov: true }, () => tfl.train.momentum(0.05, 0.8, true)],
    ['adam', { name: 'adam', learningRate: 0.01, beta1: 0.9, beta2: 0.999, epsilon: 1e-7 }, () => tfl.train.adam(0.01, 0.9, 0.999, 1e-7)],
    ['adam (other betas)', { name: 'adam', learningRate: 0.003, beta1: 0.5, beta2: 0.9, epsilon: 1e-4 }, () => tfl.train.adam(0.003, 0.5, 0.9, 1e-4)],
    ['rmsprop', { name: 'rmsprop', learningRate: 0.01, decay: 0.9, momentum: 0, epsilon: 1e-7, centered: false }, () => tfl.train.rmsprop(0.01, 0.9, 0, 1e-7, false)],
    ['rmsprop (momentum, centered)', { name: 'rmsprop', learningRate: 0.01, decay: 0.8, momentum: 0.7, epsilon: 1e-6, centered: true }, () => tfl.train.rmsprop(0.01, 0.8, 0.7, 1e-6, true)],
  ];
  for (const [name, spec, make] of cases) {
    it(name, async () => {
      const a = await ours(spec, () => (spec.learningRate as number));
      const b = await theirs(make);
      for (let s = 0; s < STEPS; s++) expectClose(a[s], b[s], 1e-6, `${name} step ${s}`);
      // the weights moved
      expect(Array.from(a[STEPS - 1])).not.toEqual(Array.from(w0));
    });
  }

  it('adamw = decoupled decay w ← w − lr·λ·w, then adam (Keras AdamW)', async () => {
    const spec: OptimizerSpec = { name: 'adamw', learningRate: 0.01, beta1: 0.9, beta2: 0.999, epsilon: 1e-7, weightDecay: 0.1 };
    const a = await ours(spec, () => 0.01);
    const b = await theirs(() => tfl.train.adam(0.01, 0.9, 0.999, 1e-7), (v) => v.assign(tf.sub(v, tf.mul(v, 0.01 * 0.1))));
    for (let s = 0; s < STEPS; s++) expectClose(a[s], b[s], 1e-6, `adamw step ${s}`);
    const plain = await ours({ ...spec, name: 'adam' } as OptimizerSpec, () => 0.01);
    expect(Array.from(a[2])).not.toEqual(Array.from(plain[2]));
  });

  it('uses the learning rate it is given at each step', async () => {
    const spec: OptimizerSpec = { name: 'sgd', learningRate: 1 };
    const a = await ours(spec, (s) => 1 / (s + 1));
    let w = Float64Array.from(w0);
    for (let s = 0; s < STEPS; s++) {
      w = w.map((v, i) => v - grads[s][i] / (s + 1));
      expectClose(a[s], w, 1e-6, `sgd step ${s}`);
    }
  });

  it('slot names are tfjs-core`s', () => {
    expect(slotSuffixes({ name: 'adam', learningRate: 1, beta1: 0.9, beta2: 0.99, epsilon: 1e-7 })).toEqual(['m', 'v']);
    expect(slotSuffixes({ name: 'rmsprop', learningRate: 1, decay: 0.9, momentum: 0, epsilon: 1e-7, centered: true })).toEqual(['rms', 'momentum', 'mg']);
    expect(slotSuffixes({ name: 'sgd', learningRate: 1 })).toEqual([]);
    expect(() => applyUpdate({ name: 'momentum', learningRate: 1, momentum: 0.9, useNesterov: false }, tf.zeros([2]), tf.zeros([2]), [], 1, 0)).toThrow(/expected 1 slot/);
  });
});

describe('learning-rate schedules', () => {
  it('constant and Constant', () => {
    expect(learningRateAt(0.1, 1000)).toBe(0.1);
    expect(learningRateAt({ scheduler: 'Constant', learning_rate: 0.2 }, 5)).toBe(0.2);
  });
  it('Exponential (continuous and staircase)', () => {
    const seg: ScheduleSegment = { scheduler: 'Exponential', initial_learning_rate: 0.1, decay_steps: 10, decay_rate: 0.5 };
    expect(learningRateAt(seg, 0)).toBe(0.1);
    expect(learningRateAt(seg, 15)).toBeCloseTo(0.1 * Math.pow(0.5, 1.5), 12);
    expect(learningRateAt({ ...seg, staircase: true }, 15)).toBeCloseTo(0.05, 12);
    expect(learningRateAt({ ...seg, staircase: true }, 20)).toBeCloseTo(0.025, 12);
  });
  it('PiecewiseConstant: boundaries belong to the earlier value (Keras)', () => {
    const seg: ScheduleSegment = { scheduler: 'PiecewiseConstant', values: [1, 0.5, 0.1], boundaries: [10, 20] };
    expect([0, 10, 11, 20, 21, 1000].map((s) => learningRateAt(seg, s))).toEqual([1, 1, 0.5, 0.5, 0.1, 0.1]);
    expect(() => learningRateAt({ ...seg, values: [1, 2] }, 0)).toThrow(/one more value than boundaries/);
  });
  it('Linear clamps at the end rate', () => {
    const seg: ScheduleSegment = { scheduler: 'Linear', initial_learning_rate: 0.1, end_learning_rate: 0.02, steps: 8 };
    expect(learningRateAt(seg, 0)).toBeCloseTo(0.1, 12);
    expect(learningRateAt(seg, 2)).toBeCloseTo(0.08, 12);
    expect(learningRateAt(seg, 8)).toBeCloseTo(0.02, 12);
    expect(learningRateAt(seg, 50)).toBeCloseTo(0.02, 12);
  });
  it('Polynomial with power and cycle', () => {
    const seg: ScheduleSegment = { scheduler: 'Polynomial', initial_learning_rate: 1, end_learning_rate: 0.1, decay_steps: 10, power: 2 };
    expect(learningRateAt(seg, 5)).toBeCloseTo(0.9 * 0.25 + 0.1, 12);
    expect(learningRateAt(seg, 30)).toBeCloseTo(0.1, 12);
    const cyc = { ...seg, cycle: true };
    expect(learningRateAt(cyc, 0)).toBeCloseTo(1, 12);
    expect(learningRateAt(cyc, 15)).toBeCloseTo(0.9 * Math.pow(1 - 15 / 20, 2) + 0.1, 12);
    expect(learningRateAt(cyc, 20)).toBeCloseTo(0.1, 12);
  });
  it('Cosine with alpha', () => {
    const seg: ScheduleSegment = { scheduler: 'Cosine', initial_learning_rate: 0.2, decay_steps: 100, alpha: 0.1 };
    expect(learningRateAt(seg, 0)).toBeCloseTo(0.2, 12);
    expect(learningRateAt(seg, 50)).toBeCloseTo(0.2 * (0.9 * 0.5 + 0.1), 12);
    expect(learningRateAt(seg, 100)).toBeCloseTo(0.02, 12);
    expect(learningRateAt(seg, 500)).toBeCloseTo(0.02, 12);
  });
  it('lists of segments: each sees its own step count, the last continues', () => {
    const lr: LearningRate = [
      { scheduler: 'Linear', initial_learning_rate: 0, end_learning_rate: 0.1, steps: 10 },
      { scheduler: 'Constant', learning_rate: 0.1, steps: 5 },
      { scheduler: 'Exponential', initial_learning_rate: 0.1, decay_steps: 10, decay_rate: 0.5 },
    ];
    expect(learningRateAt(lr, 0)).toBe(0);
    expect(learningRateAt(lr, 5)).toBeCloseTo(0.05, 12);
    expect(learningRateAt(lr, 10)).toBe(0.1);
    expect(learningRateAt(lr, 14)).toBe(0.1);
    expect(learningRateAt(lr, 15)).toBeCloseTo(0.1, 12);
    expect(learningRateAt(lr, 25)).toBeCloseTo(0.05, 12);
    expect(segmentRate(lr[2], 10)).toBeCloseTo(0.05, 12);
  });
  it('rejects invalid schedules and steps', () => {
    expect(() => learningRateAt([{ scheduler: 'Constant', learning_rate: 1 }, { scheduler: 'Constant', learning_rate: 2 }], 3)).toThrow(/segment 0 \(Constant\) needs 'steps'/);
    expect(() => learningRateAt([], 0)).toThrow(/empty/);
    expect(() => learningRateAt(0.1, -1)).toThrow(/non-negative integer/);
    expect(() => learningRateAt({ scheduler: 'Cosine', initial_learning_rate: 1, decay_steps: 0 }, 1)).toThrow(/Cosine: decay_steps must be a positive number/);
  });
});

describe('regularization', () => {
  it('penalty and gradient match autodiff of l1·Σ|w| + l2·Σw² (sign(0) = 0)', async () => {
    await initBackend();
    const w = randn([6, 4], 8);
    w[3] = 0;
    const spec = { l1: 0.003, l2: 0.02 };
    const t = tf.tensor(w, [6, 4]);
    const p = penalty(spec, t);
    const g = penaltyGrad(spec, t);
    const pv = p.dataSync()[0];
    const gv = (g.dataSync() as Float32Array).slice();
    tf.dispose([t, p, g]);
    await tf.setBackend('cpu');
    const f = (x: tf.Tensor) => tf.add(tf.mul(0.003, tf.sum(tf.abs(x))), tf.mul(0.02, tf.sum(tf.square(x))));
    const x = tf.tensor(w, [6, 4]);
    const want = f(x).dataSync()[0];
    const wantG = Float32Array.from(tfl.grad(f)(x).dataSync());
    await initBackend();
    // tfjs' Abs gradient is step(x, −1), i.e. −1 at 0; TF's (and ours) is sign(0) = 0.
    expect(wantG[3]).toBeCloseTo(-0.003, 6);
    wantG[3] = 0;
    expect(pv).toBeCloseTo(want, 6);
    expectClose(gv, wantG, 1e-6, 'regularizer gradient');
    expect(gv[3]).toBe(0);
  });
});
