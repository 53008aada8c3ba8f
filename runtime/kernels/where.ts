/**
 * where (tf.where): `y = condition ? x : y` element-wise with broadcasting (attrs `{ x?, y? }` of
 * `../graph.ts`: constants in place of tensor operands). The condition is float32 or int32; nonzero selects x.
 *
 * The wasm `Select` kernel is slow (~50 ms for 2.4 M elements, `README.md`), so the selection is arithmetic
 * on a 0/1 mask m = step(|c|): `y = x·m + y·(1 − m)`, exact for finite operands (one term is an exact zero).
 * Backward: `dx = dy·m`, `dy_y = dy·(1 − m)`, each summed back to its operand's shape; the condition gets none.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { OpKernel } from './types.ts';
import { checkBroadcast } from './binary_util.ts';
import { expectArity, fmtShape, KernelError, tidy, unbroadcast } from './util.ts';

/** The 0/1 float32 mask of a condition tensor (nonzero → 1). */
export function conditionMask(c: tf.Tensor): tf.Tensor {
  return tidy(() => tf.step(tf.abs(c.dtype === 'float32' ? c : tf.cast(c, 'float32'))));
}

/** The where kernel. No params.
 * @throws KernelError when the shapes do not broadcast or x / y are not float32. */
export const whereKernel: OpKernel<'where'> = {
  op: 'where',
  forward(node, inputs, params) {
    const { x: cx, y: cy } = node.attrs;
    const nTensors = (cx === undefined ? 1 : 0) + (cy === undefined ? 1 : 0);
    expectArity(node, inputs, 1 + nTensors, params, 0);
    const [cond, ...rest] = inputs;
    for (const t of rest) if (t.dtype !== 'float32') throw new KernelError(node, `x and y must be float32, got ${t.dtype} ${fmtShape(t.shape)}`);
    checkBroadcast(node, inputs);
    const x = cx ?? rest[0];
    const y = cy ?? rest[cx === undefined ? 1 : 0];
    return tidy(() => {
      const m = conditionMask(cond);
      const out = tf.add(tf.mul(x, m), tf.mul(y, tf.sub(1, m)));
      return { outputs: [out], saved: [m], meta: rest.map((t) => t.shape) };
    });
  },
  backward(node, [dy], fwd, _params, needs) {
    const [m] = fwd.saved;
    const shapes = fwd.meta as number[][];
    const dInputs: (tf.Tensor | null)[] = [null];
    let k = 0;
    for (const which of ['x', 'y'] as const) {
      if (node.attrs[which] !== undefined) continue;
      const shape = shapes[k++];
      const i = dInputs.length;
      dInputs.push(needs.inputs[i] ? tidy(() => unbroadcast(which === 'x' ? tf.mul(dy, m) : tf.mul(dy, tf.sub(1, m)), shape)) : null);
    }
    return { dInputs, dParams: [] };
  },
};
