/**
 * dropout (Keras Dropout, inverted): in training `y = x · mask`, mask elements 0 or `1/(1 − rate)`; identity
 * otherwise. The mask comes from the counter-based generator of `../random.ts`, keyed by (graph seed, step,
 * node index, GLOBAL sample index, element index): it does not depend on how the batch is split over shards,
 * and re-running step S (e.g. after resuming from a checkpoint) reproduces it. Backward: `dx = dy · mask`.
 */
import * as tf from '@tensorflow/tfjs-core';
import { dropoutMask } from '../random.ts';
import type { OpKernel } from './types.ts';
import { expectArity, expectRank, KernelError, perSample } from './util.ts';

/** The dropout kernel (see the module comment). No params. */
export const dropoutKernel: OpKernel<'dropout'> = {
  op: 'dropout',
  forward(node, inputs, params, ctx) {
    expectArity(node, inputs, 1, params, 0);
    const [x] = inputs;
    expectRank(node, x, 'input', [1, 8], '[batch, …]');
    const rate = node.attrs.rate;
    if (!(rate >= 0 && rate < 1)) throw new KernelError(node, `rate must be in [0, 1), got ${rate}`);
    if (!(node.attrs.training && ctx.training) || rate === 0) return { outputs: [x], saved: [], meta: false };
    if (x.dtype !== 'float32') throw new KernelError(node, `input must be float32, got ${x.dtype}`);
    const data = dropoutMask(ctx.seed, ctx.step, ctx.nodeIndex, ctx.sampleOffset, x.shape[0], perSample(x), rate);
    const mask = tf.tensor(data, x.shape);
    return { outputs: [tf.mul(x, mask)], saved: [mask], meta: true };
  },
  backward(_node, [dy], fwd, _params, needs) {
    if (!needs.inputs[0]) return { dInputs: [null], dParams: [] };
    if (!fwd.meta) return { dInputs: [dy], dParams: [] };
    return { dInputs: [tf.mul(dy, fwd.saved[0])], dParams: [] };
  },
};
