/**
 * Shared by the element-wise binary kernels (`add`, `sub`, `mul`, `div`; attributes {@link BinaryAttrs} of
 * `../graph.ts`): the operands of a node (tensors from its inputs, numbers from its constants), the
 * broadcasting check, and the reduction of a broadcast gradient back to an operand's shape.
 *
 * Broadcasting follows NumPy: tensor operands have the same rank and every axis equal or 1 (the batch axes
 * align; a rank-0 tensor also broadcasts). Gradients of broadcast operands are summed with `unbroadcast`.
 */
import type * as tf from '@tensorflow/tfjs-core';
import type { BinaryAttrs, GraphNode } from '../graph.ts';
import { expectArity, fmtShape, KernelError } from './util.ts';

/** One operand: a tensor (from the inputs) or a constant. */
export type Operand = tf.Tensor | number;

/**
 * The two operands `[a, b]` of a binary node.
 * @throws KernelError when the number of inputs does not match the constants, an input is not float32, or
 *   the shapes do not broadcast.
 */
export function binaryOperands(node: GraphNode, inputs: tf.Tensor[], params: tf.Tensor[]): [Operand, Operand] {
  const attrs = node.attrs as BinaryAttrs;
  const nConst = (attrs.a === undefined ? 0 : 1) + (attrs.b === undefined ? 0 : 1);
  expectArity(node, inputs, 2 - nConst, params, 0);
  for (const t of inputs) if (t.dtype !== 'float32') throw new KernelError(node, `inputs must be float32, got ${t.dtype} ${fmtShape(t.shape)}`);
  if (inputs.length === 2) checkBroadcast(node, inputs);
  return operandsOf(node, inputs);
}

/** The operands `[a, b]` from a node's constants and its tensor inputs (as saved by the forward pass). */
export function operandsOf(node: GraphNode, tensors: readonly tf.Tensor[]): [Operand, Operand] {
  const attrs = node.attrs as BinaryAttrs;
  const a = attrs.a ?? tensors[0];
  const b = attrs.b ?? tensors[attrs.a === undefined ? 1 : 0];
  return [a, b];
}

/**
 * Checks that tensors broadcast against each other (same rank, each axis equal or 1; rank 0 broadcasts).
 * @returns the broadcast shape.
 * @throws KernelError naming the node and the shapes.
 */
export function checkBroadcast(node: GraphNode, ts: readonly tf.Tensor[]): number[] {
  return broadcastShape(node, ts.map((t) => t.shape));
}

/** {@link checkBroadcast} on shapes. */
export function broadcastShape(node: GraphNode, shapes: readonly number[][]): number[] {
  const ranked = shapes.filter((s) => s.length > 0);
  if (ranked.length === 0) return [];
  const out = ranked[0].slice();
  for (const s of ranked) {
    const ok = s.length === out.length && s.every((d, i) => d === out[i] || d === 1 || out[i] === 1);
    if (!ok) throw new KernelError(node, `shapes do not broadcast: ${shapes.map((u) => fmtShape(u)).join(', ')}`);
    s.forEach((d, i) => (out[i] = Math.max(out[i], d)));
  }
  return out;
}

/** The shape of an operand (`null` for a constant), for the backward pass. */
export function operandShape(x: Operand): number[] | null {
  return typeof x === 'number' ? null : x.shape;
}

/**
 * The `dInputs` of a binary node from the gradients of its two operands (constants get none).
 * @param grads gradient of each operand `[da, db]`, computed only where `want` says so.
 */
export function binaryDInputs(node: GraphNode, needs: boolean[], grads: (k: 0 | 1) => tf.Tensor): (tf.Tensor | null)[] {
  const attrs = node.attrs as BinaryAttrs;
  const out: (tf.Tensor | null)[] = [];
  ([0, 1] as const).forEach((k) => {
    const isConst = (k === 0 ? attrs.a : attrs.b) !== undefined;
    if (isConst) return;
    out.push(needs[out.length] ? grads(k) : null);
  });
  return out;
}
