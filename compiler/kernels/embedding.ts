/**
 * Kernel kind `embedding` (ours): a lookup in a `V × D` table, `L` lookups per sample; the table is split
 * into `v` row blocks (PE rows) and `k` column blocks: `height = v`, `width = copies·k`,
 * `time = L·⌈D/k⌉ + (v−1)` (each lookup streams its row slice; the row block holding it forwards it across
 * the v blocks), `memory = ⌈V/v⌉·⌈D/k⌉ + L·⌈D/k⌉` (table slice plus the output slice).
 */
import { sizeOf, type OpAttrs } from '../../runtime/graph.ts';
import type { ExecParams } from '../ir.ts';
import { cdiv, need, splitCandidates, widen, type KernelKindModule } from './kind.ts';

/** Kernel kind `embedding` (module doc); lowers `embedding` and `tokenAndPositionEmbedding`. */
export const embedding: KernelKindModule<'embedding'> = {
  kind: 'embedding',
  execKeys: () => ['v', 'k'],
  cost(spec, exec, copies) {
    const { V, D, L } = spec;
    const v = need(exec, 'v', V, 'embedding');
    const k = need(exec, 'k', D, 'embedding');
    return { width: copies * k, height: v, cyclesPerSample: L * cdiv(D, k) + (v - 1), memoryWordsPerPe: cdiv(V, v) * cdiv(D, k) + L * cdiv(D, k), opsPerSample: L * D };
  },
  ops: (s) => s.L * s.D,
  outputElements: (s) => s.L * s.D,
  shapes(spec, copies) {
    const { V, D, L } = spec;
    const vC = splitCandidates(V);
    return {
      forEachShape(tau, mem, maxDim, _macs, visit, minSide) {
        for (const v of vC) {
          if (v > maxDim) break;
          if (v < minSide) continue;
          const qk = Math.min(Math.floor((tau - (v - 1)) / L), Math.floor(mem / (Math.ceil(V / v) + L)), D);
          if (qk < 1) continue;
          const k = widen(Math.ceil(D / qk), D, copies, minSide);
          if (copies * k <= maxDim && copies * k >= minSide) visit(v, copies * k, v, k, 0);
        }
      },
      execFor: (_tau, _mem, _macs, a, b): ExecParams => ({ v: a, k: b }),
      forEachFinestSplit(lo, hi, visit) {
        for (const v of vC) visit({ v, k: Math.max(1, Math.min(D, Math.floor((v <= lo ? hi : lo) / copies))) });
      },
    };
  },
  describe: (s) => `embedding V=${s.V} D=${s.D} L=${s.L}`,
  lowerings: {
    embedding(n, cx) {
      const a = n.attrs as OpAttrs['embedding'];
      cx.newKernel(n, { kind: 'embedding', V: a.inputDim, D: a.outputDim, L: sizeOf(cx.tensor(n.inputs[0]).shape) }, 'embedding', true);
    },
    // ASSUMPTION: the position table is stored as V more rows and each position is one more lookup (the add
    // folds into it): V = vocabulary + sequence length, L = 2 × tokens.
    tokenAndPositionEmbedding(n, cx) {
      const a = n.attrs as OpAttrs['tokenAndPositionEmbedding'];
      const L = sizeOf(cx.tensor(n.inputs[0]).shape);
      cx.newKernel(n, { kind: 'embedding', V: a.vocabularySize + a.sequenceLength, D: a.embeddingDim, L: 2 * L }, 'tokenAndPositionEmbedding', true);
    },
  },
};
