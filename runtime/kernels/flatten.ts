/**
 * flatten (Keras Flatten): x `[batch, d1, …, dk]` → `[batch, d1·…·dk]` in row-major (channels-last) order.
 * Backward reshapes the gradient back.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { OpKernel } from './types.ts';
import { expectArity, expectRank, perSample } from './util.ts';

/** The flatten kernel. No params. */
export const flattenKernel: OpKernel<'flatten'> = {
  op: 'flatten',
  forward(node, inputs, params) {
    expectArity(node, inputs, 1, params, 0);
    const [x] = inputs;
    expectRank(node, x, 'input', [1, 8], '[batch, …]');
    return { outputs: [tf.reshape(x, [x.shape[0], perSample(x)])], saved: [], meta: x.shape };
  },
  backward(_node, [dy], fwd, _params, needs) {
    return { dInputs: [needs.inputs[0] ? tf.reshape(dy, fwd.meta as number[]) : null], dParams: [] };
  },
};
