/**
 * matMul (tf.matMul): batched matrix product on the last two axes, `C = op(A) · op(B)` with op = transpose
 * where `transposeA` / `transposeB` say so; the leading axes broadcast (equal or 1). Backward (C = A'B'):
 * `dA' = dC · B'ᵀ`, `dB' = A'ᵀ · dC`, mapped back through the transposes and summed over broadcast axes.
 *
 * wasm facts (`README.md`, docs/design.md §12): `BatchMatMul` runs on XNNPACK only for one untransposed batch,
 * otherwise in a scalar loop (~3 GFLOP/s against ~38); so transposes are explicit (transpose, then a plain
 * product), and {@link batchMatMul} runs large per-batch products as separate 2-D products.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { OpKernel } from './types.ts';
import { broadcastShape } from './binary_util.ts';
import { broadcastTo, expectArity, fmtShape, KernelError, tidy, unbroadcast } from './util.ts';

/**
 * Per-batch size `m·k·n` from which {@link batchMatMul} runs one 2-D XNNPACK product per batch instead of the
 * scalar batched loop. Measured (one core): 128 batches of 64×32×64 (131 k): batched 26 ms, per batch 34 ms;
 * 48 batches of 128×64×128 (1 M): batched 61 ms, per batch 26 ms. A per-batch call costs ~0.1 ms of
 * overhead, against ~0.25 ns per MAC saved.
 */
export const PER_BATCH_MACS = 262144;

/** Swaps the last two axes. */
export function transposeLast(t: tf.Tensor): tf.Tensor {
  const perm = Array.from({ length: t.rank }, (_, i) => i);
  perm[t.rank - 2] = t.rank - 1;
  perm[t.rank - 1] = t.rank - 2;
  return tf.transpose(t, perm);
}

/**
 * Plain batched product `a · b` of `[n, m, k]` and `[n, k, p]` → `[n, m, p]` (no transposes, no
 * broadcasting), choosing the fastest wasm path (see {@link PER_BATCH_MACS}).
 */
export function batchMatMul(a: tf.Tensor3D, b: tf.Tensor3D): tf.Tensor3D {
  const [n, m, k] = a.shape;
  const p = b.shape[2];
  return tidy(() => {
    if (n === 1) return tf.reshape(tf.matMul(tf.reshape(a, [m, k]) as tf.Tensor2D, tf.reshape(b, [k, p]) as tf.Tensor2D), [1, m, p]) as tf.Tensor3D;
    if (m * k * p < PER_BATCH_MACS) return tf.matMul(a, b);
    const parts: tf.Tensor[] = [];
    for (let i = 0; i < n; i++) {
      const ai = tf.reshape(tf.slice(a, [i, 0, 0], [1, m, k]), [m, k]) as tf.Tensor2D;
      const bi = tf.reshape(tf.slice(b, [i, 0, 0], [1, k, p]), [k, p]) as tf.Tensor2D;
      parts.push(tf.matMul(ai, bi));
    }
    return tf.stack(parts) as tf.Tensor3D;
  });
}

/** `a · b` for tensors `[…lead, m, k]` and `[…lead, k, p]` with equal leading axes (any rank ≥ 2). */
export function leadingMatMul(a: tf.Tensor, b: tf.Tensor): tf.Tensor {
  return tidy(() => {
    const lead = a.shape.slice(0, -2);
    const [m, k] = a.shape.slice(-2);
    const p = b.shape[b.rank - 1];
    const y = batchMatMul(tf.reshape(a, [-1, m, k]) as tf.Tensor3D, tf.reshape(b, [-1, k, p]) as tf.Tensor3D);
    return tf.reshape(y, [...lead, m, p]);
  });
}

interface MatMulMeta {
  lead: number[];
}

/** The matMul kernel. No params.
 * @throws KernelError when an input is not float32 or of rank < 2, the ranks differ, the leading axes do not
 *   broadcast, or the inner dimensions disagree (naming both shapes). */
export const matMulKernel: OpKernel<'matMul'> = {
  op: 'matMul',
  forward(node, inputs, params) {
    expectArity(node, inputs, 2, params, 0);
    const [a, b] = inputs;
    const { transposeA, transposeB } = node.attrs;
    const shapes = `${fmtShape(a.shape)}${transposeA ? 'ᵀ' : ''} · ${fmtShape(b.shape)}${transposeB ? 'ᵀ' : ''}`;
    if (a.dtype !== 'float32' || b.dtype !== 'float32') throw new KernelError(node, `inputs must be float32, got ${a.dtype} and ${b.dtype}`);
    if (a.rank < 2 || a.rank !== b.rank) throw new KernelError(node, `inputs must have the same rank ≥ 2, got ${shapes}`);
    const ka = a.shape[a.rank - (transposeA ? 2 : 1)];
    const kb = b.shape[b.rank - (transposeB ? 1 : 2)];
    if (ka !== kb) throw new KernelError(node, `inner dimensions differ (${ka} vs ${kb}): ${shapes}`);
    const lead = broadcastShape(node, [a.shape.slice(0, -2), b.shape.slice(0, -2)]);
    const y = tidy(() => {
      const a2 = broadcastTo(a, [...lead, ...a.shape.slice(-2)]);
      const b2 = broadcastTo(b, [...lead, ...b.shape.slice(-2)]);
      return leadingMatMul(transposeA ? transposeLast(a2) : a2, transposeB ? transposeLast(b2) : b2);
    });
    const meta: MatMulMeta = { lead };
    return { outputs: [y], saved: [a, b], meta };
  },
  backward(node, [dy], fwd, _params, needs) {
    const { transposeA: tA, transposeB: tB } = node.attrs;
    const [a, b] = fwd.saved;
    const { lead } = fwd.meta as MatMulMeta;
    return tidy(() => {
      const A = broadcastTo(a, [...lead, ...a.shape.slice(-2)]);
      const B = broadcastTo(b, [...lead, ...b.shape.slice(-2)]);
      let dA: tf.Tensor | null = null;
      let dB: tf.Tensor | null = null;
      if (needs.inputs[0]) {
        // C = A'B': dA' = dC·B'ᵀ; with transposeA, dA = dA'ᵀ = B'·dCᵀ
        dA = tA ? leadingMatMul(tB ? transposeLast(B) : B, transposeLast(dy)) : leadingMatMul(dy, tB ? B : transposeLast(B));
        dA = unbroadcast(dA, a.shape);
      }
      if (needs.inputs[1]) {
        // dB' = A'ᵀ·dC; with transposeB, dB = dB'ᵀ = dCᵀ·A'
        dB = tB ? leadingMatMul(transposeLast(dy), tA ? transposeLast(A) : A) : leadingMatMul(tA ? A : transposeLast(A), dy);
        dB = unbroadcast(dB, b.shape);
      }
      return { dInputs: [dA, dB], dParams: [] };
    });
  },
};
