/**
 * activation (Keras Activation layer): `y = f(x)` element-wise (softmax: over the last axis); forward and
 * derivative from `./activation_util.ts`.
 */
import type * as tf from '@tensorflow/tfjs-core';
import { getActivation } from './activation_util.ts';
import type { OpKernel } from './types.ts';
import { expectArity, KernelError } from './util.ts';

/** The activation kernel. No params.
 * @throws KernelError for an unknown activation name or a non-float input. */
export const activationKernel: OpKernel<'activation'> = {
  op: 'activation',
  forward(node, inputs, params) {
    expectArity(node, inputs, 1, params, 0);
    let act;
    try {
      act = getActivation(node.attrs.activation);
    } catch (e) {
      throw new KernelError(node, (e as Error).message);
    }
    const [x] = inputs;
    if (x.dtype !== 'float32') throw new KernelError(node, `input must be float32, got ${x.dtype}`);
    const y = act.forward(x);
    const saved: tf.Tensor[] = act.uses === 'input' ? [x] : act.uses === 'output' ? [y] : [];
    return { outputs: [y], saved };
  },
  backward(node, [dy], fwd, _params, needs) {
    if (!needs.inputs[0]) return { dInputs: [null], dParams: [] };
    const act = getActivation(node.attrs.activation);
    const v = fwd.saved[0] ?? null;
    return { dInputs: [act.backward(dy, act.uses === 'input' ? v : null, act.uses === 'output' ? v : null)], dParams: [] };
  },
};
