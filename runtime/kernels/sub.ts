/**
 * sub (tf.sub): `y = a − b` element-wise with broadcasting; either operand may be a constant
 * ({@link BinaryAttrs}). Backward: `da = dy`, `db = −dy`, each summed back to its operand's shape.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { OpKernel } from './types.ts';
import { binaryDInputs, binaryOperands, operandShape } from './binary_util.ts';
import { tidy, unbroadcast } from './util.ts';

/** The sub kernel. No params.
 * @throws KernelError when the shapes do not broadcast or an input is not float32. */
export const subKernel: OpKernel<'sub'> = {
  op: 'sub',
  forward(node, inputs, params) {
    const [a, b] = binaryOperands(node, inputs, params);
    return { outputs: [tf.sub(a, b)], saved: [], meta: [operandShape(a), operandShape(b)] };
  },
  backward(node, [dy], fwd, _params, needs) {
    const [sa, sb] = fwd.meta as number[][];
    const dInputs = binaryDInputs(node, needs.inputs, (k) => (k === 0 ? unbroadcast(dy, sa) : tidy(() => unbroadcast(tf.neg(dy), sb))));
    return { dInputs, dParams: [] };
  },
};
