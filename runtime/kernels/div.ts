/**
 * div (tf.div): `y = a / b` element-wise with broadcasting; either operand may be a constant
 * ({@link BinaryAttrs}). Backward: `da = dy / b`, `db = −dy · y / b` (= −dy·a/b²), each summed back to its
 * operand's shape.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { OpKernel } from './types.ts';
import { binaryDInputs, binaryOperands, operandsOf } from './binary_util.ts';
import { tidy, unbroadcast } from './util.ts';

/** The div kernel. No params.
 * @throws KernelError when the shapes do not broadcast or an input is not float32. */
export const divKernel: OpKernel<'div'> = {
  op: 'div',
  forward(node, inputs, params) {
    const [a, b] = binaryOperands(node, inputs, params);
    const y = tf.div(a, b);
    return { outputs: [y], saved: [y, ...inputs] };
  },
  backward(node, [dy], fwd, _params, needs) {
    const [y, ...tensors] = fwd.saved;
    const [a, b] = operandsOf(node, tensors);
    const grad = (k: 0 | 1) =>
      tidy(() => (k === 0 ? unbroadcast(tf.div(dy, b), (a as tf.Tensor).shape) : unbroadcast(tf.neg(tf.div(tf.mul(dy, y), b)), (b as tf.Tensor).shape)));
    return { dInputs: binaryDInputs(node, needs.inputs, grad), dParams: [] };
  },
};
