/**
 * transpose (tf.transpose): permutes the axes, `y.shape[i] = x.shape[perm[i]]`, the batch axis staying first.
 * Backward: the gradient transposed by the inverse permutation.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { OpKernel } from './types.ts';
import { expectArity, KernelError } from './util.ts';

/** The inverse of a permutation. */
export function inversePerm(perm: readonly number[]): number[] {
  const inv = new Array<number>(perm.length);
  perm.forEach((p, i) => (inv[p] = i));
  return inv;
}

/** The transpose kernel. No params.
 * @throws KernelError when `perm` is not a permutation of the input's axes. */
export const transposeKernel: OpKernel<'transpose'> = {
  op: 'transpose',
  forward(node, inputs, params) {
    expectArity(node, inputs, 1, params, 0);
    const [x] = inputs;
    const { perm } = node.attrs;
    const ok = perm.length === x.rank && [...perm].sort((a, b) => a - b).every((p, i) => p === i);
    if (!ok) throw new KernelError(node, `perm ${JSON.stringify(perm)} is not a permutation of the ${x.rank} axes of the input`);
    return { outputs: [tf.transpose(x, perm)], saved: [] };
  },
  backward(node, [dy], _fwd, _params, needs) {
    return { dInputs: [needs.inputs[0] ? tf.transpose(dy, inversePerm(node.attrs.perm)) : null], dParams: [] };
  },
};
