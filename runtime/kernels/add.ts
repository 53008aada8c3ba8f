/**
 * add (Keras Add): element-wise sum of two or more inputs of the same shape (NumPy broadcasting is accepted;
 * a broadcast input's gradient is summed back to its shape). Backward: each input receives `dy`.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { OpKernel } from './types.ts';
import { expectArity, fmtShape, KernelError, tidy, unbroadcast } from './util.ts';

/** The add kernel. No params. */
export const addKernel: OpKernel<'add'> = {
  op: 'add',
  forward(node, inputs, params) {
    expectArity(node, inputs, [2, 64], params, 0);
    let y: tf.Tensor;
    try {
      y = tidy(() => {
        const same = inputs.every((t) => t.rank === inputs[0].rank && t.shape.every((d, i) => d === inputs[0].shape[i]));
        if (same) return inputs.length === 2 ? tf.add(inputs[0], inputs[1]) : tf.addN(inputs);
        return inputs.slice(1).reduce((acc, t) => tf.add(acc, t), inputs[0]);
      });
    } catch {
      throw new KernelError(node, `inputs cannot be added: shapes ${inputs.map((t) => fmtShape(t.shape)).join(', ')}`);
    }
    return { outputs: [y], saved: [], meta: inputs.map((t) => t.shape) };
  },
  backward(_node, [dy], fwd, _params, needs) {
    const shapes = fwd.meta as number[][];
    return { dInputs: shapes.map((s, i) => (needs.inputs[i] ? unbroadcast(dy, s) : null)), dParams: [] };
  },
};
