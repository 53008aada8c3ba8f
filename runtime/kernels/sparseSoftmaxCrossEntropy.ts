/**
 * sparseSoftmaxCrossEntropy (TF `sparse_softmax_cross_entropy_with_logits`, mean reduction): inputs
 * `[labels [batch, …] or [batch, …, 1] int, logits [batch, …, classes]]` → scalar
 *   L = Σ_rows (logsumexp(z) − z[label]) / (globalBatch · rows per sample).
 * Backward: `dz = (softmax(z) − onehot(label)) · dL / count`; labels get no gradient. Float labels are
 * truncated to integers (Keras casts them).
 */
import * as tf from '@tensorflow/tfjs-core';
import { UserError } from '../errors.ts';
import { globalCount } from './loss_util.ts';
import type { OpKernel } from './types.ts';
import { expectArity, fmtShape, KernelError, tidy } from './util.ts';

/** The sparseSoftmaxCrossEntropy kernel. No params.
 * @throws KernelError when labels do not match the logits' leading shape; UserError naming the loss and the
 *   label when a label is outside [0, classes). */
export const sparseSoftmaxCrossEntropyKernel: OpKernel<'sparseSoftmaxCrossEntropy'> = {
  op: 'sparseSoftmaxCrossEntropy',
  forward(node, inputs, params, ctx) {
    expectArity(node, inputs, 2, params, 0);
    const [labels, logits] = inputs;
    if (logits.rank < 2) throw new KernelError(node, `logits must be [batch, …, classes], got ${fmtShape(logits.shape)}`);
    const lead = logits.shape.slice(0, -1);
    const ls = labels.shape;
    const ok =
      (ls.length === lead.length && ls.every((d, i) => d === lead[i])) ||
      (ls.length === lead.length + 1 && ls[ls.length - 1] === 1 && lead.every((d, i) => d === ls[i]));
    if (!ok) throw new KernelError(node, `labels of shape ${fmtShape(ls)} do not match logits of shape ${fmtShape(logits.shape)} (expected ${fmtShape(lead)})`);
    const classes = logits.shape[logits.rank - 1];
    const count = globalCount(node, logits, ctx, true);
    const lab = tidy(() => (labels.dtype === 'int32' ? tf.reshape(labels, [-1]) : tf.cast(tf.reshape(labels, [-1]), 'int32'))) as tf.Tensor1D;
    const values = lab.dataSync();
    for (let i = 0; i < values.length; i++) {
      if (values[i] < 0 || values[i] >= classes) {
        lab.dispose();
        // Bad data, not a csrun bug: a UserError, which compute workers pass on as one line.
        throw new UserError(`loss '${node.name}' (sparseSoftmaxCrossEntropy): label ${values[i]} at position ${i} of the batch is outside [0, ${classes}); labels must be class ids 0…${classes - 1} (check the labels of inputFn, or the logits' units)`);
      }
    }
    return tidy(() => {
      const z = tf.reshape(logits, [-1, classes]);
      const logp = tf.sub(z, tf.logSumExp(z, 1, true));
      const onehot = tf.cast(tf.oneHot(lab, classes), 'float32');
      lab.dispose();
      const loss = tf.div(tf.neg(tf.sum(tf.mul(onehot, logp))), count);
      return { outputs: [loss], saved: [tf.exp(logp), onehot], meta: { count, shape: logits.shape } };
    });
  },
  backward(_node, [dL], fwd, _params, needs) {
    if (!needs.inputs[1]) return { dInputs: [null, null], dParams: [] };
    const [p, onehot] = fwd.saved;
    const { count, shape } = fwd.meta as { count: number; shape: number[] };
    const dz = tidy(() => tf.reshape(tf.mul(tf.sub(p, onehot), tf.div(dL, count)), shape));
    return { dInputs: [null, dz], dParams: [] };
  },
};
