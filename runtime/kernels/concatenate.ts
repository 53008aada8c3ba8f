/**
 * concatenate (Keras Concatenate): joins inputs along `axis` (negative counts from the end; default −1 in
 * Keras). Backward splits the gradient into the inputs' sizes along that axis.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { OpKernel } from './types.ts';
import { expectArity, fmtShape, KernelError, normAxis } from './util.ts';

/** The concatenate kernel. No params.
 * @throws KernelError when ranks differ or non-concatenated dimensions disagree. */
export const concatenateKernel: OpKernel<'concatenate'> = {
  op: 'concatenate',
  forward(node, inputs, params) {
    expectArity(node, inputs, [1, 1024], params, 0);
    const rank = inputs[0].rank;
    const axis = normAxis(node, node.attrs.axis, rank);
    for (const t of inputs) {
      if (t.rank !== rank || t.shape.some((d, i) => i !== axis && d !== inputs[0].shape[i])) {
        throw new KernelError(node, `inputs must agree on every axis but ${axis}: ${inputs.map((u) => fmtShape(u.shape)).join(', ')}`);
      }
    }
    const y = inputs.length === 1 ? inputs[0] : tf.concat(inputs, axis);
    return { outputs: [y], saved: [], meta: { axis, sizes: inputs.map((t) => t.shape[axis]) } };
  },
  backward(_node, [dy], fwd, _params, needs) {
    const { axis, sizes } = fwd.meta as { axis: number; sizes: number[] };
    if (sizes.length === 1) return { dInputs: [needs.inputs[0] ? dy : null], dParams: [] };
    if (!needs.inputs.some(Boolean)) return { dInputs: sizes.map(() => null), dParams: [] };
    const parts = tf.split(dy, sizes, axis);
    const dInputs = parts.map((p, i) => {
      if (needs.inputs[i]) return p;
      p.dispose();
      return null;
    });
    return { dInputs, dParams: [] };
  },
};
