/**
 * Window helpers shared by the pooling kernels: nearest-neighbour upsampling, per-offset window views and the
 * scatter of per-offset contributions back to input positions — all with tfjs-core ops that are fast on wasm
 * (measured: `ResizeNearestNeighbor`, `Pad`, element-wise ops and `MaxPool` run in ~1–3 ms on a
 * `[64, 24, 24, 64]` tensor, whereas comparisons, `where`, `minimum` and strided slices take 10–80 ms).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { ConvGeometry } from './conv2d.ts';
import { zeroUpsample } from './conv2d.ts';
import { tidy } from './util.ts';

/**
 * Repeats every element of `t` `kh × kw` times: `[n, ho, wo, c]` → `[n, ho·kh, wo·kw, c]`,
 * `out[:, i, j, :] = t[:, ⌊i/kh⌋, ⌊j/kw⌋, :]` (exact: `ResizeNearestNeighbor` with integer ratio, checked by
 * the kernel tests for factors 1–5).
 */
export function repeatUp(t: tf.Tensor4D, kh: number, kw: number): tf.Tensor4D {
  if (kh === 1 && kw === 1) return t;
  return tf.image.resizeNearestNeighbor(t, [t.shape[1] * kh, t.shape[2] * kw]);
}

/**
 * Brings a `[n, hp, wp, c]` tensor laid out on the window grid back to the input grid: rows `pt .. pt+h−1` and
 * columns `pl .. pl+w−1`, zero-filled where the grid is smaller than that range.
 */
export function gridToInput(t: tf.Tensor4D, g: ConvGeometry): tf.Tensor4D {
  const [n, h, w, c] = g.inShape;
  const { top, left } = g.pad;
  const [, hp, wp] = t.shape;
  if (top === 0 && left === 0 && hp === h && wp === w) return t;
  return tidy(() => {
    const rows = Math.min(hp - top, h);
    const cols = Math.min(wp - left, w);
    let r = tf.slice(t, [0, top, left, 0], [n, rows, cols, c]);
    if (rows < h || cols < w) r = tf.pad(r, [[0, 0], [0, h - rows], [0, w - cols], [0, 0]]);
    return r;
  });
}

/**
 * The input on the window grid of a non-overlapping pooling (stride = window): `[n, ho·kh, wo·kw, c]`, input
 * row `i` at grid row `i + pt`; grid cells outside the input hold `fill`, input rows/columns beyond the last
 * window are dropped.
 */
export function inputToGrid(x: tf.Tensor4D, g: ConvGeometry, fill: number): tf.Tensor4D {
  const [n, h, w, c] = g.inShape;
  const hp = g.outHeight * g.kernel[0];
  const wp = g.outWidth * g.kernel[1];
  const { top, left } = g.pad;
  if (top === 0 && left === 0 && hp === h && wp === w) return x;
  return tidy(() => {
    const rows = Math.min(h, hp - top);
    const cols = Math.min(w, wp - left);
    let r: tf.Tensor4D = rows < h || cols < w ? tf.slice(x, [0, 0, 0, 0], [n, rows, cols, c]) : x;
    const pb = hp - top - rows;
    const pr = wp - left - cols;
    if (top || left || pb || pr) r = tf.pad(r, [[0, 0], [top, pb], [left, pr], [0, 0]], fill);
    return r;
  });
}

/** True when windows tile the grid without overlap or gaps (stride = window size). */
export function nonOverlapping(g: ConvGeometry): boolean {
  return g.strides[0] === g.kernel[0] && g.strides[1] === g.kernel[1];
}

/**
 * Padded extent of the general window grid: large enough for every window, `[hp, wp]`.
 */
export function gridExtent(g: ConvGeometry): [number, number] {
  const [, h, w] = g.inShape;
  return [
    Math.max(h + g.pad.top + g.pad.bottom, (g.outHeight - 1) * g.strides[0] + g.kernel[0]),
    Math.max(w + g.pad.left + g.pad.right, (g.outWidth - 1) * g.strides[1] + g.kernel[1]),
  ];
}

/**
 * The values at window offset `(a, b)` of every window: `[n, ho, wo, c]` with
 * `out[:, i, j, :] = xp[:, i·sh + a, j·sw + b, :]`, where `xp` is the input padded onto the general grid
 * (see {@link padToGrid}).
 */
export function windowOffset(xp: tf.Tensor4D, g: ConvGeometry, a: number, b: number): tf.Tensor4D {
  const [sh, sw] = g.strides;
  const n = xp.shape[0];
  const c = xp.shape[3];
  return tf.stridedSlice(
    xp,
    [0, a, b, 0],
    [n, a + (g.outHeight - 1) * sh + 1, b + (g.outWidth - 1) * sw + 1, c],
    [1, sh, sw, 1],
  ) as tf.Tensor4D;
}

/** The input padded (with `fill`) onto the general window grid of {@link gridExtent}. */
export function padToGrid(x: tf.Tensor4D, g: ConvGeometry, fill: number): tf.Tensor4D {
  const [, h, w] = g.inShape;
  const [hp, wp] = gridExtent(g);
  return tf.pad(x, [[0, 0], [g.pad.top, hp - h - g.pad.top], [g.pad.left, wp - w - g.pad.left], [0, 0]], fill);
}

/**
 * Scatters per-offset window contributions back to input positions and sums them (the adjoint of
 * {@link windowOffset}): `dx[:, i·sh + a − pt, j·sw + b − pl, :] += contrib(a, b)[:, i, j, :]`.
 * @param contrib called once per offset `(a, b)` in row-major order; returns `[n, ho, wo, c]`.
 * @returns `[n, h, w, c]`.
 */
export function scatterWindows(g: ConvGeometry, contrib: (a: number, b: number) => tf.Tensor4D): tf.Tensor4D {
  return tidy(() => {
    const [hp, wp] = gridExtent(g);
    const [sh, sw] = g.strides;
    let acc: tf.Tensor4D | null = null;
    for (let a = 0; a < g.kernel[0]; a++) {
      for (let b = 0; b < g.kernel[1]; b++) {
        const u = zeroUpsample(contrib(a, b), sh, sw);
        const p: tf.Tensor4D = tf.pad(u, [[0, 0], [a, hp - a - u.shape[1]], [b, wp - b - u.shape[2]], [0, 0]]);
        acc = acc ? (tf.add(acc, p) as tf.Tensor4D) : p;
      }
    }
    return gridToInput(acc!, g);
  });
}

/**
 * Number of input (non-padding) elements in each window, `[1, ho, wo, 1]` (TF's divisor of average pooling
 * with 'same' padding).
 */
export function windowCounts(g: ConvGeometry): Float32Array {
  const [, h, w] = g.inShape;
  const out = new Float32Array(g.outHeight * g.outWidth);
  for (let i = 0; i < g.outHeight; i++) {
    const r0 = i * g.strides[0] - g.pad.top;
    const rows = Math.min(r0 + g.kernel[0], h) - Math.max(r0, 0);
    for (let j = 0; j < g.outWidth; j++) {
      const c0 = j * g.strides[1] - g.pad.left;
      const cols = Math.min(c0 + g.kernel[1], w) - Math.max(c0, 0);
      out[i * g.outWidth + j] = Math.max(rows, 0) * Math.max(cols, 0);
    }
  }
  return out;
}
