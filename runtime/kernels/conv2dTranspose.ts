/**
 * conv2dTranspose (Keras Conv2DTranspose, channels-last): `y = act(convᵀ(x, W) + b)`, x `[batch, h, w, cin]`,
 * W `[kh, kw, filters, cin]` (Keras layout: output channels before input channels), b `[filters]`, y
 * `[batch, ho, wo, filters]` with ho = h·s ('same') or (h − 1)·s + kh ('valid'), likewise wo (Keras
 * `deconv_output_length`, no output padding).
 *
 * A transposed convolution is the input gradient of the convolution that maps y-space to x-space with kernel W
 * (`tf.nn.conv2d_transpose` = `Conv2DBackpropInput`). With that convolution's geometry g (input `[batch, ho, wo,
 * filters]`, TF padding rules), all three passes reuse the conv2d kernel's exact XNNPACK-backed pieces:
 *  - forward: `conv2dInputGrad(x, W, g)`;
 *  - input gradient: the convolution itself, `conv2d(dz, W, strides, g's padding)`;
 *  - filter gradient: `conv2dFilterGrad(dz, x, g)` (the roles of input and output gradient swap);
 *  - bias: Σ over batch, rows and columns.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { GraphNode } from '../graph.ts';
import { getActivation } from './activation_util.ts';
import { conv2dFilterGrad, conv2dInputGrad, convGeometry, type ConvGeometry } from './conv2d.ts';
import type { OpKernel } from './types.ts';
import { expectArity, expectRank, expectShape, KernelError, sumToLast, tidy } from './util.ts';

/** Output rows or columns of a transposed convolution (Keras `deconv_output_length`, output_padding None). */
export function deconvOutSize(n: number, k: number, s: number, padding: 'valid' | 'same'): number {
  return padding === 'same' ? n * s : (n - 1) * s + k;
}

interface Meta {
  geometry: ConvGeometry;
  savedKind: 'output' | 'input' | 'none';
}

function check(node: GraphNode<'conv2dTranspose'>, x: tf.Tensor, params: tf.Tensor[]): ConvGeometry {
  const a = node.attrs;
  expectArity(node, [x], 1, params, a.useBias ? 2 : 1);
  expectRank(node, x, 'input', 4, '[batch, h, w, channels]');
  const [n, h, w, cin] = x.shape as [number, number, number, number];
  expectShape(node, params[0], 'kernel', [a.kernelSize[0], a.kernelSize[1], a.filters, cin]);
  if (a.useBias) expectShape(node, params[1], 'bias', [a.filters]);
  const ho = deconvOutSize(h, a.kernelSize[0], a.strides[0], a.padding);
  const wo = deconvOutSize(w, a.kernelSize[1], a.strides[1], a.padding);
  const g = convGeometry([n, ho, wo, a.filters], a.kernelSize, a.strides, [1, 1], a.padding);
  if (g.outHeight !== h || g.outWidth !== w) {
    throw new KernelError(node, `kernel ${a.kernelSize.join('×')} with strides ${a.strides.join('×')} and padding '${a.padding}' does not invert to an input of ${h}×${w}`);
  }
  return g;
}

/** The conv2dTranspose kernel (see the module comment). Params `[kernel, bias?]`. */
export const conv2dTransposeKernel: OpKernel<'conv2dTranspose'> = {
  op: 'conv2dTranspose',
  forward(node, [x], params) {
    const a = node.attrs;
    const g = check(node, x, params);
    const act = getActivation(a.activation);
    const [w, b] = params;
    return tidy(() => {
      let z: tf.Tensor = conv2dInputGrad(x as tf.Tensor4D, w as tf.Tensor4D, g);
      if (a.useBias) z = tf.add(z, b);
      const y = act.forward(z);
      const meta: Meta = { geometry: g, savedKind: act.uses };
      const saved = act.uses === 'output' ? [x, y] : act.uses === 'input' ? [x, z] : [x];
      return { outputs: [y], saved, meta };
    });
  },
  backward(node, [dy], fwd, params, needs) {
    const a = node.attrs;
    const { geometry: g, savedKind } = fwd.meta as Meta;
    const act = getActivation(a.activation);
    const [x, v] = fwd.saved as [tf.Tensor4D, tf.Tensor4D | undefined];
    return tidy(() => {
      const dz = act.backward(dy, savedKind === 'input' ? v! : null, savedKind === 'output' ? v! : null) as tf.Tensor4D;
      const dW = needs.params[0] ? conv2dFilterGrad(dz, x, g) : null;
      const db = a.useBias && needs.params[1] ? sumToLast(dz) : null;
      const pad: [[number, number], [number, number], [number, number], [number, number]] = [[0, 0], [g.pad.top, g.pad.bottom], [g.pad.left, g.pad.right], [0, 0]];
      const dx = needs.inputs[0] ? tf.conv2d(dz, params[0] as tf.Tensor4D, a.strides, pad) : null;
      return { dInputs: [dx], dParams: a.useBias ? [dW, db] : [dW] };
    });
  },
};
