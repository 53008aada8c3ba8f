/**
 * upSampling2d (Keras UpSampling2D, `interpolation: 'nearest'`, channels-last): x `[batch, h, w, c]` →
 * y `[batch, h·sh, w·sw, c]` with `y[n, i, j, :] = x[n, ⌊i/sh⌋, ⌊j/sw⌋, :]`.
 * Forward: reshape to `[n, h, 1, w, 1, c]`, tile by `[1, 1, sh, 1, sw, 1]`, reshape. Input gradient: each input
 * pixel receives the sum of its sh × sw block, `dx = Σ_{a,b} reshape(dy, [n, h, sh, w, sw, c])[:, :, a, :, b, :]`.
 * No weights.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { OpKernel } from './types.ts';
import { expectArity, expectRank, tidy } from './util.ts';

/** The upSampling2d kernel (see the module comment). */
export const upSampling2dKernel: OpKernel<'upSampling2d'> = {
  op: 'upSampling2d',
  forward(node, [x], params) {
    expectArity(node, [x], 1, params, 0);
    expectRank(node, x, 'input', 4, '[batch, h, w, channels]');
    const [sh, sw] = node.attrs.size;
    const [n, h, w, c] = x.shape as [number, number, number, number];
    return tidy(() => ({ outputs: [tf.reshape(tf.tile(tf.reshape(x, [n, h, 1, w, 1, c]), [1, 1, sh, 1, sw, 1]), [n, h * sh, w * sw, c])], saved: [], meta: [n, h, w, c] }));
  },
  backward(node, [dy], fwd, _params, needs) {
    const [sh, sw] = node.attrs.size;
    const [n, h, w, c] = fwd.meta as number[];
    return tidy(() => ({ dInputs: [needs.inputs[0] ? tf.sum(tf.reshape(dy, [n, h, sh, w, sw, c]), [2, 4]) : null], dParams: [] }));
  },
};
