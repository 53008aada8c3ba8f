/**
 * mul (tf.mul): `y = a · b` element-wise with broadcasting; either operand may be a constant
 * ({@link BinaryAttrs}). Backward: `da = dy · b`, `db = dy · a`, each summed back to its operand's shape.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { OpKernel } from './types.ts';
import { binaryDInputs, binaryOperands, operandsOf } from './binary_util.ts';
import { tidy, unbroadcast } from './util.ts';

/** The mul kernel. No params.
 * @throws KernelError when the shapes do not broadcast or an input is not float32. */
export const mulKernel: OpKernel<'mul'> = {
  op: 'mul',
  forward(node, inputs, params) {
    const [a, b] = binaryOperands(node, inputs, params);
    return { outputs: [tf.mul(a, b)], saved: inputs.slice() };
  },
  backward(node, [dy], fwd, _params, needs) {
    const ops = operandsOf(node, fwd.saved);
    const grad = (k: 0 | 1) => {
      const other = ops[1 - k];
      const mine = ops[k] as tf.Tensor;
      return tidy(() => unbroadcast(tf.mul(dy, other), mine.shape));
    };
    return { dInputs: binaryDInputs(node, needs.inputs, grad), dParams: [] };
  },
};
