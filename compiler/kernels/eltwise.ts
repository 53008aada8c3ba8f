/**
 * Kernel kind `eltwise` (ours): element-wise work on `N` elements per sample with `arity` inputs (add,
 * concatenate, upSampling2d, standalone activation or dropout), `ops` cycles per element: `height = h`,
 * `width = copies·w`, `time = ⌈N/(h·w)⌉·ops`, `memory = ⌈N/(h·w)⌉·(arity + 1)`.
 *
 * Also home of the free layout lowerings (`flatten`, `reshape`, `transpose`, `slice`, `gather` with constant
 * indices: the output aliases the input).
 */
import { sizeOf, type GraphNode, type OpAttrs } from '../../runtime/graph.ts';
import type { ExecParams } from '../ir.ts';
import { ACTIVATION_OPS, BINARY_FUSE_KINDS, ELEMENTWISE_OPS, EPILOGUE_KINDS } from './costs.ts';
import { cdiv, need, widen, type KernelKindModule, type LowerContext, type Lowering } from './kind.ts';

/** Starts a standalone element-wise kernel for `n` over its output (at least 1 op per element). */
export function eltwiseKernel(cx: LowerContext, n: GraphNode, arity: number, ops: number, op: string): void {
  cx.newKernel(n, { kind: 'eltwise', N: sizeOf(n.outputs[0].shape), arity, opsPerElement: Math.max(1, ops) }, op, cx.hasTrainable(n));
}

/** The finest splits of a kernel laid out as `h` rows × `copies·w` columns over `N` elements. */
export function forEachFinestRowSplit(N: number, copies: number, lo: number, hi: number, visit: (exec: ExecParams) => void): void {
  for (const h of [Math.min(N, lo), Math.min(N, hi)]) visit({ h, w: Math.max(1, Math.min(N, Math.floor((h <= lo ? hi : lo) / copies))) });
}

/** Free layout (ASSUMPTION for transpose and slice: the producer streams the consumer's order, or only the
 * slice; the edge carries the output's bytes). */
const layout: Lowering = (n, cx) => cx.alias(n);

/**
 * Element-wise arithmetic on one or more tensor operands (constants are attributes): fused into the producer
 * of the operand produced last when it can take it (the residual branch; the other operands become edges),
 * else a kernel of its own; `ops` per element for each extra operand (at least one).
 */
const binary =
  (ops: number): Lowering =>
  (n, cx) => {
    const cands = n.inputs.map((id) => cx.fusableInto(id, BINARY_FUSE_KINDS));
    let k = null;
    for (let i = cands.length - 1; i >= 0 && !k; i--) k = cands[i];
    const total = ops * Math.max(1, n.inputs.length - 1);
    if (k) {
      cx.fuse(k, n, total, n.op);
      for (const id of n.inputs) cx.use(k, id); // self-edges are dropped
    } else eltwiseKernel(cx, n, n.inputs.length, total, n.op);
  };

/** A unary element-wise op, fused as an activation where it can be. */
const unary =
  (ops: number): Lowering =>
  (n, cx) => {
    const k = cx.fusableInto(n.inputs[0], EPILOGUE_KINDS);
    if (k) cx.fuse(k, n, ops, n.op);
    else eltwiseKernel(cx, n, 1, ops, n.op);
  };

/** Kernel kind `eltwise` (module doc); lowers `activation`, `dropout`, the element-wise tensor ops (`add`,
 * `sub`, `mul`, `div`, `where`, `sqrt`, `rsqrt`; fused into their producer when possible), `concatenate`,
 * `gather` and the layout ops (`flatten`, `reshape`, `transpose`, `slice`). */
export const eltwise: KernelKindModule<'eltwise'> = {
  kind: 'eltwise',
  execKeys: () => ['h', 'w'],
  cost(spec, exec, copies) {
    const { N, arity, opsPerElement } = spec;
    const h = need(exec, 'h', N, 'eltwise');
    const w = need(exec, 'w', N, 'eltwise');
    const per = cdiv(N, h * w);
    return { width: copies * w, height: h, cyclesPerSample: per * opsPerElement, memoryWordsPerPe: per * (arity + 1), opsPerSample: N * opsPerElement };
  },
  ops: (s) => s.N * s.opsPerElement,
  outputElements: (s) => s.N,
  shapes(spec, copies) {
    const { N, arity, opsPerElement } = spec;
    return {
      forEachShape(tau, mem, maxDim, _macs, visit, minSide) {
        const q = Math.min(Math.floor(tau / opsPerElement), Math.floor(mem / (arity + 1)), N);
        if (q < 1) return;
        const pmin = Math.ceil(N / q);
        for (let h = minSide; h <= Math.min(Math.max(pmin, minSide), maxDim, N); h++) {
          const w = widen(Math.ceil(pmin / h), N, copies, minSide);
          if (copies * w > maxDim || copies * w < minSide) continue;
          visit(h, copies * w, h, w, 0);
        }
      },
      execFor: (_tau, _mem, _macs, a, b): ExecParams => ({ h: a, w: b }),
      forEachFinestSplit: (lo, hi, visit) => forEachFinestRowSplit(N, copies, lo, hi, visit),
    };
  },
  describe: (s) => `eltwise N=${s.N} arity=${s.arity} ops=${s.opsPerElement}`,
  fuseOps: (s, n) => {
    s.opsPerElement += n;
  },
  lowerings: {
    activation(n, cx) {
      const act = (n.attrs as OpAttrs['activation']).activation;
      const k = cx.fusableInto(n.inputs[0], EPILOGUE_KINDS);
      if (k) cx.fuse(k, n, ACTIVATION_OPS[act], act);
      else eltwiseKernel(cx, n, 1, ACTIVATION_OPS[act], act);
    },
    dropout(n, cx) {
      const a = n.attrs as OpAttrs['dropout'];
      if (!a.training || a.rate === 0) return cx.alias(n);
      const k = cx.fusableInto(n.inputs[0], EPILOGUE_KINDS);
      if (k) cx.fuse(k, n, 1, 'dropout');
      else eltwiseKernel(cx, n, 1, 1, 'dropout');
    },
    add: binary(1),
    sub: binary(ELEMENTWISE_OPS.sub),
    mul: binary(ELEMENTWISE_OPS.mul),
    div: binary(ELEMENTWISE_OPS.div),
    where: binary(ELEMENTWISE_OPS.where),
    sqrt: unary(ELEMENTWISE_OPS.sqrt),
    rsqrt: unary(ELEMENTWISE_OPS.rsqrt),
    gather(n, cx) {
      // constant indices: the producer sends the selected entries (layout); per-sample indices: a lookup
      if ((n.attrs as OpAttrs['gather']).indices) return cx.alias(n);
      eltwiseKernel(cx, n, 2, ELEMENTWISE_OPS.gather, 'gather');
    },
    concatenate: (n, cx) => eltwiseKernel(cx, n, n.inputs.length, 1, 'concatenate'),
    // nearest upsampling: one copy per output element (ASSUMPTION: each PE replicates the pixels it receives)
    upSampling2d: (n, cx) => eltwiseKernel(cx, n, 1, 1, 'upSampling2d'),
    flatten: layout,
    reshape: layout,
    transpose: layout,
    slice: layout,
  },
};
