/**
 * batchNormalization (Keras BatchNormalization, axis −1): x `[batch, …, c]` → y of the same shape,
 * normalised per channel over every other axis. Params `[gamma?, beta?, moving_mean, moving_variance]`
 * (gamma when `scale`, beta when `center`), each `[c]`.
 *
 * Training (`attrs.training` and a training step), over the GLOBAL batch of m = globalBatch · (elements per
 * sample / c) rows, with two all-reduces (two-pass, as `tf.moments`):
 *   μ = Σx / m;  σ² = Σ(x − μ)² / m (biased);  x̂ = (x − μ) / √(σ² + ε);  y = γ·x̂ + β
 *   moving_mean ← mm − (mm − μ)(1 − momentum);  moving_variance ← mv − (mv − σ²)(1 − momentum)
 * The moving variance takes the biased σ², exactly as tfjs-layers (`BatchNormalization.call`,
 * `doMovingAverage(movingVariance, variance)` with `variance` from `tf.moments`) and Keras 3 do; TF1's fused
 * kernel would apply Bessel's m/(m−1) instead.
 * Backward (one all-reduce of Σdy and Σdy·x̂ over shards):
 *   dx = γ/√(σ² + ε) · (dy − Σdy/m − x̂·Σ(dy·x̂)/m);  dγ = Σ dy·x̂;  dβ = Σ dy   (dγ, dβ: local sums)
 * Inference: the moving statistics replace μ, σ²; dx = γ/√(mv + ε) · dy.
 * Channel sums are `ones · X` matrix products (see `sumRows`).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { GraphNode } from '../graph.ts';
import type { BackwardResult, ForwardResult, KernelContext, OpKernel } from './types.ts';
import { expectArity, expectRank, expectShape, KernelError, sumRows, tidy } from './util.ts';

interface BnMeta {
  training: boolean;
  inShape: number[];
  /** Global row count m (training). */
  rows: number;
}

function paramLayout(node: GraphNode<'batchNormalization'>, params: tf.Tensor[]) {
  const a = node.attrs;
  let i = 0;
  const gamma = a.scale ? params[i++] : null;
  const beta = a.center ? params[i++] : null;
  return { gamma, beta, movingMean: params[i], movingVar: params[i + 1], count: i + 2 };
}

function check(node: GraphNode<'batchNormalization'>, inputs: tf.Tensor[], params: tf.Tensor[]) {
  const a = node.attrs;
  expectArity(node, inputs, 1, params, (a.scale ? 1 : 0) + (a.center ? 1 : 0) + 2);
  const [x] = inputs;
  expectRank(node, x, 'input', [2, 8], '[batch, …, channels]');
  if (x.dtype !== 'float32') throw new KernelError(node, `input must be float32, got ${x.dtype}`);
  const c = x.shape[x.rank - 1];
  const names = [...(a.scale ? ['gamma'] : []), ...(a.center ? ['beta'] : []), 'moving_mean', 'moving_variance'];
  params.forEach((p, i) => expectShape(node, p, names[i], [c]));
  return { x, c };
}

/** `out[i] = a[i] / d` as a float32 `[c]` tensor. */
function scaled(a: Float32Array, d: number): tf.Tensor1D {
  const r = new Float32Array(a.length);
  for (let i = 0; i < a.length; i++) r[i] = a[i] / d;
  return tf.tensor1d(r);
}

async function forwardTraining(
  node: GraphNode<'batchNormalization'>,
  x: tf.Tensor,
  c: number,
  params: tf.Tensor[],
  ctx: KernelContext,
): Promise<ForwardResult> {
  const a = node.attrs;
  const { gamma, beta, movingMean, movingVar } = paramLayout(node, params);
  const rowsPerSample = x.shape.slice(1, -1).reduce((p, d) => p * d, 1);
  const m = ctx.globalBatch * rowsPerSample;
  if (m < 1) throw new KernelError(node, `batch statistics need at least one row, got a global batch of ${ctx.globalBatch}`);
  const x2 = tf.reshape(x, [-1, c]) as tf.Tensor2D;
  let xc: tf.Tensor2D | undefined;
  try {
    const s1 = tidy(() => sumRows(x2).dataSync() as Float32Array);
    const sum = await ctx.allReduceSum(s1);
    const mean = scaled(sum, m);
    let s2: Float32Array;
    try {
      xc = tf.sub(x2, mean) as tf.Tensor2D;
      s2 = tidy(() => sumRows(tf.square(xc!)).dataSync() as Float32Array);
    } catch (e) {
      mean.dispose();
      throw e;
    }
    const sq = await ctx.allReduceSum(s2);
    return tidy(() => {
      const variance = scaled(sq, m);
      const inv = tf.rsqrt(tf.add(variance, a.epsilon));
      const xhat = tf.mul(xc!, inv);
      let y: tf.Tensor = xhat;
      if (gamma) y = tf.mul(y, gamma);
      if (beta) y = tf.add(y, beta);
      const decay = 1 - a.momentum;
      const newMean = tf.sub(movingMean, tf.mul(tf.sub(movingMean, mean), decay));
      const newVar = tf.sub(movingVar, tf.mul(tf.sub(movingVar, variance), decay));
      mean.dispose();
      const updates: (tf.Tensor | null)[] = [...(gamma ? [null] : []), ...(beta ? [null] : []), newMean, newVar];
      const meta: BnMeta = { training: true, inShape: x.shape, rows: m };
      return { outputs: [tf.reshape(y, x.shape)], saved: [xhat, inv], meta, paramUpdates: updates };
    });
  } finally {
    x2.dispose();
    xc?.dispose();
  }
}

function forwardInference(node: GraphNode<'batchNormalization'>, x: tf.Tensor, c: number, params: tf.Tensor[]): ForwardResult {
  const { gamma, beta, movingMean, movingVar } = paramLayout(node, params);
  return tidy(() => {
    const inv = tf.rsqrt(tf.add(movingVar, node.attrs.epsilon));
    const xhat = tf.mul(tf.sub(tf.reshape(x, [-1, c]), movingMean), inv);
    let y: tf.Tensor = xhat;
    if (gamma) y = tf.mul(y, gamma);
    if (beta) y = tf.add(y, beta);
    const meta: BnMeta = { training: false, inShape: x.shape, rows: 0 };
    return { outputs: [tf.reshape(y, x.shape)], saved: [xhat, inv], meta };
  });
}

/** The batchNormalization kernel (see the module comment). Async in training (two all-reduces). */
export const batchNormalizationKernel: OpKernel<'batchNormalization'> = {
  op: 'batchNormalization',
  forward(node, inputs, params, ctx) {
    const { x, c } = check(node, inputs, params);
    if (node.attrs.training && ctx.training) return forwardTraining(node, x, c, params, ctx);
    return forwardInference(node, x, c, params);
  },
  async backward(node, [dy], fwd, params, needs, ctx): Promise<BackwardResult> {
    const meta = fwd.meta as BnMeta;
    const [xhat, inv] = fwd.saved as [tf.Tensor2D, tf.Tensor1D];
    const { gamma, beta } = paramLayout(node, params);
    const c = xhat.shape[1];
    const dy2 = tf.reshape(dy, [-1, c]) as tf.Tensor2D;
    try {
      const wantSdy = (beta !== null && needs.params[gamma ? 1 : 0]) || (meta.training && needs.inputs[0]);
      const wantSdyx = (gamma !== null && needs.params[0]) || (meta.training && needs.inputs[0]);
      const sdy = wantSdy ? sumRows(dy2) : null;
      const sdyx = wantSdyx ? tidy(() => sumRows(tf.mul(dy2, xhat))) : null;
      const dParams: (tf.Tensor | null)[] = [];
      if (gamma) dParams.push(needs.params[0] ? sdyx : null);
      if (beta) dParams.push(needs.params[gamma ? 1 : 0] ? sdy : null);
      dParams.push(null, null);
      const unused = [sdy, sdyx].filter((t): t is tf.Tensor1D => t !== null && !dParams.includes(t));
      if (!needs.inputs[0]) {
        tf.dispose(unused);
        return { dInputs: [null], dParams };
      }
      let dx: tf.Tensor;
      if (!meta.training) {
        dx = tidy(() => tf.reshape(tf.mul(dy2, gamma ? tf.mul(gamma, inv) : inv), meta.inShape));
        tf.dispose(unused);
      } else {
        const local = new Float32Array(2 * c);
        local.set(sdy!.dataSync() as Float32Array, 0);
        local.set(sdyx!.dataSync() as Float32Array, c);
        tf.dispose(unused);
        const g = await ctx.allReduceSum(local);
        dx = tidy(() => {
          const meanDy = scaled(g.subarray(0, c), meta.rows);
          const meanDyx = scaled(g.subarray(c), meta.rows);
          const gi = gamma ? tf.mul(gamma, inv) : inv;
          return tf.reshape(tf.mul(tf.sub(tf.sub(dy2, meanDy), tf.mul(xhat, meanDyx)), gi), meta.inShape);
        });
      }
      return { dInputs: [dx], dParams };
    } finally {
      dy2.dispose();
    }
  },
};
