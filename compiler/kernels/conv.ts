/**
 * Kernel kinds `conv`, `dblock` and `cblock`: convolutions in Cerebras' ISPD 2020 model (docs/design.md §7,
 * §9). `dense` lowers to a 1 × 1 conv on the last axis.
 *
 * - **conv** (`H × W` is the *input* image, as in the ISPD kgraph files, whose edge shapes show a stride-2
 *   conv's H to be its input size; docs/design.md §7's "(output)" is read so that `/T²` counts one MAC per
 *   output pixel): `height = h·w·(c+1)`, `width = copies·k`,
 *   `time = ⌈⌈H/h⌉·⌈W/w⌉·⌈C/c⌉·⌈K/k⌉·R·S / (T·U·m)⌉ + ⌈Ho/h⌉·⌈Wo/w⌉·⌈K/k⌉·e` with `Ho = ⌈H/T⌉`,
 *   `Wo = ⌈W/U⌉`, `m = machine.macsPerPePerCycle` and `e` the fused epilogue ops per output element (0 in
 *   the published model; bias, batch norm, activation, residual add, dropout fused by `lower`),
 *   `memory = ⌈C/c⌉·⌈K/k⌉·R·S + ⌈(W+S−1)/w⌉·⌈(H+R−1)/h⌉·⌈K/k⌉` words (ceilings: whole words per PE).
 *   The contest's T² is `T·U` here (rows × columns stride; equal in every benchmark).
 * - **dblock / cblock** (docs/design.md §9): the sub-convolutions of the block side by side sharing `h`, `w`,
 *   each with its own `ci`, `ki`: `height = max`, `width = Σ`, `time = max`, `memory = max` over them.
 */
import { UserError } from '../../runtime/errors.ts';
import type { OpAttrs } from '../../runtime/graph.ts';
import type { BlockSpec, ConvSpec, ExecParams } from '../ir.ts';
import { ACTIVATION_OPS } from './costs.ts';
import { cdiv, need, unionCandidates, type KernelCost, type KernelKindModule, type KernelShapes } from './kind.ts';

/** One convolution of a conv-like kernel (conv: itself; dblock: 3; cblock: 4). Fields as {@link ConvSpec}. */
export type SubConv = Omit<ConvSpec, 'kind'>;
type ConvLike = ConvSpec | BlockSpec;

/**
 * The sub-convolutions of a conv-like kernel (docs/design.md §9 block definitions).
 * dblock(H, W, F): 1×1 F→F/4, 3×3 F/4→F/4, 1×1 F/4→F, all at H × W, stride 1.
 * cblock(H, W, F): 1×1 F/2→F/4 at H × W; 3×3 F/4→F/4 stride 2 at H × W; 1×1 F/4→F at H/2 × W/2;
 * 1×1 F/2→F stride 2 at H × W.
 */
export function subConvs(spec: ConvLike): SubConv[] {
  if (spec.kind === 'conv') return [{ ...spec }];
  const { H, W, F } = spec;
  const q = Math.max(1, Math.floor(F / 4));
  const half = Math.max(1, Math.floor(F / 2));
  const c = (H: number, W: number, R: number, C: number, K: number, T: number): SubConv => ({
    H, W, R, S: R, C, K, T, U: T, epilogueOps: 0,
  });
  if (spec.kind === 'dblock') return [c(H, W, 1, F, q, 1), c(H, W, 3, q, q, 1), c(H, W, 1, q, F, 1)];
  return [
    c(H, W, 1, half, q, 1),
    c(H, W, 3, q, q, 2),
    c(Math.ceil(H / 2), Math.ceil(W / 2), 1, q, F, 1),
    c(H, W, 1, half, F, 2),
  ];
}

/** Cycles per sample of one sub-convolution at splits h, w, c, k (docs/design.md §7 time, plus epilogue). */
export function subConvCycles(sc: SubConv, h: number, w: number, c: number, k: number, macs = 1): number {
  const main = cdiv(cdiv(sc.H, h) * cdiv(sc.W, w) * cdiv(sc.C, c) * cdiv(sc.K, k) * sc.R * sc.S, sc.T * sc.U * macs);
  if (!sc.epilogueOps) return main;
  return main + cdiv(cdiv(sc.H, sc.T), h) * cdiv(cdiv(sc.W, sc.U), w) * cdiv(sc.K, k) * sc.epilogueOps;
}

/** SRAM words per PE of one sub-convolution (docs/design.md §7 memory). */
export function subConvMemory(sc: SubConv, h: number, w: number, c: number, k: number): number {
  return cdiv(sc.C, c) * cdiv(sc.K, k) * sc.R * sc.S + cdiv(sc.W + sc.S - 1, w) * cdiv(sc.H + sc.R - 1, h) * cdiv(sc.K, k);
}

/** Useful MACs per sample of one sub-convolution: `H·W·R·S·C·K/(T·U)` plus its epilogue ops. */
export function subConvOps(sc: SubConv): number {
  return (sc.H * sc.W * sc.R * sc.S * sc.C * sc.K) / (sc.T * sc.U) + Math.ceil(sc.H / sc.T) * Math.ceil(sc.W / sc.U) * sc.K * sc.epilogueOps;
}

/** Suffix of sub-convolution i's `c`/`k` keys: none for conv, `1…` for blocks. */
const suffix = (spec: ConvLike, i: number) => (spec.kind === 'conv' ? '' : String(i + 1));

function cost(spec: ConvLike, exec: ExecParams, copies: number, macs: number): KernelCost {
  const subs = subConvs(spec);
  const h = need(exec, 'h', Math.max(...subs.map((s) => s.H)), spec.kind);
  const w = need(exec, 'w', Math.max(...subs.map((s) => s.W)), spec.kind);
  let height = 0;
  let width = 0;
  let time = 0;
  let mem = 0;
  let ops = 0;
  subs.forEach((sc, i) => {
    const c = need(exec, `c${suffix(spec, i)}`, sc.C, spec.kind);
    const k = need(exec, `k${suffix(spec, i)}`, sc.K, spec.kind);
    height = Math.max(height, h * w * (c + 1));
    width += copies * k;
    time = Math.max(time, subConvCycles(sc, h, w, c, k, macs));
    mem = Math.max(mem, subConvMemory(sc, h, w, c, k));
    ops += subConvOps(sc);
  });
  return { width, height, cyclesPerSample: time, memoryWordsPerPe: mem, opsPerSample: ops };
}

/** Largest ⌈K/k⌉ a sub-convolution may have at splits (h, w, c) under τ and the memory limit. */
function subConvMaxQk(sc: SubConv, h: number, w: number, c: number, tau: number, mem: number, macs: number): number {
  const qc = Math.ceil(sc.C / c);
  const P = Math.ceil(sc.H / h) * Math.ceil(sc.W / w);
  const D = sc.T * sc.U * macs;
  const A = P * qc * sc.R * sc.S;
  const B = sc.epilogueOps ? Math.ceil(Math.ceil(sc.H / sc.T) / h) * Math.ceil(Math.ceil(sc.W / sc.U) / w) * sc.epilogueOps : 0;
  // ⌈A·qk/D⌉ + B·qk ≤ τ  ⇔  qk·(A + D·B) ≤ D·τ   (τ an integer)
  const qkT = Math.floor((D * tau) / (A + D * B));
  const halo = Math.ceil((sc.W + sc.S - 1) / w) * Math.ceil((sc.H + sc.R - 1) / h);
  // qc·qk·R·S + halo·qk ≤ mem
  const qkM = Math.floor(mem / (qc * sc.R * sc.S + halo));
  return Math.min(qkT, qkM, sc.K);
}

/**
 * Shape enumeration of a conv-like kernel: for every (h, w, cmax) — `cmax` caps every sub-convolution's `c` —
 * the smallest `k` per sub-convolution meeting τ and SRAM, widened (last sub-convolution first) until the
 * total width `copies · Σk` reaches `minSide`. Reported as (a, b, c) = (h, w, cmax).
 */
function shapes(spec: ConvLike, copies: number): KernelShapes {
  const subs = subConvs(spec);
  const maxH = Math.max(...subs.map((x) => x.H));
  const maxW = Math.max(...subs.map((x) => x.W));
  // spatial splits matter through ⌈H/h⌉ (time) and ⌈(H+R−1)/h⌉ (memory halo)
  const hC = unionCandidates(subs.flatMap((s) => [s.H, s.H + s.R - 1])).filter((v) => v <= maxH);
  const wC = unionCandidates(subs.flatMap((s) => [s.W, s.W + s.S - 1])).filter((v) => v <= maxW);
  const cC = unionCandidates(subs.map((s) => s.C));
  const maxC = Math.max(...subs.map((s) => s.C));
  const ksFor = (h: number, w: number, cmax: number, tau: number, mem: number, macs: number, minSide: number): number[] | null => {
    const ks: number[] = [];
    let width = 0;
    for (const sc of subs) {
      const qk = subConvMaxQk(sc, h, w, Math.min(cmax, sc.C), tau, mem, macs);
      if (qk < 1) return null;
      const k = Math.ceil(sc.K / qk);
      ks.push(k);
      width += copies * k;
    }
    for (let i = ks.length - 1; i >= 0 && width < minSide; i--) {
      const room = subs[i].K - ks[i];
      const add = Math.min(room, Math.ceil((minSide - width) / copies));
      ks[i] += add;
      width += copies * add;
    }
    return width < minSide ? null : ks;
  };
  return {
    forEachShape(tau, mem, maxDim, macs, visit, minSide) {
      for (const h of hC) {
        if (2 * h > maxDim) break;
        for (const w of wC) {
          const hw = h * w;
          if (2 * hw > maxDim) break;
          for (const cmax of cC) {
            const height = hw * (Math.min(cmax, maxC) + 1);
            if (height > maxDim) break;
            if (height < minSide) continue;
            const ks = ksFor(h, w, cmax, tau, mem, macs, minSide);
            if (!ks) continue;
            let width = 0;
            for (const k of ks) width += copies * k;
            if (width <= maxDim) visit(height, width, h, w, cmax);
          }
        }
      }
    },
    execFor(tau, mem, macs, a, b, c, minSide) {
      const ks = ksFor(a, b, c, tau, mem, macs, minSide);
      if (!ks) throw new Error(`internal: no output split for h=${a} w=${b} c≤${c} at τ=${tau}`);
      const out: ExecParams = { h: a, w: b };
      subs.forEach((sc, i) => {
        out[`c${suffix(spec, i)}`] = Math.min(c, sc.C);
        out[`k${suffix(spec, i)}`] = ks[i];
      });
      return out;
    },
    forEachFinestSplit(lo, hi, visit) {
      const n = subs.length;
      for (const h of hC)
        for (const w of wC)
          for (const cmax of cC) {
            const height = h * w * (Math.min(cmax, maxC) + 1);
            if (height > hi) break;
            const each = Math.floor((height <= lo ? hi : lo) / (copies * n));
            if (each < 1) continue;
            const exec: ExecParams = { h, w };
            subs.forEach((sc, i) => {
              exec[`c${suffix(spec, i)}`] = Math.min(cmax, sc.C);
              exec[`k${suffix(spec, i)}`] = Math.min(sc.K, each);
            });
            visit(exec);
          }
    },
  };
}

const ops = (spec: ConvLike) => subConvs(spec).reduce((s, sc) => s + subConvOps(sc), 0);

/** Kernel kind `conv` (module doc); lowers `conv2d`, `conv2dTranspose`, `dense` and `reverseEmbedding` (1 × 1 convs). */
export const conv: KernelKindModule<'conv'> = {
  kind: 'conv',
  execKeys: () => ['h', 'w', 'c', 'k'],
  cost,
  ops,
  outputElements: (s) => Math.ceil(s.H / s.T) * Math.ceil(s.W / s.U) * s.K,
  shapes,
  describe: (s) => `conv H=${s.H} W=${s.W} R=${s.R} S=${s.S} C=${s.C} K=${s.K} T=${s.T} U=${s.U}${s.epilogueOps ? ` +${s.epilogueOps} ops` : ''}`,
  fuseOps: (s, n) => {
    s.epilogueOps += n;
  },
  lowerings: {
    conv2d(n, cx) {
      const a = n.attrs as OpAttrs['conv2d'];
      const x = cx.tensor(n.inputs[0]);
      const d = cx.dims(x);
      const [H, W, C] = d;
      if (d.length !== 3) throw new UserError(`layer '${n.name}' (conv2d) needs an image input [batch, h, w, c], got [${x.shape.map(String).join(', ')}]`);
      const epi = (a.useBias ? 1 : 0) + ACTIVATION_OPS[a.activation];
      const spec: ConvSpec = { kind: 'conv', H, W, R: a.kernelSize[0], S: a.kernelSize[1], C, K: a.filters, T: a.strides[0], U: a.strides[1], epilogueOps: epi };
      cx.newKernel(n, spec, a.activation === 'linear' ? 'conv2d' : `conv2d+${a.activation}`, true);
    },
    dense(n, cx) {
      const a = n.attrs as OpAttrs['dense'];
      const d = cx.dims(cx.tensor(n.inputs[0]));
      const C = d[d.length - 1];
      const H = d.slice(0, -1).reduce((p, v) => p * v, 1);
      const epi = (a.useBias ? 1 : 0) + ACTIVATION_OPS[a.activation];
      const spec: ConvSpec = { kind: 'conv', H, W: 1, R: 1, S: 1, C, K: a.units, T: 1, U: 1, epilogueOps: epi };
      cx.newKernel(n, spec, a.activation === 'linear' ? 'dense' : `dense+${a.activation}`, true);
    },
    // ASSUMPTION: a transposed convolution costs what a stride-1 convolution over its input does (the same
    // H·W·R·S·C·K MACs: every input pixel scatters into R × S outputs)
    conv2dTranspose(n, cx) {
      const a = n.attrs as OpAttrs['conv2dTranspose'];
      const x = cx.tensor(n.inputs[0]);
      const d = cx.dims(x);
      if (d.length !== 3) throw new UserError(`layer '${n.name}' (conv2dTranspose) needs an image input [batch, h, w, c], got [${x.shape.map(String).join(', ')}]`);
      const [H, W, C] = d;
      const spec: ConvSpec = { kind: 'conv', H, W, R: a.kernelSize[0], S: a.kernelSize[1], C, K: a.filters, T: 1, U: 1, epilogueOps: (a.useBias ? 1 : 0) + ACTIVATION_OPS[a.activation] };
      cx.newKernel(n, spec, a.activation === 'linear' ? 'conv2dTranspose' : `conv2dTranspose+${a.activation}`, true);
    },
    // tied output embedding: logits = x · Eᵀ, a dense layer without bias whose kernel is the (shared) table
    reverseEmbedding(n, cx) {
      const a = n.attrs as OpAttrs['reverseEmbedding'];
      const d = cx.dims(cx.tensor(n.inputs[0]));
      const H = d.slice(0, -1).reduce((p, v) => p * v, 1);
      cx.newKernel(n, { kind: 'conv', H, W: 1, R: 1, S: 1, C: a.outputDim, K: a.inputDim, T: 1, U: 1, epilogueOps: 0 }, 'reverseEmbedding', true);
    },
  },
};

const block = <K extends 'dblock' | 'cblock'>(kind: K, keys: string[], outputElements: (s: BlockSpec) => number): KernelKindModule<K> => ({
  kind,
  execKeys: () => keys,
  cost,
  ops,
  outputElements,
  shapes,
  describe: (s) => `${s.kind} H=${s.H} W=${s.W} F=${s.F}`,
});

/** Kernel kind `dblock` (ISPD 2020 only; module doc). */
export const dblock = block('dblock', ['h', 'w', 'c1', 'c2', 'c3', 'k1', 'k2', 'k3'], (s) => s.H * s.W * s.F);
/** Kernel kind `cblock` (ISPD 2020 only; module doc). */
export const cblock = block('cblock', ['h', 'w', 'c1', 'c2', 'c3', 'c4', 'k1', 'k2', 'k3', 'k4'], (s) => Math.ceil(s.H / 2) * Math.ceil(s.W / 2) * s.F);
