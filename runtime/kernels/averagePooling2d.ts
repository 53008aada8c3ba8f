/**
 * averagePooling2d: x `[batch, h, w, c]` → y `[batch, ho, wo, c]`, each output the mean of the input elements
 * of its window (Keras AveragePooling2D / TF `avg_pool`: with 'same' padding the divisor is the number of
 * non-padding elements of the window, as the wasm and cpu `AvgPool` kernels compute it).
 *
 * Backward: `dx[p] = Σ_{windows ∋ p} dy / count(window)`. (tfjs' own `AvgPoolGrad` divides by the full window
 * size, which disagrees with its forward pass on 'same'-padded border windows; this kernel is exact.)
 * Non-overlapping windows: nearest-neighbour upsampling of `dy / count`; otherwise a scatter over window
 * offsets.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { ConvGeometry } from './conv2d.ts';
import { convGeometry } from './conv2d.ts';
import { gridToInput, nonOverlapping, repeatUp, scatterWindows, windowCounts } from './pool_util.ts';
import type { OpKernel } from './types.ts';
import { expectArity, expectRank, KernelError, tidy } from './util.ts';

/**
 * Exact average-pooling input gradient.
 * @param dy output gradient `[n, ho, wo, c]`.
 * @returns `[n, h, w, c]`.
 */
export function avgPoolGrad(dy: tf.Tensor4D, g: ConvGeometry): tf.Tensor4D {
  return tidy(() => {
    const counts = windowCounts(g);
    const uniform = counts.every((v) => v === counts[0]);
    const scaled: tf.Tensor4D = uniform
      ? tf.mul(dy, 1 / counts[0])
      : tf.div(dy, tf.tensor4d(counts, [1, g.outHeight, g.outWidth, 1]));
    if (nonOverlapping(g)) return gridToInput(repeatUp(scaled, g.kernel[0], g.kernel[1]), g);
    return scatterWindows(g, () => scaled);
  });
}

/** The averagePooling2d kernel (see the module comment). No params. */
export const averagePooling2dKernel: OpKernel<'averagePooling2d'> = {
  op: 'averagePooling2d',
  forward(node, inputs, params) {
    expectArity(node, inputs, 1, params, 0);
    const [x] = inputs;
    expectRank(node, x, 'input', 4, '[batch, h, w, channels]');
    const a = node.attrs;
    let g: ConvGeometry;
    try {
      g = convGeometry(x.shape, a.poolSize, a.strides, [1, 1], a.padding);
    } catch (e) {
      throw new KernelError(node, (e as Error).message);
    }
    const y = tf.avgPool(x as tf.Tensor4D, a.poolSize, a.strides, a.padding);
    return { outputs: [y], saved: [], meta: g };
  },
  backward(_node, [dy], fwd, _params, needs) {
    if (!needs.inputs[0]) return { dInputs: [null], dParams: [] };
    return { dInputs: [avgPoolGrad(dy as tf.Tensor4D, fwd.meta as ConvGeometry)], dParams: [] };
  },
};
