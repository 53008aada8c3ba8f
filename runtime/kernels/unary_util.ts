/**
 * A kernel for an element-wise float32 op whose derivative is a function of its output (sqrt, rsqrt): forward
 * `y = f(x)`, backward `dx = g(dy, y)`.
 */
import type * as tf from '@tensorflow/tfjs-core';
import type { OpName } from '../graph.ts';
import type { OpKernel } from './types.ts';
import { expectArity, KernelError, tidy } from './util.ts';

/** Op names whose attrs are empty, so a kernel of this shape fits them. */
type UnaryOp = 'sqrt' | 'rsqrt';

/**
 * Builds the kernel.
 * @param f  the forward op.
 * @param df the input gradient from the output gradient and the output.
 * @returns a kernel that throws KernelError for a non-float input.
 */
export function unaryKernel<K extends UnaryOp & OpName>(op: K, f: (x: tf.Tensor) => tf.Tensor, df: (dy: tf.Tensor, y: tf.Tensor) => tf.Tensor): OpKernel<K> {
  return {
    op,
    forward(node, inputs, params) {
      expectArity(node, inputs, 1, params, 0);
      if (inputs[0].dtype !== 'float32') throw new KernelError(node, `input must be float32, got ${inputs[0].dtype}`);
      const y = f(inputs[0]);
      return { outputs: [y], saved: [y] };
    },
    backward(_node, [dy], fwd, _params, needs) {
      if (!needs.inputs[0]) return { dInputs: [null], dParams: [] };
      return { dInputs: [tidy(() => df(dy, fwd.saved[0]))], dParams: [] };
    },
  };
}
