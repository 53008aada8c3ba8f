/**
 * Kernel kind `norm` (ours): batch / layer normalisation over an `H × W × C` tensor (statistics per
 * channel), `ops` cycles per element: `height = h·w`, `width = copies·c`,
 * `time = ⌈H/h⌉·⌈W/w⌉·⌈C/c⌉·ops + (h−1) + (w−1)` (per-element ops, then a reduction of the per-channel
 * statistics across the h × w grid, one hop per step), `memory = ⌈H/h⌉·⌈W/w⌉·⌈C/c⌉ + 4·⌈C/c⌉`.
 */
import type { ExecParams } from '../ir.ts';
import { FUSED_BN_OPS, NORM_OPS } from './costs.ts';
import { cdiv, need, splitCandidates, widen, type KernelKindModule } from './kind.ts';

/** Kernel kind `norm` (module doc); lowers `batchNormalization` (when not fused into a conv) and
 * `layerNormalization`. */
export const norm: KernelKindModule<'norm'> = {
  kind: 'norm',
  execKeys: () => ['h', 'w', 'c'],
  cost(spec, exec, copies) {
    const { H, W, C, opsPerElement } = spec;
    const h = need(exec, 'h', H, 'norm');
    const w = need(exec, 'w', W, 'norm');
    const c = need(exec, 'c', C, 'norm');
    return {
      width: copies * c,
      height: h * w,
      cyclesPerSample: cdiv(H, h) * cdiv(W, w) * cdiv(C, c) * opsPerElement + (h - 1) + (w - 1),
      memoryWordsPerPe: cdiv(H, h) * cdiv(W, w) * cdiv(C, c) + 4 * cdiv(C, c),
      opsPerSample: H * W * C * opsPerElement,
    };
  },
  ops: (s) => s.H * s.W * s.C * s.opsPerElement,
  outputElements: (s) => s.H * s.W * s.C,
  shapes(spec, copies) {
    const { H, W, C, opsPerElement } = spec;
    const hC = splitCandidates(H);
    const wC = splitCandidates(W);
    return {
      forEachShape(tau, mem, maxDim, _macs, visit, minSide) {
        for (const h of hC) {
          if (h > maxDim) break;
          for (const w of wC) {
            if (h * w > maxDim) break;
            if (h * w < minSide) continue;
            const P = Math.ceil(H / h) * Math.ceil(W / w);
            const budget = tau - (h - 1) - (w - 1);
            if (budget < 1) continue;
            const qc = Math.min(Math.floor(budget / (P * opsPerElement)), Math.floor(mem / (P + 4)), C);
            if (qc < 1) continue;
            const c = widen(Math.ceil(C / qc), C, copies, minSide);
            if (copies * c <= maxDim && copies * c >= minSide) visit(h * w, copies * c, h, w, c);
          }
        }
      },
      execFor: (_tau, _mem, _macs, a, b, c): ExecParams => ({ h: a, w: b, c }),
      forEachFinestSplit(lo, hi, visit) {
        for (const h of hC)
          for (const w of wC) {
            if (h * w > hi) break;
            visit({ h, w, c: Math.max(1, Math.min(C, Math.floor((h * w <= lo ? hi : lo) / copies))) });
          }
      },
    };
  },
  describe: (s) => `norm H=${s.H} W=${s.W} C=${s.C} ops=${s.opsPerElement}`,
  fuseOps: (s, n) => {
    s.opsPerElement += n;
  },
  lowerings: {
    batchNormalization(n, cx) {
      const x = cx.tensor(n.inputs[0]);
      const k = cx.fusableInto(x.id, ['conv']);
      if (k) return cx.fuse(k, n, FUSED_BN_OPS, 'batchNormalization');
      const d = cx.dims(x);
      const HW = d.slice(0, -1);
      cx.newKernel(n, { kind: 'norm', H: HW[0] ?? 1, W: HW.slice(1).reduce((p, v) => p * v, 1), C: d[d.length - 1], opsPerElement: NORM_OPS }, n.op, cx.hasTrainable(n));
    },
    layerNormalization(n, cx) {
      const d = cx.dims(cx.tensor(n.inputs[0]));
      const H = d.slice(0, -1).reduce((p, v) => p * v, 1);
      cx.newKernel(n, { kind: 'norm', H, W: 1, C: d[d.length - 1], opsPerElement: NORM_OPS }, n.op, cx.hasTrainable(n));
    },
  },
};
