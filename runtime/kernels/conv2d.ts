/**
 * conv2d: `y = act(conv(x, W) + b)`, x `[batch, h, w, cin]`, W `[kh, kw, cin, cout]`, b `[cout]`,
 * y `[batch, ho, wo, cout]` (Keras Conv2D, channels-last; TF padding rules for 'same').
 *
 * Forward runs one `FusedConv2D` (XNNPACK) with bias and, when tfjs can fuse it, the activation, with explicit
 * padding (see the forward for a wasm 'same' padding bug).
 * Gradients, all built from the fast wasm `Conv2D` kernel (see docs/design.md §12):
 *  - filter: `Conv2DBackpropFilter` is missing on wasm; {@link conv2dFilterGrad} computes it as a
 *    convolution of the transposed input with the transposed output gradient;
 *  - input: the wasm `Conv2DBackpropInput` is naive loops (~10× slower); {@link conv2dInputGrad} convolves
 *    the (zero-upsampled, when strided) output gradient with the spatially flipped kernel — exact;
 *  - bias: Σ over batch, rows and columns.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { GraphNode } from '../graph.ts';
import { getActivation } from './activation_util.ts';
import type { OpKernel } from './types.ts';
import { expectArity, expectRank, expectShape, KernelError, sumToLast, tidy } from './util.ts';

type ExplicitPad = [[number, number], [number, number], [number, number], [number, number]];

/** Geometry of one 2-D convolution or pooling window (TF rules). */
export interface ConvGeometry {
  /** Input `[batch, h, w, c]`. */
  inShape: [number, number, number, number];
  kernel: [number, number];
  strides: [number, number];
  dilations: [number, number];
  /** Output rows and columns. */
  outHeight: number;
  outWidth: number;
  /** Implicit zero padding on each side (TF 'same': total = max((out−1)·s + (k−1)·d + 1 − in, 0), top = ⌊total/2⌋). */
  pad: { top: number; bottom: number; left: number; right: number };
}

/**
 * Output size and padding of a window op (TF `GetWindowedOutputSize`):
 * 'valid': out = ⌈(in − (k−1)·d) / s⌉;  'same': out = ⌈in / s⌉, padding split with the extra row/column at
 * the bottom/right.
 * @throws Error if the window does not fit ('valid' with input smaller than the dilated window).
 */
export function convGeometry(
  inShape: readonly number[],
  kernel: readonly [number, number],
  strides: readonly [number, number],
  dilations: readonly [number, number],
  padding: 'valid' | 'same',
): ConvGeometry {
  const [, h, w] = inShape;
  const ekh = (kernel[0] - 1) * dilations[0] + 1;
  const ekw = (kernel[1] - 1) * dilations[1] + 1;
  let outHeight: number, outWidth: number, top = 0, bottom = 0, left = 0, right = 0;
  if (padding === 'valid') {
    outHeight = Math.ceil((h - ekh + 1) / strides[0]);
    outWidth = Math.ceil((w - ekw + 1) / strides[1]);
  } else {
    outHeight = Math.ceil(h / strides[0]);
    outWidth = Math.ceil(w / strides[1]);
    const ph = Math.max((outHeight - 1) * strides[0] + ekh - h, 0);
    const pw = Math.max((outWidth - 1) * strides[1] + ekw - w, 0);
    top = Math.floor(ph / 2);
    bottom = ph - top;
    left = Math.floor(pw / 2);
    right = pw - left;
  }
  if (outHeight < 1 || outWidth < 1) {
    throw new Error(
      `window ${kernel[0]}×${kernel[1]} (dilation ${dilations.join('×')}) does not fit an input of ${h}×${w} with padding 'valid'`,
    );
  }
  return {
    inShape: [inShape[0], h, w, inShape[3]],
    kernel: [kernel[0], kernel[1]],
    strides: [strides[0], strides[1]],
    dilations: [dilations[0], dilations[1]],
    outHeight,
    outWidth,
    pad: { top, bottom, left, right },
  };
}

/**
 * Inserts `s − 1` zeros between rows and columns: `[n, h, w, c]` → `[n, (h−1)·sh + 1, (w−1)·sw + 1, c]`,
 * `out[:, i·sh, j·sw, :] = t[:, i, j, :]`. Built from reshape + pad (no scatter).
 */
export function zeroUpsample(t: tf.Tensor4D, sh: number, sw: number): tf.Tensor4D {
  if (sh === 1 && sw === 1) return t;
  return tidy(() => {
    const [n, h, w, c] = t.shape;
    const r = tf.reshape(t, [n, h, 1, w, 1, c]);
    const p = tf.pad(r, [[0, 0], [0, 0], [0, sh - 1], [0, 0], [0, sw - 1], [0, 0]]);
    const u = tf.reshape(p, [n, h * sh, w * sw, c]);
    return tf.slice(u, [0, 0, 0, 0], [n, (h - 1) * sh + 1, (w - 1) * sw + 1, c]) as tf.Tensor4D;
  });
}

/**
 * Largest patch `kh·kw·Ci` for which a stride-1 filter gradient runs as im2col + one matMul
 * ({@link conv2dFilterGradIm2col}) rather than as a convolution. Measured by `npm run bench:roofline` and a
 * side-by-side of both forms (one core, batch 64, 3×3, 28×28 input, Co 32; ms): Ci 1: conv 7.8, im2col 2.6;
 * Ci 3: 10.3 / 5.8; Ci 8: 15.3 / 14.6; Ci 16: 26.3 / 35.7; Ci 32: 46.9 / 74.4 (the 9 slices building the
 * patches cost more than XNNPACK's conv form saves once Ci grows).
 */
export const IM2COL_MAX_PATCH = 36;

/**
 * Filter gradient of a stride-1 convolution as im2col + one plain matMul: with the input padded as the forward
 * pads it and transposed to `[Ci, N, Hp, Wp]`, each kernel position (a, b) contributes the slice
 * `[Ci, N, ho, wo]` at rows a·dh, columns b·dw; stacked they form patchesᵀ `[kh·kw·Ci, N·ho·wo]`, and
 * `dW = patchesᵀ · dy[N·ho·wo, Co]` is `[kh, kw, Ci, Co]` by a reshape. Same products as
 * {@link conv2dFilterGrad}, summed in another order.
 * @param x  forward input `[N, H, W, Ci]`.
 * @param dy output gradient `[N, ho, wo, Co]`.
 * @returns `[kh, kw, Ci, Co]`.
 * @throws Error if the geometry has a stride other than 1.
 */
export function conv2dFilterGradIm2col(x: tf.Tensor4D, dy: tf.Tensor4D, g: ConvGeometry): tf.Tensor4D {
  if (g.strides[0] !== 1 || g.strides[1] !== 1) throw new Error(`conv2dFilterGradIm2col: stride ${g.strides.join('×')}, expected 1×1`);
  return tidy(() => {
    const [n, H, W, ci] = x.shape;
    const [, ho, wo, co] = dy.shape;
    const [kh, kw] = g.kernel;
    const [dh, dw] = g.dilations;
    const bottom = Math.max(0, ho + (kh - 1) * dh - H - g.pad.top);
    const right = Math.max(0, wo + (kw - 1) * dw - W - g.pad.left);
    const padded = g.pad.top || bottom || g.pad.left || right;
    const xp = padded ? tf.pad(x, [[0, 0], [g.pad.top, bottom], [g.pad.left, right], [0, 0]]) : x;
    const xT = tf.transpose(xp, [3, 0, 1, 2]);
    const rows: tf.Tensor[] = [];
    for (let a = 0; a < kh; a++) {
      for (let b = 0; b < kw; b++) rows.push(tf.reshape(tf.slice(xT, [0, 0, a * dh, b * dw], [ci, n, ho, wo]), [ci, n * ho * wo]));
    }
    const patchesT = (rows.length === 1 ? rows[0] : tf.concat(rows, 0)) as tf.Tensor2D;
    return tf.reshape(tf.matMul(patchesT, tf.reshape(dy, [n * ho * wo, co]) as tf.Tensor2D), [kh, kw, ci, co]) as tf.Tensor4D;
  });
}

/**
 * Gradient of a convolution with respect to its filter, `dW[a,b,ci,co] = Σ_{n,i,j} x[n, i·s + a·d − pt, …, ci] ·
 * dy[n,i,j,co]`, computed with the wasm `Conv2D` kernel: x `[N,H,W,Ci]` → `[Ci,H,W,N]` is convolved with
 * dy `[N,Ho,Wo,Co]` → `[Ho,Wo,N,Co]` used as a filter, with stride = the forward dilation and dilation = the
 * forward stride, and the forward's top/left padding; the result `[Ci, ≥kh, ≥kw, Co]` is cropped and
 * transposed to `[kh, kw, Ci, Co]`. Exact (same products, different summation order). Stride-1 convolutions with a
 * patch `kh·kw·Ci` ≤ {@link IM2COL_MAX_PATCH} go through {@link conv2dFilterGradIm2col} (faster there).
 * @param x  forward input `[N, H, W, Ci]`.
 * @param dy output gradient `[N, Ho, Wo, Co]`.
 * @returns `[kh, kw, Ci, Co]`.
 */
export function conv2dFilterGrad(x: tf.Tensor4D, dy: tf.Tensor4D, g: ConvGeometry): tf.Tensor4D {
  if (g.strides[0] === 1 && g.strides[1] === 1 && g.kernel[0] * g.kernel[1] * x.shape[3] <= IM2COL_MAX_PATCH) return conv2dFilterGradIm2col(x, dy, g);
  return tidy(() => {
    const [, H, W, ci] = x.shape;
    const [, ho, wo, co] = dy.shape;
    const [kh, kw] = g.kernel;
    const [sh, sw] = g.strides;
    const [dh, dw] = g.dilations;
    const xT = tf.transpose(x, [3, 1, 2, 0]);
    const dyT = tf.transpose(dy, [1, 2, 0, 3]);
    const padBottom = Math.max(0, (kh - 1) * dh + (ho - 1) * sh + 1 - H - g.pad.top);
    const padRight = Math.max(0, (kw - 1) * dw + (wo - 1) * sw + 1 - W - g.pad.left);
    const pad: ExplicitPad = [[0, 0], [g.pad.top, padBottom], [g.pad.left, padRight], [0, 0]];
    let r = tf.conv2d(xT, dyT as unknown as tf.Tensor4D, [dh, dw], pad, 'NHWC', [sh, sw]);
    if (r.shape[1] !== kh || r.shape[2] !== kw) r = tf.slice(r, [0, 0, 0, 0], [ci, kh, kw, co]);
    return tf.transpose(r, [1, 2, 0, 3]);
  });
}

/**
 * Gradient of a convolution with respect to its input: the output gradient, zero-upsampled by the stride, is
 * convolved (stride 1, the forward dilation) with the kernel flipped in both spatial axes and with in/out
 * channels swapped, padded by `(k−1)·d − pad_top` on top (likewise left) and so that the result has H rows.
 * Exact (same products as `Conv2DBackpropInput`), and runs on XNNPACK.
 * @param dy output gradient `[N, Ho, Wo, Co]`.
 * @param w  kernel `[kh, kw, Ci, Co]`.
 * @returns `[N, H, W, Ci]` with H, W of `g.inShape`.
 */
export function conv2dInputGrad(dy: tf.Tensor4D, w: tf.Tensor4D, g: ConvGeometry): tf.Tensor4D {
  return tidy(() => {
    const [n, H, W, ci] = g.inShape;
    const [kh, kw] = g.kernel;
    const [sh, sw] = g.strides;
    const [dh, dw] = g.dilations;
    const wf = tf.transpose(tf.reverse(w, [0, 1]), [0, 1, 3, 2]) as tf.Tensor4D;
    const dyz = zeroUpsample(dy, sh, sw);
    const top = (kh - 1) * dh - g.pad.top;
    const left = (kw - 1) * dw - g.pad.left;
    const bottom = H - dyz.shape[1] - top + (kh - 1) * dh;
    const right = W - dyz.shape[2] - left + (kw - 1) * dw;
    const pad: ExplicitPad = [[0, 0], [top, Math.max(0, bottom)], [left, Math.max(0, right)], [0, 0]];
    let dx = tf.conv2d(dyz, wf, 1, pad, 'NHWC', [dh, dw]);
    if (dx.shape[1] !== H || dx.shape[2] !== W) dx = tf.slice(dx, [0, 0, 0, 0], [n, H, W, ci]);
    return dx;
  });
}

interface ConvMeta {
  geometry: ConvGeometry;
  /** What `saved` holds: `[x, y]` (derivative from the output) or `[x, z]` (from the pre-activation). */
  savedKind: 'output' | 'input' | 'none';
}

function checkConv(node: GraphNode<'conv2d'>, x: tf.Tensor, params: tf.Tensor[]): ConvGeometry {
  const a = node.attrs;
  expectArity(node, [x], 1, params, a.useBias ? 2 : 1);
  expectRank(node, x, 'input', 4, '[batch, h, w, channels]');
  const cin = x.shape[3] as number;
  expectShape(node, params[0], 'kernel', [a.kernelSize[0], a.kernelSize[1], cin, a.filters]);
  if (a.useBias) expectShape(node, params[1], 'bias', [a.filters]);
  if ((a.strides[0] > 1 || a.strides[1] > 1) && (a.dilationRate[0] > 1 || a.dilationRate[1] > 1)) {
    throw new KernelError(node, `strides ${a.strides.join('×')} with dilationRate ${a.dilationRate.join('×')}: one of them must be 1 (as in Keras)`);
  }
  try {
    return convGeometry(x.shape, a.kernelSize, a.strides, a.dilationRate, a.padding);
  } catch (e) {
    throw new KernelError(node, (e as Error).message);
  }
}

/** The conv2d kernel (see the module comment). Params `[kernel, bias?]`. */
export const conv2dKernel: OpKernel<'conv2d'> = {
  op: 'conv2d',
  forward(node, [x], params) {
    const a = node.attrs;
    const g = checkConv(node, x, params);
    const act = getActivation(a.activation);
    const [w, b] = params;
    return tidy(() => {
      const fusedAct = act.fused ?? 'linear';
      const z = tf.fused.conv2d({
        x: x as tf.Tensor4D,
        filter: w as tf.Tensor4D,
        strides: a.strides,
        // Explicit pads: the wasm kernel's own 'same' (XNNPACK SAME flag) is wrong when the kernel is smaller
        // than the stride, e.g. 2-wide kernel, stride 3, width 9 (measured: errors ~10).
        pad: [[0, 0], [g.pad.top, g.pad.bottom], [g.pad.left, g.pad.right], [0, 0]],
        dilations: a.dilationRate,
        bias: a.useBias ? b : undefined,
        activation: fusedAct,
      });
      if (act.fused) {
        const meta: ConvMeta = { geometry: g, savedKind: act.uses === 'output' ? 'output' : 'none' };
        return { outputs: [z], saved: act.uses === 'output' ? [x, z] : [x], meta };
      }
      const y = act.forward(z);
      const meta: ConvMeta = { geometry: g, savedKind: act.uses };
      const saved = act.uses === 'output' ? [x, y] : act.uses === 'input' ? [x, z] : [x];
      return { outputs: [y], saved, meta };
    });
  },
  backward(node, [dy], fwd, params, needs) {
    const a = node.attrs;
    const { geometry: g, savedKind } = fwd.meta as ConvMeta;
    const act = getActivation(a.activation);
    const [x, v] = fwd.saved as [tf.Tensor4D, tf.Tensor4D | undefined];
    return tidy(() => {
      const dz = act.backward(dy, savedKind === 'input' ? v! : null, savedKind === 'output' ? v! : null) as tf.Tensor4D;
      const dW = needs.params[0] ? conv2dFilterGrad(x, dz, g) : null;
      const db = a.useBias && needs.params[1] ? sumToLast(dz) : null;
      const dx = needs.inputs[0] ? conv2dInputGrad(dz, params[0] as tf.Tensor4D, g) : null;
      return { dInputs: [dx], dParams: a.useBias ? [dW, db] : [dW] };
    });
  },
};
