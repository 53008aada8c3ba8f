/**
 * Activations (Keras names): forward and derivative, on tfjs-core ops.
 *
 * Each derivative is written from the value it needs (`uses`): most from the output y, which the producing
 * node keeps anyway, so a conv/dense can fuse its activation and still be differentiated exactly. GELU needs
 * its input.
 *
 * | name | y = f(x) | dx = dy · f′ |
 * | --- | --- | --- |
 * | linear | x | dy |
 * | relu | max(x, 0) | dy · [y > 0] (TF: 0 at x = 0) |
 * | relu6 | min(max(x, 0), 6) | dy · [0 < y < 6] (TF `Relu6Grad`) |
 * | sigmoid | 1/(1+e^−x) | dy · y(1 − y) |
 * | tanh | tanh x | dy · (1 − y²) |
 * | softmax (last axis) | e^x / Σe^x | y · (dy − Σ(dy·y)) |
 * | gelu (exact, Keras default `approximate=False`) | x·Φ(x) = ½x(1 + erf(x/√2)) | dy · (Φ(x) + x·φ(x)), φ(x) = e^(−x²/2)/√(2π) |
 * | elu (α = 1) | x > 0 ? x : e^x − 1 | dy · (y > 0 ? 1 : y + 1) |
 * | selu | λ(x > 0 ? x : α(e^x − 1)) | dy · (y > 0 ? λ : y + λα), λ = 1.0507009873554805, α = 1.6732632423543772 (Klambauer et al. 2017) |
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Activation } from '../graph.ts';
import { ACTIVATIONS } from '../graph.ts';
import { tidy } from './util.ts';

/** SELU α (Klambauer et al., "Self-Normalizing Neural Networks", 2017; Keras/TF value). */
export const SELU_ALPHA = 1.6732632423543772848170429916717;
/** SELU scale λ (same source). */
export const SELU_SCALE = 1.0507009873554804934193349852946;
const INV_SQRT2 = Math.SQRT1_2;
const INV_SQRT_2PI = 1 / Math.sqrt(2 * Math.PI);

/** Forward and derivative of one activation. */
export interface ActivationFn {
  readonly name: Activation;
  /** Which value the derivative reads: the activation's input, its output, or neither. */
  readonly uses: 'input' | 'output' | 'none';
  /** The tfjs fused-op activation computing the same function, when one exists (`tf.fused.*`). */
  readonly fused?: 'linear' | 'relu' | 'relu6' | 'sigmoid' | 'elu';
  /** y = f(x), same shape (softmax over the last axis). May return `x` itself (linear). */
  forward(x: tf.Tensor): tf.Tensor;
  /**
   * dx = dy · f′(x). `x` is needed only when `uses === 'input'`, `y` only when `uses === 'output'` (pass
   * `null` for the other). May return `dy` itself (linear).
   * @throws Error if the needed value is missing.
   */
  backward(dy: tf.Tensor, x: tf.Tensor | null, y: tf.Tensor | null): tf.Tensor;
}

function need(t: tf.Tensor | null, name: Activation, what: string): tf.Tensor {
  if (!t) throw new Error(`activation '${name}': backward needs its ${what}`);
  return t;
}

const table: Record<Activation, ActivationFn> = {
  linear: {
    name: 'linear',
    uses: 'none',
    fused: 'linear',
    forward: (x) => x,
    backward: (dy) => dy,
  },
  relu: {
    name: 'relu',
    uses: 'output',
    fused: 'relu',
    forward: (x) => tf.relu(x),
    backward: (dy, _x, y) => tidy(() => tf.mul(dy, tf.step(need(y, 'relu', 'output')))),
  },
  relu6: {
    name: 'relu6',
    uses: 'output',
    fused: 'relu6',
    forward: (x) => tf.relu6(x),
    backward: (dy, _x, y) =>
      tidy(() => {
        const v = need(y, 'relu6', 'output');
        return tf.mul(dy, tf.mul(tf.step(v), tf.step(tf.sub(6, v))));
      }),
  },
  sigmoid: {
    name: 'sigmoid',
    uses: 'output',
    fused: 'sigmoid',
    forward: (x) => tf.sigmoid(x),
    backward: (dy, _x, y) =>
      tidy(() => {
        const v = need(y, 'sigmoid', 'output');
        return tf.mul(dy, tf.mul(v, tf.sub(1, v)));
      }),
  },
  tanh: {
    name: 'tanh',
    uses: 'output',
    forward: (x) => tf.tanh(x),
    backward: (dy, _x, y) => tidy(() => tf.mul(dy, tf.sub(1, tf.square(need(y, 'tanh', 'output'))))),
  },
  softmax: {
    name: 'softmax',
    uses: 'output',
    forward: (x) => tf.softmax(x),
    backward: (dy, _x, y) =>
      tidy(() => {
        const v = need(y, 'softmax', 'output');
        return tf.mul(v, tf.sub(dy, tf.sum(tf.mul(dy, v), -1, true)));
      }),
  },
  gelu: {
    name: 'gelu',
    uses: 'input',
    forward: (x) => tidy(() => tf.mul(tf.mul(x, 0.5), tf.add(1, tf.erf(tf.mul(x, INV_SQRT2))))),
    backward: (dy, x) =>
      tidy(() => {
        const v = need(x, 'gelu', 'input');
        const cdf = tf.mul(0.5, tf.add(1, tf.erf(tf.mul(v, INV_SQRT2))));
        const pdf = tf.mul(INV_SQRT_2PI, tf.exp(tf.mul(tf.square(v), -0.5)));
        return tf.mul(dy, tf.add(cdf, tf.mul(v, pdf)));
      }),
  },
  elu: {
    name: 'elu',
    uses: 'output',
    fused: 'elu',
    forward: (x) => tf.elu(x),
    backward: (dy, _x, y) => tidy(() => tf.mul(dy, tf.add(tf.minimum(need(y, 'elu', 'output'), 0), 1))),
  },
  selu: {
    name: 'selu',
    uses: 'output',
    forward: (x) => tf.selu(x),
    backward: (dy, _x, y) =>
      tidy(() => {
        const v = need(y, 'selu', 'output');
        // y > 0: λ;  y ≤ 0: y + λα  (= λα·e^x)
        const neg = tf.add(tf.minimum(v, 0), SELU_SCALE * SELU_ALPHA);
        return tf.mul(dy, tf.where(tf.greater(v, 0), tf.fill(v.shape, SELU_SCALE), neg));
      }),
  },
};

/**
 * The activation named `name`.
 * @throws Error listing the known names if `name` is not one of {@link ACTIVATIONS}.
 */
export function getActivation(name: string): ActivationFn {
  const a = (table as Record<string, ActivationFn | undefined>)[name];
  if (!a) throw new Error(`unknown activation '${name}' (expected one of ${ACTIVATIONS.join(', ')})`);
  return a;
}
