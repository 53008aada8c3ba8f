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
 * Gradient of a convolution with respect to its filter, `dW[a,b,ci,co] = Σ_{n,i,j} x[n, i·s + a·d − pt, …, ci] ·
 * dy[n,i,j,co]`, computed with the wasm `Conv2D` kernel: x `[N,H,W,Ci]` → `[Ci,H,W,N]` is convolved with
 * dy `[N,Ho,Wo,Co]` → `[Ho,Wo,N,Co]` used as a filter, with stride = the forward dilation and dilation = the
 * forward stride, and the forward's top/left padding; the result `[Ci, ≥kh, ≥kw, Co]` is cropped and
 * transposed to `[kh, kw, Ci, Co]`. Exact (same products, different summation order).
 *
 * Where the time goes (MNIST conv2d_1, x `[64, 26, 26, 32]`, dy `[64, 24, 24, 64]`, one core, min of 6–8 calls,
 * side by side): 80 ms in all = transpose of x 7.4 + transpose of dy 1.1 + the `Conv2D` 53 ms when its filter
 * tensor is reused (12.8 GMAC/s) or 70 ms with a new one (XNNPACK packs a new 2.4 M-element filter on every
 * call, ~17 ms; a `MatMul`'s right operand likewise). Slower alternatives measured against it: im2col + one
 * matMul 87–89 ms (the 9 patch slices alone 18 ms: a wasm `Slice`, even of contiguous rows, is a copy);
 * 9 matMuls of shifted row windows sharing the zero-padded dy 80 ms; K split into 8–32 chunks 100–630 ms (each
 * chunk a new right operand, packed again); a 3-axis `[N, HW, C] → [C, HW, N]` transpose of x 5.3 ms (not
 * worth a second code path). For the first MNIST conv (Ci 1) im2col + one matMul is faster (weight gradient
 * 8.8–9.2 → 7.3–7.4 ms in `npm run bench:roofline`, ~0.7% of a step), but the other summation order changed
 * the training trajectory: `npx csrun train_and_eval examples/mnist` ended at 97.53% test accuracy against
 * 98.31% with this form (one run each, side by side), so it was not kept.
 * @param x  forward input `[N, H, W, Ci]`.
 * @param dy output gradient `[N, Ho, Wo, Co]`.
 * @returns `[kh, kw, Ci, Co]`.
 */
export function conv2dFilterGrad(x: tf.Tensor4D, dy: tf.Tensor4D, g: ConvGeometry): tf.Tensor4D {
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
