/**
 * gather (tf.gather) along `axis` ≥ 1, with constant indices shared by all samples (`attrs.indices`) or with
 * per-sample int32 indices `[batch, …]` as the second input (tf.gather with batchDims 1). Output shapes are in
 * `OpAttrs.gather` (`../graph.ts`).
 *
 * Both forms move the gathered axis first (per-sample: after the batch axis, folding batch and axis into one
 * row index `b·N + i`), gather rows with {@link gatherRows} (wasm `GatherNd`; `GatherV2` is ~30× slower and
 * crashes with batchDims 1, `README.md`) and transpose back. Backward: the rows scatter-added back with
 * {@link scatterRows} (duplicates sum), transposed back. Indices get no gradient.
 */
import * as tf from '@tensorflow/tfjs-core';
import { UserError } from '../errors.ts';
import type { OpKernel } from './types.ts';
import { inversePerm } from './transpose.ts';
import { expectArity, fmtShape, gatherRows, KernelError, normAxis, scatterRows, tidy } from './util.ts';

interface GatherMeta {
  /** Permutation applied to x before the row gather. */
  perm: number[];
  /** Shape of x after `perm`. */
  permShape: number[];
  /** Rows of the gather table (N, or batch·N). */
  rows: number;
  /** Permutation from the gathered layout to the output. */
  outPerm: number[];
  /** Shape of the gathered rows before `outPerm`. */
  gatheredShape: number[];
}

/** The gather kernel. No params.
 * @throws KernelError for a bad axis or indices of the wrong type; UserError naming the node, the index and the
 *   axis size when an index is out of range. */
export const gatherKernel: OpKernel<'gather'> = {
  op: 'gather',
  forward(node, inputs, params) {
    const constant = node.attrs.indices;
    expectArity(node, inputs, constant ? 1 : 2, params, 0);
    const [x, ind] = inputs;
    const axis = normAxis(node, node.attrs.axis, x.rank);
    if (axis === 0) throw new KernelError(node, 'cannot gather along the batch axis');
    const n = x.shape[axis];
    const others = x.shape.map((_, i) => i).filter((i) => i !== axis);
    const check = (values: ArrayLike<number>) => {
      for (let i = 0; i < values.length; i++) {
        const v = values[i];
        if (!(Number.isInteger(v) && v >= 0 && v < n)) throw new UserError(`node '${node.name}' (gather): index ${v} at position ${i} is outside [0, ${n}) (axis ${axis} of ${fmtShape(x.shape)})`);
      }
    };
    let meta: GatherMeta;
    let flat: Int32Array;
    if (constant) {
      check(constant);
      flat = Int32Array.from(constant);
      const perm = [axis, ...others];
      const permShape = perm.map((i) => x.shape[i]);
      const gatheredShape = [constant.length, ...permShape.slice(1)];
      // gathered [K, x0.., x(axis-1), x(axis+1)..] → output [x0.., K at axis, ..]
      const outPerm = [...Array.from({ length: axis }, (_, i) => i + 1), 0, ...Array.from({ length: x.rank - 1 - axis }, (_, i) => axis + 1 + i)];
      meta = { perm, permShape, rows: n, outPerm, gatheredShape };
    } else {
      if (ind.dtype !== 'int32') throw new KernelError(node, `indices must be int32, got ${ind.dtype}`);
      if (ind.rank < 1 || ind.shape[0] !== x.shape[0]) throw new KernelError(node, `indices ${fmtShape(ind.shape)} must be [batch, …] with the batch of x ${fmtShape(x.shape)}`);
      const values = ind.dataSync();
      check(values);
      const b = x.shape[0];
      const j = values.length / Math.max(1, b);
      flat = new Int32Array(values.length);
      for (let i = 0; i < values.length; i++) flat[i] = values[i] + Math.floor(i / j) * n;
      const middle = others.slice(1, axis);
      const rest = others.slice(axis);
      const perm = [0, axis, ...middle, ...rest];
      const permShape = perm.map((i) => x.shape[i]);
      const ni = ind.rank - 1;
      const nm = middle.length;
      const gatheredShape = [b, ...ind.shape.slice(1), ...permShape.slice(2)];
      // gathered [B, idx.., middle.., rest..] → output [B, middle.., idx.., rest..]
      const outPerm = [0, ...Array.from({ length: nm }, (_, i) => 1 + ni + i), ...Array.from({ length: ni }, (_, i) => 1 + i), ...Array.from({ length: rest.length }, (_, i) => 1 + ni + nm + i)];
      meta = { perm, permShape, rows: b * n, outPerm, gatheredShape };
    }
    const idx = tf.tensor1d(flat, 'int32');
    const y = tidy(() => {
      const table = tf.reshape(tf.transpose(x, meta.perm), [meta.rows, -1]);
      return tf.transpose(tf.reshape(gatherRows(table, idx), meta.gatheredShape), meta.outPerm);
    });
    return { outputs: [y], saved: [idx], meta };
  },
  backward(node, [dy], fwd, _params, needs) {
    const dInputs: (tf.Tensor | null)[] = node.attrs.indices ? [null] : [null, null];
    if (!needs.inputs[0]) return { dInputs, dParams: [] };
    const m = fwd.meta as GatherMeta;
    const [idx] = fwd.saved as [tf.Tensor1D];
    dInputs[0] = tidy(() => {
      const g = tf.transpose(dy, inversePerm(m.outPerm));
      const table = scatterRows(idx, g, m.rows);
      return tf.transpose(tf.reshape(table, m.permShape), inversePerm(m.perm));
    });
    return { dInputs, dParams: [] };
  },
};
