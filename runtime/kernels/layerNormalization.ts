/**
 * layerNormalization (Keras LayerNormalization, axis −1): x `[batch, …, c]` → y of the same shape, each row
 * normalised over its last axis. Params `[gamma?, beta?]` (`scale`, `center`), each `[c]`. Per-sample, so no
 * cross-shard reduction is needed.
 *   μ = mean(x);  σ² = mean((x − μ)²) (biased);  x̂ = (x − μ)/√(σ² + ε);  y = γ·x̂ + β
 * Backward, with g = γ·dy (Ba, Kiros & Hinton 2016; the standard derivation):
 *   dx = (g − mean(g) − x̂·mean(g·x̂)) / √(σ² + ε);  dγ = Σ_rows dy·x̂;  dβ = Σ_rows dy
 */
import * as tf from '@tensorflow/tfjs-core';
import type { OpKernel } from './types.ts';
import { expectArity, expectRank, expectShape, KernelError, sumRows, tidy } from './util.ts';

/** Row means of `[rows, c]` as `[rows, 1]`, via a matrix product with `1/c` (fast on wasm). */
function rowMean(t: tf.Tensor2D): tf.Tensor2D {
  return tidy(() => tf.matMul(t, tf.fill([t.shape[1], 1], 1 / t.shape[1])));
}

/** The layerNormalization kernel (see the module comment). */
export const layerNormalizationKernel: OpKernel<'layerNormalization'> = {
  op: 'layerNormalization',
  forward(node, inputs, params) {
    const a = node.attrs;
    expectArity(node, inputs, 1, params, (a.scale ? 1 : 0) + (a.center ? 1 : 0));
    const [x] = inputs;
    expectRank(node, x, 'input', [2, 8], '[batch, …, features]');
    if (x.dtype !== 'float32') throw new KernelError(node, `input must be float32, got ${x.dtype}`);
    const c = x.shape[x.rank - 1];
    const gamma = a.scale ? params[0] : null;
    const beta = a.center ? params[a.scale ? 1 : 0] : null;
    if (gamma) expectShape(node, gamma, 'gamma', [c]);
    if (beta) expectShape(node, beta, 'beta', [c]);
    return tidy(() => {
      const x2 = tf.reshape(x, [-1, c]) as tf.Tensor2D;
      const xc = tf.sub(x2, rowMean(x2)) as tf.Tensor2D;
      const inv = tf.rsqrt(tf.add(rowMean(tf.square(xc)), a.epsilon));
      const xhat = tf.mul(xc, inv);
      let y: tf.Tensor = xhat;
      if (gamma) y = tf.mul(y, gamma);
      if (beta) y = tf.add(y, beta);
      return { outputs: [tf.reshape(y, x.shape)], saved: [xhat, inv], meta: x.shape };
    });
  },
  backward(node, [dy], fwd, params, needs) {
    const a = node.attrs;
    const [xhat, inv] = fwd.saved as [tf.Tensor2D, tf.Tensor2D];
    const gamma = a.scale ? params[0] : null;
    return tidy(() => {
      const c = xhat.shape[1];
      const dy2 = tf.reshape(dy, [-1, c]) as tf.Tensor2D;
      const dParams: (tf.Tensor | null)[] = [];
      if (a.scale) dParams.push(needs.params[0] ? sumRows(tf.mul(dy2, xhat) as tf.Tensor2D) : null);
      if (a.center) dParams.push(needs.params[a.scale ? 1 : 0] ? sumRows(dy2) : null);
      let dx: tf.Tensor | null = null;
      if (needs.inputs[0]) {
        const g = (gamma ? tf.mul(dy2, gamma) : dy2) as tf.Tensor2D;
        const inner = tf.sub(tf.sub(g, rowMean(g)), tf.mul(xhat, rowMean(tf.mul(g, xhat) as tf.Tensor2D)));
        dx = tf.reshape(tf.mul(inner, inv), fwd.meta as number[]);
      }
      return { dInputs: [dx], dParams };
    });
  },
};
