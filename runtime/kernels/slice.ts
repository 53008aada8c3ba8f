/**
 * slice (tf.slice): the sub-tensor starting at `begin` with `size` on every axis (`size[0] = −1`: the whole
 * batch). Backward: the gradient zero-padded back to the input's shape (wasm `Pad` is fast, `README.md`).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { OpKernel } from './types.ts';
import { expectArity, fmtShape, KernelError } from './util.ts';

/** The slice kernel. No params.
 * @throws KernelError when begin/size do not fit the input. */
export const sliceKernel: OpKernel<'slice'> = {
  op: 'slice',
  forward(node, inputs, params) {
    expectArity(node, inputs, 1, params, 0);
    const [x] = inputs;
    const { begin, size } = node.attrs;
    const sz = size.map((s, i) => (s === -1 ? x.shape[i] - begin[i] : s));
    const ok = begin.length === x.rank && size.length === x.rank && sz.every((s, i) => begin[i] >= 0 && s >= 0 && begin[i] + s <= x.shape[i]);
    if (!ok) throw new KernelError(node, `begin ${JSON.stringify(begin)} and size ${JSON.stringify(size)} do not fit the input ${fmtShape(x.shape)}`);
    return { outputs: [tf.slice(x, begin, sz)], saved: [], meta: { inShape: x.shape, sz } };
  },
  backward(node, [dy], fwd, _params, needs) {
    if (!needs.inputs[0]) return { dInputs: [null], dParams: [] };
    const { inShape, sz } = fwd.meta as { inShape: number[]; sz: number[] };
    const { begin } = node.attrs;
    const pads = inShape.map((d, i) => [begin[i], d - begin[i] - sz[i]] as [number, number]);
    return { dInputs: [tf.pad(dy, pads)], dParams: [] };
  },
};
