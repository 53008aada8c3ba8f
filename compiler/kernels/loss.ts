/**
 * Kernel kind `loss` (ours): a loss over `N` elements per sample (classes for softmax cross-entropy), `ops`
 * cycles each: `height = h`, `width = copies·w`, `time = ⌈N/(h·w)⌉·ops + (h−1) + (w−1)` (softmax
 * reduction), `memory = 3·⌈N/(h·w)⌉ + 2`. Its output is the sample's loss (1 element).
 */
import { sizeOf } from '../../runtime/graph.ts';
import type { ExecParams } from '../ir.ts';
import { LOSS_OPS } from './costs.ts';
import { forEachFinestRowSplit } from './eltwise.ts';
import { cdiv, need, widen, type KernelKindModule, type Lowering } from './kind.ts';

const lossLowering: Lowering = (n, cx) => {
  const logits = cx.tensor(n.inputs[1]);
  cx.newKernel(n, { kind: 'loss', N: sizeOf(logits.shape), opsPerElement: LOSS_OPS[n.op] }, n.op, false);
};

/** Kernel kind `loss` (module doc); lowers the loss ops. */
export const loss: KernelKindModule<'loss'> = {
  kind: 'loss',
  execKeys: () => ['h', 'w'],
  cost(spec, exec, copies) {
    const { N, opsPerElement } = spec;
    const h = need(exec, 'h', N, 'loss');
    const w = need(exec, 'w', N, 'loss');
    const per = cdiv(N, h * w);
    return { width: copies * w, height: h, cyclesPerSample: per * opsPerElement + (h - 1) + (w - 1), memoryWordsPerPe: 3 * per + 2, opsPerSample: N * opsPerElement };
  },
  ops: (s) => s.N * s.opsPerElement,
  outputElements: () => 1,
  shapes(spec, copies) {
    const { N, opsPerElement } = spec;
    return {
      forEachShape(tau, mem, maxDim, _macs, visit, minSide) {
        const qm = Math.floor((mem - 2) / 3);
        for (let h = minSide; h <= Math.min(N, maxDim); h++) {
          const q0 = Math.min(Math.floor((tau - (h - 1)) / opsPerElement), qm, N);
          if (q0 < 1) break;
          const w0 = widen(Math.max(1, Math.ceil(Math.ceil(N / q0) / h)), N, copies, minSide);
          for (let w = w0, steps = 0; w <= N && copies * w <= maxDim && steps < 64; w++, steps++) {
            const per = Math.ceil(N / (h * w));
            if (per * opsPerElement + (h - 1) + (w - 1) <= tau && 3 * per + 2 <= mem) {
              if (copies * w >= minSide) visit(h, copies * w, h, w, 0);
              break;
            }
          }
        }
      },
      execFor: (_tau, _mem, _macs, a, b): ExecParams => ({ h: a, w: b }),
      forEachFinestSplit: (lo, hi, visit) => forEachFinestRowSplit(N, copies, lo, hi, visit),
    };
  },
  describe: (s) => `loss N=${s.N} ops=${s.opsPerElement}`,
  lowerings: Object.fromEntries(Object.keys(LOSS_OPS).map((op) => [op, lossLowering])),
};
