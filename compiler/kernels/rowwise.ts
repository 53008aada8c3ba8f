/**
 * Kernel kinds `softmax` and `reduce` (ours, in the style of docs/design.md §7): an operation along rows of
 * `L` elements, `R` rows per sample (ir.ts `RowwiseSpec`), split into `r` PE rows × `l` PE columns
 * (per copy), `ops` cycles per element, `c` row reductions across the `l` columns (one hop per step):
 * - `height = r`, `width = copies·l`;
 * - `time = ⌈R/r⌉·⌈L/l⌉·ops + c·(l−1)`;
 * - `memory = b·⌈R/r⌉·⌈L/l⌉ + b·⌈R/r⌉` words (`b` buffers of elements and of per-row statistics).
 * - **softmax** (`ops.softmax` along an axis): `c = 2` (row max, then row sum of the exponentials), `b = 2`
 *   (input and output; max and sum per row); output `R·L` elements.
 * - **reduce** (`ops.sum`, `ops.mean` over axes): `c = 1`, `b = 1`; output `R` elements. A reduction over
 *   the batch axis only reduces each sample's `L` elements here; the sum across samples is the loss
 *   kernel's (ASSUMPTION: free, as the loss's own mean over the batch).
 */
import type { OpAttrs } from '../../runtime/graph.ts';
import type { ExecParams, RowwiseSpec } from '../ir.ts';
import { ACTIVATION_OPS, REDUCE_OPS } from './costs.ts';
import { cdiv, need, splitCandidates, type KernelKindModule, type LowerContext, type Lowering } from './kind.ts';

type Kind = RowwiseSpec['kind'];
const SHAPE: Record<Kind, { reductions: number; buffers: number }> = { softmax: { reductions: 2, buffers: 2 }, reduce: { reductions: 1, buffers: 1 } };

const time = (s: RowwiseSpec, r: number, l: number) => cdiv(s.R, r) * cdiv(s.L, l) * s.opsPerElement + SHAPE[s.kind].reductions * (l - 1);
const memory = (s: RowwiseSpec, r: number, l: number) => SHAPE[s.kind].buffers * (cdiv(s.R, r) * cdiv(s.L, l) + cdiv(s.R, r));

/** Starts a row-wise kernel over `L` elements per row of `n`'s first input. */
function rowwise(cx: LowerContext, n: Parameters<Lowering>[0], kind: Kind, L: number, ops: number): void {
  const x = cx.dims(cx.tensor(n.inputs[0])).reduce((p, v) => p * v, 1);
  cx.newKernel(n, { kind, R: Math.max(1, Math.round(x / L)), L, opsPerElement: ops }, n.op, false);
}

/** Per-sample elements reduced by `sum` / `mean` over `axis` (the batch axis 0 reduces across samples). */
const reducedLength = (cx: LowerContext, n: Parameters<Lowering>[0]): number => {
  const shape = cx.tensor(n.inputs[0]).shape;
  return (n.attrs as OpAttrs['sum']).axis.filter((a) => a >= 1).reduce((p, a) => p * (shape[a] as number), 1);
};

const module = <K extends Kind>(kind: K, lowerings: Record<string, Lowering>): KernelKindModule<K> => ({
  kind,
  execKeys: () => ['r', 'l'],
  cost(s, exec, copies) {
    const r = need(exec, 'r', s.R, kind);
    const l = need(exec, 'l', s.L, kind);
    return { width: copies * l, height: r, cyclesPerSample: time(s, r, l), memoryWordsPerPe: memory(s, r, l), opsPerSample: s.R * s.L * s.opsPerElement };
  },
  ops: (s) => s.R * s.L * s.opsPerElement,
  outputElements: (s) => (s.kind === 'softmax' ? s.R * s.L : s.R),
  shapes(s, copies) {
    const rC = splitCandidates(s.R);
    const lC = splitCandidates(s.L);
    const lFor = (r: number, tau: number, mem: number, minSide: number): number => {
      const l0 = Math.max(1, Math.ceil(minSide / copies));
      if (l0 > s.L) return 0;
      for (const l of [l0, ...lC.filter((x) => x > l0)]) if (time(s, r, l) <= tau && memory(s, r, l) <= mem) return l;
      return 0;
    };
    return {
      forEachShape(tau, mem, maxDim, _macs, visit, minSide) {
        // candidates below minSide are raised to it (the narrowest legal height)
        for (const r of [...new Set(Array.from(rC, (x) => Math.max(x, minSide)))]) {
          if (r > maxDim || r > s.R) break;
          const l = lFor(r, tau, mem, minSide);
          if (l >= 1 && copies * l <= maxDim) visit(r, copies * l, r, l, 0);
        }
      },
      execFor: (_tau, _mem, _macs, r, l): ExecParams => ({ r, l }),
      forEachFinestSplit(lo, hi, visit) {
        for (const r of rC) if (r <= hi) visit({ r, l: Math.max(1, Math.min(s.L, Math.floor((r <= lo ? hi : lo) / copies))) });
      },
    };
  },
  describe: (s) => `${s.kind} R=${s.R} L=${s.L} ops=${s.opsPerElement}`,
  lowerings,
});

/** Kernel kind `softmax` (module doc); lowers `softmax`. */
export const softmax = module('softmax', {
  softmax: (n, cx) => rowwise(cx, n, 'softmax', cx.tensor(n.inputs[0]).shape[(n.attrs as OpAttrs['softmax']).axis] as number, ACTIVATION_OPS.softmax),
});

/** Kernel kind `reduce` (module doc); lowers `sum` and `mean`. */
export const reduce = module('reduce', {
  sum: (n, cx) => rowwise(cx, n, 'reduce', reducedLength(cx, n), REDUCE_OPS),
  mean: (n, cx) => rowwise(cx, n, 'reduce', reducedLength(cx, n), REDUCE_OPS),
});
