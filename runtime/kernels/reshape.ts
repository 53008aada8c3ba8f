/**
 * reshape (Keras Reshape): x `[batch, …]` → `[batch, ...targetShape]` (row-major; one entry of `targetShape`
 * may be −1 and is inferred). Backward reshapes the gradient back.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { OpKernel } from './types.ts';
import { expectArity, expectRank, fmtShape, KernelError, perSample } from './util.ts';

/** The reshape kernel. No params.
 * @throws KernelError when the per-sample sizes differ or `targetShape` has more than one −1. */
export const reshapeKernel: OpKernel<'reshape'> = {
  op: 'reshape',
  forward(node, inputs, params) {
    expectArity(node, inputs, 1, params, 0);
    const [x] = inputs;
    expectRank(node, x, 'input', [1, 8], '[batch, …]');
    const target = node.attrs.targetShape;
    const n = perSample(x);
    const known = target.filter((d) => d !== -1).reduce((p, d) => p * d, 1);
    const unknown = target.filter((d) => d === -1).length;
    if (unknown > 1 || (unknown === 0 && known !== n) || (unknown === 1 && (known === 0 || n % known !== 0))) {
      throw new KernelError(node, `cannot reshape samples of shape ${fmtShape(x.shape.slice(1))} (${n} elements) to ${fmtShape(target)}`);
    }
    const shape = [x.shape[0], ...target.map((d) => (d === -1 ? n / known : d))];
    return { outputs: [tf.reshape(x, shape)], saved: [], meta: x.shape };
  },
  backward(_node, [dy], fwd, _params, needs) {
    return { dInputs: [needs.inputs[0] ? tf.reshape(dy, fwd.meta as number[]) : null], dParams: [] };
  },
};
