/**
 * dense: `y = act(x · W + b)` on the last axis (Keras Dense): x `[batch, …, in]`, W `[in, units]`, b `[units]`,
 * y `[batch, …, units]`. Leading axes are flattened into rows for the matrix products.
 *
 * Forward is one `_FusedMatMul` (bias and, where tfjs can fuse it, the activation). Backward:
 * `dW = xᵀ · dz`, `db = Σ_rows dz`, `dx = dz · Wᵀ`, with explicit transposes followed by plain matMuls (wasm
 * runs transposed products in a scalar loop ~10× slower — docs/design.md §12); the row sum is
 * a `[1, rows] · [rows, units]` product, much faster on wasm than `Sum` over axis 0.
 */
import * as tf from '@tensorflow/tfjs-core';
import { getActivation } from './activation_util.ts';
import type { OpKernel } from './types.ts';
import { expectArity, expectRank, expectShape, KernelError, sumRows, tidy } from './util.ts';

interface DenseMeta {
  inShape: number[];
  savedKind: 'output' | 'input' | 'none';
}

/** The dense kernel (see the module comment). Params `[kernel, bias?]`. */
export const denseKernel: OpKernel<'dense'> = {
  op: 'dense',
  forward(node, inputs, params) {
    const a = node.attrs;
    expectArity(node, inputs, 1, params, a.useBias ? 2 : 1);
    const [x] = inputs;
    expectRank(node, x, 'input', [2, 8], '[batch, …, features]');
    const din = x.shape[x.rank - 1];
    expectShape(node, params[0], 'kernel', [din, a.units]);
    if (a.useBias) expectShape(node, params[1], 'bias', [a.units]);
    if (x.dtype !== 'float32') throw new KernelError(node, `input must be float32, got ${x.dtype}`);
    const act = getActivation(a.activation);
    return tidy(() => {
      const x2 = x.rank === 2 ? (x as tf.Tensor2D) : tf.reshape(x, [-1, din]) as tf.Tensor2D;
      const z2 = tf.fused.matMul({
        a: x2,
        b: params[0] as tf.Tensor2D,
        bias: a.useBias ? params[1] : undefined,
        activation: act.fused ?? 'linear',
      });
      const outShape = [...x.shape.slice(0, -1), a.units];
      const z = x.rank === 2 ? z2 : tf.reshape(z2, outShape);
      if (act.fused) {
        const kind = act.uses === 'output' ? 'output' : 'none';
        const meta: DenseMeta = { inShape: x.shape, savedKind: kind };
        return { outputs: [z], saved: kind === 'output' ? [x2, z] : [x2], meta };
      }
      const y = act.forward(z);
      const meta: DenseMeta = { inShape: x.shape, savedKind: act.uses };
      return { outputs: [y], saved: act.uses === 'output' ? [x2, y] : act.uses === 'input' ? [x2, z] : [x2], meta };
    });
  },
  backward(node, [dy], fwd, params, needs) {
    const a = node.attrs;
    const { inShape, savedKind } = fwd.meta as DenseMeta;
    const act = getActivation(a.activation);
    const [x2, v] = fwd.saved as [tf.Tensor2D, tf.Tensor | undefined];
    return tidy(() => {
      const dz = act.backward(dy, savedKind === 'input' ? v! : null, savedKind === 'output' ? v! : null);
      const dz2 = (dz.rank === 2 ? dz : tf.reshape(dz, [-1, a.units])) as tf.Tensor2D;
      const dW = needs.params[0] ? tf.matMul(tf.transpose(x2), dz2) : null;
      const db = a.useBias && needs.params[1] ? sumRows(dz2) : null;
      let dx: tf.Tensor | null = null;
      if (needs.inputs[0]) {
        dx = tf.matMul(dz2, tf.transpose(params[0] as tf.Tensor2D));
        if (inShape.length !== 2) dx = tf.reshape(dx, inShape);
      }
      return { dInputs: [dx], dParams: a.useBias ? [dW, db] : [dW] };
    });
  },
};
