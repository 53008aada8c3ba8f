/**
 * add (Keras Add, tf.add): element-wise sum of two or more inputs with broadcasting, or of one input and a
 * constant (`ops.add(x, 1)`, attrs {@link BinaryAttrs}). Backward: each input receives `dy`, summed back to
 * its shape when it was broadcast.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { OpKernel } from './types.ts';
import { binaryOperands, checkBroadcast } from './binary_util.ts';
import { expectArity, tidy, unbroadcast } from './util.ts';

/** The add kernel. No params.
 * @throws KernelError when the shapes do not broadcast. */
export const addKernel: OpKernel<'add'> = {
  op: 'add',
  forward(node, inputs, params) {
    const hasConst = node.attrs.a !== undefined || node.attrs.b !== undefined;
    if (hasConst) {
      const [a, b] = binaryOperands(node, inputs, params);
      return { outputs: [tf.add(a, b)], saved: [], meta: inputs.map((t) => t.shape) };
    }
    expectArity(node, inputs, [2, 64], params, 0);
    checkBroadcast(node, inputs);
    const y = tidy(() => {
      const same = inputs.every((t) => t.rank === inputs[0].rank && t.shape.every((d, i) => d === inputs[0].shape[i]));
      if (same) return inputs.length === 2 ? tf.add(inputs[0], inputs[1]) : tf.addN(inputs);
      return inputs.slice(1).reduce((acc, t) => tf.add(acc, t), inputs[0]);
    });
    return { outputs: [y], saved: [], meta: inputs.map((t) => t.shape) };
  },
  backward(_node, [dy], fwd, _params, needs) {
    const shapes = fwd.meta as number[][];
    return { dInputs: shapes.map((s, i) => (needs.inputs[i] ? unbroadcast(dy, s) : null)), dParams: [] };
  },
};
