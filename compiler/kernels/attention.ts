/**
 * Kernel kind `attention` (ours, in the style of docs/design.md §7): one Keras MultiHeadAttention layer —
 * query/key/value projections, scaled dot-product scores, softmax, context and output projection — as one
 * kernel that keeps its four projection matrices on its PEs (pipelined execution: weights stay on the wafer).
 *
 * Spec (ir.ts `AttentionSpec`): `T` queries, `S` keys, `H` heads of `dk`/`dv` dimensions, inputs of `Dq`,
 * `Dk`, `Dv` features, output `Do`. Forward MACs per sample (the runtime kernel's count, runtime/graph.ts
 * `OpAttrs.multiHeadAttention`): projections `H·(T·Dq·dk + S·Dk·dk + S·Dv·dv + T·dv·Do)`, scores `H·T·S·dk`,
 * context `H·T·S·dv`, plus `scoreOps` per score (softmax 5, mask 1, dropout 1: kernels/costs.ts).
 *
 * Execution parameters `{h, t, k}`: `h` head groups × `t` position blocks (PE rows) × `k` feature columns
 * (splitting `dk` and `dv`). With `Hh = ⌈H/h⌉`, `Tt = ⌈T/t⌉`, `St = ⌈S/t⌉`, `a = ⌈dk/k⌉`, `v = ⌈dv/k⌉`:
 * - `height = h·t`, `width = copies·k`;
 * - `time = ⌈(Hh·(Tt·Dq·a + St·Dk·a + St·Dv·v + Tt·v·Do) + Hh·Tt·S·(a + v)) / macs⌉ + Hh·Tt·⌈S/k⌉·scoreOps
 *   + Tt·⌈Do/k⌉·e + (h−1) + (t−1) + (k−1)`: the PE's share of the MACs, its share of the score work after
 *   the scores' partial sums over `k` are reduced, the fused epilogue, and one hop per step to reduce over
 *   the feature columns and the head groups and to pass keys and values along the position blocks;
 * - `memory = Hh·(Dq·a + Dk·a + Dv·v + v·Do) + Hh·S·(a + v) + Hh·Tt·S + Tt·⌈Do/k⌉` words: the weights of its
 *   heads' slice (ASSUMPTION: replicated over the `t` position blocks), every key and value of its heads'
 *   slice, its score rows, its output slice.
 * ASSUMPTION: a causal mask saves no work (the scores are computed and masked); rotary embeddings and
 * projection biases are not counted separately (the output bias is an epilogue op).
 */
import type { OpAttrs } from '../../runtime/graph.ts';
import type { AttentionSpec, ExecParams } from '../ir.ts';
import { ATTENTION_SCORE_OPS } from './costs.ts';
import { cdiv, need, splitCandidates, unionCandidates, type KernelCost, type KernelKindModule } from './kind.ts';

const kMax = (s: AttentionSpec) => Math.max(s.dk, s.dv);

function cost(s: AttentionSpec, h: number, t: number, k: number, copies: number, macs: number): KernelCost {
  const Hh = cdiv(s.H, h);
  const Tt = cdiv(s.T, t);
  const St = cdiv(s.S, t);
  const a = cdiv(s.dk, k);
  const v = cdiv(s.dv, k);
  const perPeMacs = Hh * (Tt * s.Dq * a + St * s.Dk * a + St * s.Dv * v + Tt * v * s.Do) + Hh * Tt * s.S * (a + v);
  return {
    width: copies * k,
    height: h * t,
    cyclesPerSample: cdiv(perPeMacs, macs) + Hh * Tt * cdiv(s.S, k) * s.scoreOps + Tt * cdiv(s.Do, k) * s.epilogueOps + (h - 1) + (t - 1) + (k - 1),
    memoryWordsPerPe: Hh * (s.Dq * a + s.Dk * a + s.Dv * v + v * s.Do) + Hh * s.S * (a + v) + Hh * Tt * s.S + Tt * cdiv(s.Do, k),
    opsPerSample: attention.ops(s),
  };
}

/** Kernel kind `attention` (module doc); lowers `multiHeadAttention`. */
export const attention: KernelKindModule<'attention'> = {
  kind: 'attention',
  execKeys: () => ['h', 't', 'k'],
  cost: (s, exec, copies, macs) => cost(s, need(exec, 'h', s.H, 'attention'), need(exec, 't', s.T, 'attention'), need(exec, 'k', kMax(s), 'attention'), copies, macs),
  ops: (s) =>
    s.H * (s.T * s.Dq * s.dk + s.S * s.Dk * s.dk + s.S * s.Dv * s.dv + s.T * s.dv * s.Do) + s.H * s.T * s.S * (s.dk + s.dv + s.scoreOps) + s.T * s.Do * s.epilogueOps,
  outputElements: (s) => s.T * s.Do,
  shapes(s, copies) {
    const hC = splitCandidates(s.H);
    // a split matters through the quotients it appears in: t through ⌈T/t⌉ and ⌈S/t⌉; k through ⌈dk/k⌉,
    // ⌈dv/k⌉, ⌈S/k⌉ and ⌈Do/k⌉
    const tC = unionCandidates([s.T, s.S]).filter((x) => x <= s.T);
    const kC = unionCandidates([s.dk, s.dv, s.S, s.Do]).filter((x) => x <= kMax(s));
    /** The narrowest k meeting τ and memory at (h, t) with `copies·k ≥ minSide`, or 0. */
    const kFor = (h: number, t: number, tau: number, mem: number, macs: number, minSide: number): number => {
      const k0 = Math.max(1, Math.ceil(minSide / copies));
      if (k0 > kMax(s)) return 0;
      for (const k of [k0, ...kC.filter((x) => x > k0)]) {
        const c = cost(s, h, t, k, copies, macs);
        if (c.cyclesPerSample <= tau && c.memoryWordsPerPe <= mem) return k;
      }
      return 0;
    };
    return {
      forEachShape(tau, mem, maxDim, macs, visit, minSide) {
        for (const h of hC) {
          if (h > maxDim) break;
          // position splits giving a height below minSide are raised to the least that reaches it
          for (const t of [...new Set(Array.from(tC, (x) => Math.max(x, Math.ceil(minSide / h))))]) {
            if (t > s.T || h * t > maxDim) break;
            const k = kFor(h, t, tau, mem, macs, minSide);
            if (k >= 1 && copies * k <= maxDim) visit(h * t, copies * k, h, t, k);
          }
        }
      },
      execFor: (_tau, _mem, _macs, h, t, k): ExecParams => ({ h, t, k }),
      forEachFinestSplit(lo, hi, visit) {
        for (const h of hC)
          for (const t of tC) {
            if (h * t > hi) break;
            visit({ h, t, k: Math.max(1, Math.min(kMax(s), Math.floor((h * t <= lo ? hi : lo) / copies))) });
          }
      },
    };
  },
  describe: (s) => `attention T=${s.T} S=${s.S} H=${s.H} dk=${s.dk} dv=${s.dv} D=${s.Dq}→${s.Do}${s.epilogueOps ? ` +${s.epilogueOps} ops` : ''}`,
  fuseOps: (s, n) => {
    s.epilogueOps += n;
  },
  lowerings: {
    multiHeadAttention(n, cx) {
      const a = n.attrs as OpAttrs['multiHeadAttention'];
      const [T, Dq] = cx.dims(cx.tensor(n.inputs[0]));
      const [S, Dv] = cx.dims(cx.tensor(n.inputs[1]));
      const Dk = cx.dims(cx.tensor(n.inputs[2] ?? n.inputs[1]))[1];
      const scoreOps = ATTENTION_SCORE_OPS.softmax + (a.useCausalMask || a.hasAttentionMask ? ATTENTION_SCORE_OPS.mask : 0) + (a.training && a.dropout > 0 ? ATTENTION_SCORE_OPS.dropout : 0);
      const spec: AttentionSpec = { kind: 'attention', T, S, H: a.numHeads, dk: a.keyDim, dv: a.valueDim, Dq, Dk, Dv, Do: a.outputDim, scoreOps, epilogueOps: a.useBias ? 1 : 0 };
      cx.newKernel(n, spec, 'multiHeadAttention', true);
    },
  },
};
