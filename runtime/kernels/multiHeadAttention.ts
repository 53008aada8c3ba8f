/**
 * multiHeadAttention (Keras MultiHeadAttention, rank-3 inputs; attrs and params in `OpAttrs.multiHeadAttention`
 * of `../graph.ts`). With H heads, for query `[B, T, Dq]`, value `[B, S, Dv]`, key `[B, S, Dk]`:
 *
 *   Q = rope(x_q W_q + b_q) / √keyDim,  K = rope(x_k W_k + b_k),  V = x_v W_v + b_v  (per head: `[B·H, ·, e]`)
 *   A = Q Kᵀ `[B·H, T, S]`;  A' = A·m + (−1e9)·(1 − m)  (m: causal ∧ attention mask, Keras Softmax masking)
 *   P = softmax(A') over S;  P' = dropout(P);  C = P' V;  y = concat_h(C) W_o + b_o  `[B, T, outputDim]`
 *
 * as Keras computes it (query scaled after its projection, then the dot product). `rope` is the identity unless
 * `rotaryDim` > 0: GPT-J's rotary embedding (`apply_rotary_position_embedding` with `rotate_every_two`) on the
 * first rotaryDim dimensions of each head, `rope(x) = x·C + (x R)·S` with C/S the cos/sin of `t·10000^(−2j/r)`
 * repeated over each pair (1/0 beyond rotaryDim) and R the pair rotation `(x₀, x₁) → (−x₁, x₀)`, a 2-D product
 * (wasm's strided slices are slow); its backward is `dx = dy·C + (dy·S) Rᵀ`. Backward, in reverse:
 * `dC = dy W_oᵀ`, `dP' = dC Vᵀ`, `dV = P'ᵀ dC`, `dP = dP'·mask_drop`, `dA = softmax'(dP)·m`, `dQ = dA K / √keyDim`,
 * `dK = dAᵀ Q`, and each projection's `dW = xᵀ dz`, `db = Σ_rows dz`, `dx = dz Wᵀ`. Every product is a plain
 * (untransposed) matMul after explicit transposes (`matMul.ts`: `batchMatMul`); the dropout mask is keyed by the
 * global sample index (`../random.ts`), so it does not depend on the shard split.
 */
import * as tf from '@tensorflow/tfjs-core';
import { dropoutMask } from '../random.ts';
import type { OpAttrs } from '../graph.ts';
import type { OpKernel } from './types.ts';
import { batchMatMul, transposeLast } from './matMul.ts';
import { softmaxBackward } from './softmax.ts';
import { conditionMask } from './where.ts';
import { expectArity, expectRank, expectShape, fmtShape, KernelError, sumRows, tidy } from './util.ts';

/** The value masked scores are set to (Keras `_large_negative_number` for float32). */
export const MASKED_SCORE = -1e9;

/** Index of each parameter in `node.params` (biases absent without useBias). */
function paramIndex(useBias: boolean): { wq: number; bq: number; wk: number; bk: number; wv: number; bv: number; wo: number; bo: number } {
  return useBias ? { wq: 0, bq: 1, wk: 2, bk: 3, wv: 4, bv: 5, wo: 6, bo: 7 } : { wq: 0, bq: -1, wk: 1, bk: -1, wv: 2, bv: -1, wo: 3, bo: -1 };
}

/** `[B, L, H, e]` ↔ `[B·H, L, e]`. */
function toHeads(z2: tf.Tensor, b: number, l: number, h: number, e: number): tf.Tensor3D {
  return tf.reshape(tf.transpose(tf.reshape(z2, [b, l, h, e]), [0, 2, 1, 3]), [b * h, l, e]) as tf.Tensor3D;
}
function fromHeads(z3: tf.Tensor, b: number, l: number, h: number, e: number): tf.Tensor2D {
  return tf.reshape(tf.transpose(tf.reshape(z3, [b, h, l, e]), [0, 2, 1, 3]), [b * l, h * e]) as tf.Tensor2D;
}

/**
 * `x2 · W + b` for x2 `[rows, Din]`, W `[Din, H, e]` (or `[H, e, Dout]` flattened the same way), b. A bias of
 * rank 2 is added separately: wasm `_FusedMatMul` reads the bias rank from the tensor's data, which a reshape
 * shares, and rejects it (`README.md`).
 */
function project(x2: tf.Tensor2D, w: tf.Tensor, bias: tf.Tensor | null): tf.Tensor2D {
  const w2 = tf.reshape(w, [x2.shape[1], -1]) as tf.Tensor2D;
  if (bias && bias.rank === 1) return tf.fused.matMul({ a: x2, b: w2, bias }) as tf.Tensor2D;
  const z = tf.matMul(x2, w2);
  return (bias ? tf.add(z, tf.reshape(bias, [-1])) : z) as tf.Tensor2D;
}

/** Gradients of {@link project}: `[dx2 | null, dW | null, db | null]`. */
function projectBackward(dz2: tf.Tensor2D, x2: tf.Tensor2D, w: tf.Tensor, bias: tf.Tensor | null, need: [boolean, boolean, boolean]): (tf.Tensor | null)[] {
  const din = x2.shape[1];
  const dx = need[0] ? tf.matMul(dz2, tf.transpose(tf.reshape(w, [din, -1]))) : null;
  const dw = need[1] ? tf.reshape(tf.matMul(tf.transpose(x2), dz2), w.shape) : null;
  const db = bias && need[2] ? tf.reshape(sumRows(dz2), bias.shape) : null;
  return [dx, dw, db];
}

/** The combined 0/1 mask `[B or 1, 1, T, S]` of the causal mask and the attention-mask input, or null. */
function combinedMask(a: OpAttrs['multiHeadAttention'], maskInput: tf.Tensor | undefined, t: number, s: number): tf.Tensor | null {
  if (!a.useCausalMask && !maskInput) return null;
  return tidy(() => {
    let m: tf.Tensor | null = null;
    if (a.useCausalMask) {
      // Keras _compute_causal_mask: position t attends to s when t ≥ s
      const c = new Float32Array(t * s);
      for (let i = 0; i < t; i++) for (let j = 0; j <= Math.min(i, s - 1); j++) c[i * s + j] = 1;
      m = tf.tensor4d(c, [1, 1, t, s]);
    }
    if (maskInput) {
      const am = tf.reshape(conditionMask(maskInput), [maskInput.shape[0], 1, t, s]);
      m = m ? tf.mul(m, am) : am;
    }
    return m!;
  });
}

/** GPT-J rotary tables for positions 0…l−1 on heads of size e, rotating the first r dimensions (see the module
 * comment): C, S `[l, e]`, R and Rᵀ `[e, e]`. */
interface Rope {
  c: tf.Tensor2D;
  s: tf.Tensor2D;
  r: tf.Tensor2D;
  rT: tf.Tensor2D;
}
function ropeTables(l: number, e: number, r: number): Rope {
  const c = new Float32Array(l * e).fill(1);
  const s = new Float32Array(l * e);
  for (let t = 0; t < l; t++) {
    for (let j = 0; j < r / 2; j++) {
      const angle = t * Math.pow(10000, -(2 * j) / r);
      c[t * e + 2 * j] = c[t * e + 2 * j + 1] = Math.cos(angle);
      s[t * e + 2 * j] = s[t * e + 2 * j + 1] = Math.sin(angle);
    }
  }
  const rot = new Float32Array(e * e);
  const rotT = new Float32Array(e * e);
  for (let i = 0; i < r / 2; i++) {
    // out[2i] = −x[2i+1], out[2i+1] = x[2i]: R[2i+1, 2i] = −1, R[2i, 2i+1] = 1
    rot[(2 * i + 1) * e + 2 * i] = -1;
    rot[2 * i * e + 2 * i + 1] = 1;
    rotT[2 * i * e + 2 * i + 1] = -1;
    rotT[(2 * i + 1) * e + 2 * i] = 1;
  }
  return { c: tf.tensor2d(c, [l, e]), s: tf.tensor2d(s, [l, e]), r: tf.tensor2d(rot, [e, e]), rT: tf.tensor2d(rotT, [e, e]) };
}

/** `x·C + (x R)·S` for heads `[n, l, e]` (forward with R, backward with Rᵀ). */
function applyRope(x: tf.Tensor3D, cs: tf.Tensor2D, sn: tf.Tensor2D, rot: tf.Tensor2D): tf.Tensor3D {
  const [n, l, e] = x.shape;
  const xr = tf.reshape(tf.matMul(tf.reshape(x, [n * l, e]) as tf.Tensor2D, rot), [n, l, e]);
  return tf.add(tf.mul(x, cs), tf.mul(xr, sn)) as tf.Tensor3D;
}
function ropeBackward(dy: tf.Tensor3D, rope: Rope): tf.Tensor3D {
  const [n, l, e] = dy.shape;
  const back = tf.reshape(tf.matMul(tf.reshape(tf.mul(dy, rope.s), [n * l, e]) as tf.Tensor2D, rope.rT), [n, l, e]);
  return tf.add(tf.mul(dy, rope.c), back) as tf.Tensor3D;
}

interface MhaMeta {
  b: number;
  t: number;
  s: number;
  /** Saved-tensor positions. */
  hasMask: boolean;
  hasDrop: boolean;
}

/** The multiHeadAttention kernel (see the module comment).
 * @throws KernelError naming the node and the shapes when inputs or params do not fit the attributes. */
export const multiHeadAttentionKernel: OpKernel<'multiHeadAttention'> = {
  op: 'multiHeadAttention',
  forward(node, inputs, params, ctx) {
    const a = node.attrs;
    expectArity(node, inputs, a.hasAttentionMask ? 4 : 3, params, a.useBias ? 8 : 4);
    const [q, v, k, maskIn] = inputs;
    for (const [x, what] of [[q, 'query'], [v, 'value'], [k, 'key']] as const) {
      expectRank(node, x, what, 3, '[batch, sequence, features]');
      if (x.dtype !== 'float32') throw new KernelError(node, `${what} must be float32, got ${x.dtype}`);
    }
    const [b, t, dq] = q.shape as [number, number, number];
    const [, s, dv] = v.shape as [number, number, number];
    const dk = k.shape[2] as number;
    if (v.shape[0] !== b || k.shape[0] !== b || k.shape[1] !== s) {
      throw new KernelError(node, `query ${fmtShape(q.shape)}, value ${fmtShape(v.shape)} and key ${fmtShape(k.shape)} must share the batch, and key and value the sequence length`);
    }
    if (maskIn) expectShape(node, maskIn, 'attention mask', [b, t, s]);
    const { numHeads: h, keyDim: ek, valueDim: ev, outputDim: dout } = a;
    const ix = paramIndex(a.useBias);
    const p = (i: number) => (i < 0 ? null : params[i]);
    expectShape(node, params[ix.wq], 'query kernel', [dq, h, ek]);
    expectShape(node, params[ix.wk], 'key kernel', [dk, h, ek]);
    expectShape(node, params[ix.wv], 'value kernel', [dv, h, ev]);
    expectShape(node, params[ix.wo], 'output kernel', [h, ev, dout]);
    const scale = 1 / Math.sqrt(ek);
    const drop = a.training && ctx.training && a.dropout > 0;
    if (a.rotaryDim) {
      if (a.rotaryDim % 2 !== 0 || a.rotaryDim > ek) throw new KernelError(node, `rotaryDim ${a.rotaryDim} must be even and at most keyDim ${ek}`);
      if (s !== t) throw new KernelError(node, `rotary embeddings need query and key of one length, got ${t} and ${s}`);
    }
    return tidy(() => {
      const rope = a.rotaryDim ? ropeTables(t, ek, a.rotaryDim) : null;
      const rot = (x: tf.Tensor3D) => (rope ? applyRope(x, rope.c, rope.s, rope.r) : x);
      const q2 = tf.reshape(q, [b * t, dq]) as tf.Tensor2D;
      const k2 = tf.reshape(k, [b * s, dk]) as tf.Tensor2D;
      const v2 = tf.reshape(v, [b * s, dv]) as tf.Tensor2D;
      const Q = tf.mul(rot(toHeads(project(q2, params[ix.wq], p(ix.bq)), b, t, h, ek)), scale) as tf.Tensor3D;
      const K = rot(toHeads(project(k2, params[ix.wk], p(ix.bk)), b, s, h, ek));
      const V = toHeads(project(v2, params[ix.wv], p(ix.bv)), b, s, h, ev);
      let scores: tf.Tensor = batchMatMul(Q, transposeLast(K) as tf.Tensor3D);
      const m = combinedMask(a, maskIn, t, s);
      if (m) {
        const s4 = tf.reshape(scores, [b, h, t, s]);
        scores = tf.reshape(tf.add(tf.mul(s4, m), tf.mul(tf.sub(1, m), MASKED_SCORE)), [b * h, t, s]);
      }
      const P = tf.softmax(scores) as tf.Tensor3D;
      let Pd = P;
      let dmask: tf.Tensor | null = null;
      if (drop) {
        dmask = tf.tensor3d(dropoutMask(ctx.seed, ctx.step, ctx.nodeIndex, ctx.sampleOffset, b, h * t * s, a.dropout), [b * h, t, s]);
        Pd = tf.mul(P, dmask) as tf.Tensor3D;
      }
      const C2 = fromHeads(batchMatMul(Pd, V), b, t, h, ev);
      const y = tf.reshape(project(C2, params[ix.wo], p(ix.bo)), [b, t, dout]);
      const saved = [q2, k2, v2, Q, K, V, P, C2, ...(m ? [m] : []), ...(dmask ? [dmask] : [])];
      const meta: MhaMeta = { b, t, s, hasMask: !!m, hasDrop: !!dmask };
      return { outputs: [y], saved, meta };
    });
  },
  backward(node, [dy], fwd, params, needs) {
    const a = node.attrs;
    const { b, t, s, hasMask, hasDrop } = fwd.meta as MhaMeta;
    const [q2, k2, v2, Q, K, V, P, C2, ...rest] = fwd.saved as [tf.Tensor2D, tf.Tensor2D, tf.Tensor2D, tf.Tensor3D, tf.Tensor3D, tf.Tensor3D, tf.Tensor3D, tf.Tensor2D, ...tf.Tensor[]];
    const m = hasMask ? rest[0] : null;
    const dmask = hasDrop ? rest[hasMask ? 1 : 0] : null;
    const { numHeads: h, keyDim: ek, valueDim: ev, outputDim: dout } = a;
    const ix = paramIndex(a.useBias);
    const p = (i: number) => (i < 0 ? null : params[i]);
    const np = (i: number) => i >= 0 && needs.params[i];
    const scale = 1 / Math.sqrt(ek);
    return tidy(() => {
      const dParams: (tf.Tensor | null)[] = params.map(() => null);
      const put = (i: number, g: tf.Tensor | null) => {
        if (i >= 0) dParams[i] = g;
      };
      const dy2 = tf.reshape(dy, [b * t, dout]) as tf.Tensor2D;
      const [dC2, dWo, dbo] = projectBackward(dy2, C2, params[ix.wo], p(ix.bo), [true, np(ix.wo), np(ix.bo)]);
      put(ix.wo, dWo);
      put(ix.bo, dbo);
      const dC = toHeads(dC2!, b, t, h, ev);
      const Pd = dmask ? (tf.mul(P, dmask) as tf.Tensor3D) : P;
      const dV = batchMatMul(transposeLast(Pd) as tf.Tensor3D, dC);
      let dP: tf.Tensor = batchMatMul(dC, transposeLast(V) as tf.Tensor3D);
      if (dmask) dP = tf.mul(dP, dmask);
      let dA = softmaxBackward(dP, P, 2);
      if (m) dA = tf.reshape(tf.mul(tf.reshape(dA, [b, h, t, s]), m), [b * h, t, s]);
      const rope = a.rotaryDim ? ropeTables(t, ek, a.rotaryDim) : null;
      const unrot = (d: tf.Tensor3D) => (rope ? ropeBackward(d, rope) : d);
      const dQ = unrot(tf.mul(batchMatMul(dA as tf.Tensor3D, K), scale) as tf.Tensor3D);
      const dK = unrot(batchMatMul(transposeLast(dA) as tf.Tensor3D, Q));
      const dInputs: (tf.Tensor | null)[] = [null, null, null, ...(a.hasAttentionMask ? [null] : [])];
      const heads: [number, tf.Tensor, tf.Tensor2D, number, number, number, number, number][] = [
        // input index, head gradient, saved input, W, b, length, head size, input width
        [0, dQ, q2, ix.wq, ix.bq, t, ek, q2.shape[1]],
        [2, dK, k2, ix.wk, ix.bk, s, ek, k2.shape[1]],
        [1, dV, v2, ix.wv, ix.bv, s, ev, v2.shape[1]],
      ];
      for (const [inp, dz, x2, wi, bi, len, e, din] of heads) {
        const [dx, dw, db] = projectBackward(fromHeads(dz, b, len, h, e), x2, params[wi], p(bi), [needs.inputs[inp], np(wi), np(bi)]);
        dInputs[inp] = dx ? tf.reshape(dx, [b, len, din]) : null;
        put(wi, dw);
        put(bi, db);
      }
      return { dInputs, dParams };
    });
  },
};
