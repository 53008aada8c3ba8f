/**
 * maxPooling2d: x `[batch, h, w, c]` → y `[batch, ho, wo, c]`, each output the maximum of its window
 * (Keras MaxPooling2D; 'same' windows ignore padding, i.e. padding is −∞).
 *
 * Backward routes each output gradient to the FIRST maximum of its window in row-major order — TF's and
 * tfjs-cpu's tie-breaking, which matters because ReLU outputs make ties (several zeros) common. The wasm
 * `MaxPoolGrad` (and `MaxPoolWithArgmax`) cannot be used: they start the running max at FLT_MIN, so windows
 * whose values are all ≤ 0 route their gradient wrongly (docs/design.md §12).
 *
 * Non-overlapping windows (stride = pool size, the usual case) use only fast ops: on the window grid,
 * `ismax = 1 − step(up(y) − x)` marks maxima, `v = ismax · rank` weights them by reverse row-major position
 * inside the window (first position highest), `maxPool(v)` finds the winning weight and the mask keeps the
 * position holding it. Other strides walk the window offsets with a "taken" mask.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { ConvGeometry } from './conv2d.ts';
import { convGeometry } from './conv2d.ts';
import { gridToInput, inputToGrid, nonOverlapping, padToGrid, repeatUp, scatterWindows, windowOffset } from './pool_util.ts';
import type { OpKernel } from './types.ts';
import { expectArity, expectRank, KernelError, tidy } from './util.ts';

/** `[1, kh·ho, kw·wo, 1]` weights `kh·kw − (a·kw + b)` of window position (a, b): the first position of a
 * window in row-major order weighs most. */
function windowRanks(ho: number, wo: number, kh: number, kw: number): tf.Tensor4D {
  const hp = ho * kh;
  const wp = wo * kw;
  const data = new Float32Array(hp * wp);
  for (let i = 0; i < hp; i++) for (let j = 0; j < wp; j++) data[i * wp + j] = kh * kw - ((i % kh) * kw + (j % kw));
  return tf.tensor4d(data, [1, hp, wp, 1]);
}

/**
 * Exact max-pooling input gradient with first-maximum tie-breaking.
 * @param x  input `[n, h, w, c]`.
 * @param y  `maxPool(x)` `[n, ho, wo, c]` (must be the forward output: maxima are found by equality).
 * @param dy output gradient `[n, ho, wo, c]`.
 * @returns `[n, h, w, c]`.
 */
export function maxPoolGrad(x: tf.Tensor4D, y: tf.Tensor4D, dy: tf.Tensor4D, g: ConvGeometry): tf.Tensor4D {
  const [kh, kw] = g.kernel;
  return tidy(() => {
    if (nonOverlapping(g)) {
      const xg = inputToGrid(x, g, -Infinity);
      const ismax = tf.sub(1, tf.step(tf.sub(repeatUp(y, kh, kw), xg)));
      const v = tf.mul(ismax, windowRanks(g.outHeight, g.outWidth, kh, kw));
      const win = tf.maxPool(v as tf.Tensor4D, [kh, kw], [kh, kw], 'valid');
      // v ∈ {0, 1, …, kh·kw}: the winner is the position with v ≥ win (v = win), i.e. v − (win − ½) > 0.
      const mask = tf.step(tf.sub(v, repeatUp(tf.sub(win, 0.5), kh, kw)));
      return gridToInput(tf.mul(mask, repeatUp(dy, kh, kw)), g);
    }
    const xp = padToGrid(x, g, -Infinity);
    let taken: tf.Tensor | null = null;
    return scatterWindows(g, (a, b) => {
      const ismax = tf.sub(1, tf.step(tf.sub(y, windowOffset(xp, g, a, b))));
      const m = taken ? tf.mul(ismax, tf.sub(1, taken)) : ismax;
      taken = taken ? tf.add(taken, m) : m;
      return tf.mul(m, dy) as tf.Tensor4D;
    });
  });
}

function geometry(node: Parameters<OpKernel<'maxPooling2d'>['forward']>[0], x: tf.Tensor): ConvGeometry {
  const a = node.attrs;
  try {
    return convGeometry(x.shape, a.poolSize, a.strides, [1, 1], a.padding);
  } catch (e) {
    throw new KernelError(node, (e as Error).message);
  }
}

/** The maxPooling2d kernel (see the module comment). No params. */
export const maxPooling2dKernel: OpKernel<'maxPooling2d'> = {
  op: 'maxPooling2d',
  forward(node, inputs, params) {
    expectArity(node, inputs, 1, params, 0);
    const [x] = inputs;
    expectRank(node, x, 'input', 4, '[batch, h, w, channels]');
    const g = geometry(node, x);
    const a = node.attrs;
    const y = tf.maxPool(x as tf.Tensor4D, a.poolSize, a.strides, a.padding);
    return { outputs: [y], saved: [x, y], meta: g };
  },
  backward(node, [dy], fwd, _params, needs) {
    if (!needs.inputs[0]) return { dInputs: [null], dParams: [] };
    const [x, y] = fwd.saved as tf.Tensor4D[];
    return { dInputs: [maxPoolGrad(x, y, dy as tf.Tensor4D, fwd.meta as ConvGeometry)], dParams: [] };
  },
};
