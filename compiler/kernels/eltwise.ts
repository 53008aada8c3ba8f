/**
 * Kernel kind `eltwise` (ours): element-wise work on `N` elements per sample with `arity` inputs (add,
 * concatenate, standalone activation or dropout), `ops` cycles per element: `height = h`,
 * `width = copies·w`, `time = ⌈N/(h·w)⌉·ops`, `memory = ⌈N/(h·w)⌉·(arity + 1)`.
 *
 * Also home of the free layout lowerings (`flatten`, `reshape`: the output aliases the input).
 */
import { sizeOf, type GraphNode, type OpAttrs } from '../../runtime/graph.ts';
import type { ExecParams } from '../ir.ts';
import { ACTIVATION_OPS, EPILOGUE_KINDS } from './costs.ts';
import { cdiv, need, widen, type KernelKindModule, type LowerContext, type Lowering } from './kind.ts';

/** Starts a standalone element-wise kernel for `n` over its output (at least 1 op per element). */
export function eltwiseKernel(cx: LowerContext, n: GraphNode, arity: number, ops: number, op: string): void {
  cx.newKernel(n, { kind: 'eltwise', N: sizeOf(n.outputs[0].shape), arity, opsPerElement: Math.max(1, ops) }, op, cx.hasTrainable(n));
}

/** The finest splits of a kernel laid out as `h` rows × `copies·w` columns over `N` elements. */
export function forEachFinestRowSplit(N: number, copies: number, lo: number, hi: number, visit: (exec: ExecParams) => void): void {
  for (const h of [Math.min(N, lo), Math.min(N, hi)]) visit({ h, w: Math.max(1, Math.min(N, Math.floor((h <= lo ? hi : lo) / copies))) });
}

const layout: Lowering = (n, cx) => cx.alias(n);

/** Kernel kind `eltwise` (module doc); lowers `activation`, `dropout`, `add`, `concatenate` (fused into
 * their producer when possible) and the layout ops. */
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
    add(n, cx) {
      // fuse into the producer of the input produced last (the residual branch), others arrive as edges
      const cands = n.inputs.map((id) => cx.fusableInto(id, ['conv', 'norm', 'eltwise']));
      let k = null;
      for (let i = cands.length - 1; i >= 0 && !k; i--) k = cands[i];
      if (k) {
        cx.fuse(k, n, n.inputs.length - 1, 'add');
        for (const id of n.inputs) cx.use(k, id); // self-edges are dropped
      } else eltwiseKernel(cx, n, n.inputs.length, n.inputs.length - 1, 'add');
    },
    concatenate: (n, cx) => eltwiseKernel(cx, n, n.inputs.length, 1, 'concatenate'),
    flatten: layout,
    reshape: layout,
  },
};
