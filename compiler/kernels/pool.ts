/**
 * Kernel kind `pool` (ours): max / average pooling, and global average pooling (`R = H`, `S = W`, `T = H`,
 * `U = W`) as a depthwise window, one compare/add per cycle:
 * `height = h·w`, `width = copies·c`, `time = ⌈⌈H/h⌉·⌈W/w⌉·⌈C/c⌉·R·S / (T·U)⌉ + ⌈Ho/h⌉·⌈Wo/w⌉·⌈C/c⌉·e`
 * (`e` fused epilogue ops per output element, `Ho = ⌈H/T⌉`, `Wo = ⌈W/U⌉`),
 * `memory = ⌈(H + max(R−T,0))/h⌉·⌈(W + max(S−U,0))/w⌉·⌈C/c⌉` (input tile plus overlapping halo).
 */
import type { OpAttrs } from '../../runtime/graph.ts';
import type { ExecParams, PoolSpec } from '../ir.ts';
import { cdiv, need, unionCandidates, widen, type KernelKindModule, type Lowering } from './kind.ts';

/** Cycles per sample of a pool kernel at splits h, w, c (module doc). */
export function poolCycles(spec: PoolSpec, h: number, w: number, c: number): number {
  const { H, W, C, R, S, T, U } = spec;
  const main = cdiv(cdiv(H, h) * cdiv(W, w) * cdiv(C, c) * R * S, T * U);
  return spec.epilogueOps ? main + cdiv(cdiv(H, T), h) * cdiv(cdiv(W, U), w) * cdiv(C, c) * spec.epilogueOps : main;
}

const ops = (s: PoolSpec) => (s.H * s.W * s.C * s.R * s.S) / (s.T * s.U) + Math.ceil(s.H / s.T) * Math.ceil(s.W / s.U) * s.C * s.epilogueOps;

const windowed: Lowering = (n, cx) => {
  const a = n.attrs as OpAttrs['maxPooling2d'];
  const [H, W, C] = cx.dims(cx.tensor(n.inputs[0]));
  cx.newKernel(n, { kind: 'pool', H, W, C, R: a.poolSize[0], S: a.poolSize[1], T: a.strides[0], U: a.strides[1], epilogueOps: 0 }, n.op, false);
};

/** Kernel kind `pool` (module doc); lowers the pooling layers. */
export const pool: KernelKindModule<'pool'> = {
  kind: 'pool',
  execKeys: () => ['h', 'w', 'c'],
  cost(spec, exec, copies) {
    const { H, W, C, R, S, T, U } = spec;
    const h = need(exec, 'h', H, 'pool');
    const w = need(exec, 'w', W, 'pool');
    const c = need(exec, 'c', C, 'pool');
    return {
      width: copies * c,
      height: h * w,
      cyclesPerSample: poolCycles(spec, h, w, c),
      memoryWordsPerPe: cdiv(H + Math.max(R - T, 0), h) * cdiv(W + Math.max(S - U, 0), w) * cdiv(C, c),
      opsPerSample: ops(spec),
    };
  },
  ops,
  outputElements: (s) => Math.ceil(s.H / s.T) * Math.ceil(s.W / s.U) * s.C,
  shapes(spec, copies) {
    const { H, W, C, R, S, T, U } = spec;
    const hC = unionCandidates([H, H + Math.max(R - T, 0)]).filter((v) => v <= H);
    const wC = unionCandidates([W, W + Math.max(S - U, 0)]).filter((v) => v <= W);
    return {
      forEachShape(tau, mem, maxDim, _macs, visit, minSide) {
        for (const h of hC) {
          if (h > maxDim) break;
          for (const w of wC) {
            if (h * w > maxDim) break;
            if (h * w < minSide) continue;
            const P = Math.ceil(H / h) * Math.ceil(W / w);
            const Po = Math.ceil(Math.ceil(H / T) / h) * Math.ceil(Math.ceil(W / U) / w) * spec.epilogueOps;
            const tile = Math.ceil((H + Math.max(R - T, 0)) / h) * Math.ceil((W + Math.max(S - U, 0)) / w);
            // ⌈P·qc·R·S/(T·U)⌉ + Po·qc ≤ τ  ⇔  qc·(P·R·S + T·U·Po) ≤ τ·T·U
            const qc = Math.min(Math.floor((tau * T * U) / (P * R * S + T * U * Po)), Math.floor(mem / tile), C);
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
  describe: (s) => `pool H=${s.H} W=${s.W} C=${s.C} R=${s.R} S=${s.S} T=${s.T} U=${s.U}${s.epilogueOps ? ` +${s.epilogueOps} ops` : ''}`,
  fuseOps: (s, n) => {
    s.epilogueOps += n;
  },
  lowerings: {
    maxPooling2d: windowed,
    averagePooling2d: windowed,
    globalAveragePooling2d(n, cx) {
      const [H, W, C] = cx.dims(cx.tensor(n.inputs[0]));
      cx.newKernel(n, { kind: 'pool', H, W, C, R: H, S: W, T: H, U: W, epilogueOps: 0 }, n.op, false);
    },
  },
};
