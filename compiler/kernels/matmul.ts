/**
 * Kernel kind `matmul` (ours, in the style of docs/design.md §7): `B` independent products `[M, K] · [K, N]`
 * per sample of two streamed operands (tf.matMul of two activations, e.g. attention written with tensor ops).
 * Execution parameters `{b, m, k, n}` split the batch of products, the rows, the inner and the output
 * dimension. As in the conv model, each (b, m) block has `k` PE rows of partial sums plus one accumulating:
 * - `height = b·m·(k+1)`, `width = copies·n`;
 * - `time = ⌈⌈B/b⌉·⌈M/m⌉·⌈K/k⌉·⌈N/n⌉ / macs⌉ + ⌈B/b⌉·⌈M/m⌉·⌈N/n⌉·e` (one MAC per PE per cycle, plus `e` fused
 *   epilogue ops per output element);
 * - `memory = ⌈B/b⌉·⌈K/k⌉·⌈N/n⌉ + ⌈B/b⌉·⌈M/m⌉·⌈N/n⌉` words: the right operand's block, which arrives per
 *   sample and is held while the left operand's rows stream past (ASSUMPTION: the left operand is not
 *   stored), plus the output accumulators;
 * - useful work `B·M·K·N` MACs (+ `B·M·N·e`); output `B·M·N` elements per sample.
 * A right operand broadcast over the leading axes is counted once per product (ASSUMPTION).
 */
import type { OpAttrs } from '../../runtime/graph.ts';
import type { ExecParams, MatmulSpec } from '../ir.ts';
import { cdiv, need, splitCandidates, widen, type KernelKindModule } from './kind.ts';

/** Largest ⌈N/n⌉ meeting τ and the memory limit at splits (b, m, k). */
function maxQn(s: MatmulSpec, b: number, m: number, k: number, tau: number, mem: number, macs: number): number {
  const P = cdiv(s.B, b) * cdiv(s.M, m);
  const q = P * cdiv(s.K, k);
  // ⌈q·qn/macs⌉ + P·qn·e ≤ τ  ⇔  qn·(q + macs·P·e) ≤ macs·τ   (τ an integer)
  const qT = Math.floor((macs * tau) / (q + macs * P * s.epilogueOps));
  const qM = Math.floor(mem / (cdiv(s.B, b) * cdiv(s.K, k) + P));
  return Math.min(qT, qM, s.N);
}

/** Kernel kind `matmul` (module doc); lowers `matMul`. */
export const matmul: KernelKindModule<'matmul'> = {
  kind: 'matmul',
  execKeys: () => ['b', 'm', 'k', 'n'],
  cost(s, exec, copies, macs) {
    const b = need(exec, 'b', s.B, 'matmul');
    const m = need(exec, 'm', s.M, 'matmul');
    const k = need(exec, 'k', s.K, 'matmul');
    const n = need(exec, 'n', s.N, 'matmul');
    const P = cdiv(s.B, b) * cdiv(s.M, m);
    return {
      width: copies * n,
      height: b * m * (k + 1),
      cyclesPerSample: cdiv(P * cdiv(s.K, k) * cdiv(s.N, n), macs) + P * cdiv(s.N, n) * s.epilogueOps,
      memoryWordsPerPe: cdiv(s.B, b) * cdiv(s.K, k) * cdiv(s.N, n) + P * cdiv(s.N, n),
      opsPerSample: matmul.ops(s),
    };
  },
  ops: (s) => s.B * s.M * s.N * (s.K + s.epilogueOps),
  outputElements: (s) => s.B * s.M * s.N,
  shapes(s, copies) {
    const bC = splitCandidates(s.B);
    const mC = splitCandidates(s.M);
    const kC = splitCandidates(s.K);
    const nFor = (b: number, m: number, k: number, tau: number, mem: number, macs: number, minSide: number) => {
      const qn = maxQn(s, b, m, k, tau, mem, macs);
      return qn < 1 ? 0 : widen(cdiv(s.N, qn), s.N, copies, minSide);
    };
    return {
      forEachShape(tau, mem, maxDim, macs, visit, minSide) {
        for (const b of bC) {
          if (2 * b > maxDim) break;
          for (const m of mC) {
            if (2 * b * m > maxDim) break;
            // inner splits giving a height below minSide are raised to the least that reaches it
            for (const k of [...new Set(Array.from(kC, (x) => Math.max(x, Math.ceil(minSide / (b * m)) - 1)))]) {
              const height = b * m * (k + 1);
              if (k > s.K || height > maxDim) break;
              if (height < minSide) continue;
              const n = nFor(b, m, k, tau, mem, macs, minSide);
              if (n >= 1 && copies * n <= maxDim && copies * n >= minSide) visit(height, copies * n, b, m, k);
            }
          }
        }
      },
      execFor(tau, mem, macs, b, m, k, minSide): ExecParams {
        const n = nFor(b, m, k, tau, mem, macs, minSide);
        if (n < 1) throw new Error(`internal: no output split for matmul b=${b} m=${m} k=${k} at τ=${tau}`);
        return { b, m, k, n };
      },
      forEachFinestSplit(lo, hi, visit) {
        for (const b of bC)
          for (const m of mC)
            for (const k of kC) {
              const height = b * m * (k + 1);
              if (height > hi) break;
              visit({ b, m, k, n: Math.max(1, Math.min(s.N, Math.floor((height <= lo ? hi : lo) / copies))) });
            }
      },
    };
  },
  describe: (s) => `matmul B=${s.B} M=${s.M} K=${s.K} N=${s.N}${s.epilogueOps ? ` +${s.epilogueOps} ops` : ''}`,
  fuseOps: (s, n) => {
    s.epilogueOps += n;
  },
  lowerings: {
    matMul(n, cx) {
      const a = n.attrs as OpAttrs['matMul'];
      const x = cx.dims(cx.tensor(n.inputs[0]));
      const out = cx.dims(n.outputs[0]);
      const M = out[out.length - 2];
      const N = out[out.length - 1];
      const K = a.transposeA ? x[x.length - 2] : x[x.length - 1];
      const B = out.slice(0, -2).reduce((p, v) => p * v, 1);
      cx.newKernel(n, { kind: 'matmul', B, M, K, N, epilogueOps: 0 }, 'matMul', false);
    },
  },
};
