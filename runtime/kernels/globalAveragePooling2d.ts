/**
 * globalAveragePooling2d: x `[batch, h, w, c]` → y `[batch, c]`, the mean over rows and columns (Keras
 * GlobalAveragePooling2D, channels-last). Backward: `dx = dy / (h·w)` broadcast over rows and columns.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { OpKernel } from './types.ts';
import { expectArity, expectRank, tidy } from './util.ts';

/** The globalAveragePooling2d kernel. No params. */
export const globalAveragePooling2dKernel: OpKernel<'globalAveragePooling2d'> = {
  op: 'globalAveragePooling2d',
  forward(node, inputs, params) {
    expectArity(node, inputs, 1, params, 0);
    const [x] = inputs;
    expectRank(node, x, 'input', 4, '[batch, h, w, channels]');
    return { outputs: [tf.mean(x, [1, 2])], saved: [], meta: x.shape };
  },
  backward(_node, [dy], fwd, _params, needs) {
    if (!needs.inputs[0]) return { dInputs: [null], dParams: [] };
    const [n, h, w, c] = fwd.meta as number[];
    const dx = tidy(() => tf.broadcastTo(tf.reshape(tf.mul(dy, 1 / (h * w)), [n, 1, 1, c]), [n, h, w, c]));
    return { dInputs: [dx], dParams: [] };
  },
};
