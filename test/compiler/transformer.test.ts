/**
 * Transformers through the compiler: the kernel kinds of the tensor ops and attention layers (matmul,
 * attention, softmax, reduce; embeddings, layer norm and element-wise ops on existing kinds), their cost
 * models at hand-computed points and against brute force, a small GPT-like modelFn compiled end to end, and
 * the "too large for pipelined execution" report.
 */
import { describe, expect, it } from 'vitest';
import { layers, losses, ops, optimizers, traceModelFn, validateParams, UserError, type InputSignature, type ModelFn, type SymbolicTensor } from '../../index.ts';
import type { Graph, Mode, OpName } from '../../runtime/graph.ts';
import { KERNELS } from '../../runtime/kernels/index.ts';
import { kernelCost, kernelOps } from '../../compiler/estimate.ts';
import type { KernelSpec } from '../../compiler/ir.ts';
import { loweringOf } from '../../compiler/kernels/registry.ts';
import { customMachine, loadMachine, memoryWordsPerPe } from '../../compiler/machine.ts';
import { execFor, forEachShape, prepareKernel } from '../../compiler/passes/fit.ts';
import { compileGraph } from '../../compiler/pipeline.ts';
import { formatKernelList, reportText } from '../../compiler/report.ts';

const params = validateParams({ optimizer: { optimizer_type: 'adam', learning_rate: 0.001 }, runconfig: { seed: 3 } }, 'test.yaml');

/** A GPT-like decoder: token + position embedding, `blocks` pre-LN blocks (causal attention, GELU FFN,
 * dropout, residual adds), final layer norm, tied output embedding, sparse softmax cross-entropy. */
function gpt(o: { vocab: number; seq: number; width: number; heads: number; blocks: number; mode?: Mode }): Graph {
  const mode = o.mode ?? 'train';
  const fn: ModelFn = (features, labels, m) => {
    const training = m === 'train';
    const emb = layers.tokenAndPositionEmbedding({ vocabularySize: o.vocab, sequenceLength: o.seq, embeddingDim: o.width });
    let h = layers.dropout({ rate: 0.1 }).apply(emb.apply(features.ids));
    for (let i = 0; i < o.blocks; i++) {
      const a = layers.multiHeadAttention({ numHeads: o.heads, keyDim: o.width / o.heads }).apply([layers.layerNormalization({}).apply(h), layers.layerNormalization({}).apply(h)], { useCausalMask: true, training });
      h = ops.add(h, layers.dropout({ rate: 0.1 }).apply(a));
      const f = layers.dense({ units: o.width }).apply(layers.dense({ units: 4 * o.width, activation: 'gelu' }).apply(layers.layerNormalization({}).apply(h)));
      h = ops.add(h, f);
    }
    const logits = emb.apply(layers.layerNormalization({}).apply(h), { reverse: true });
    if (m === 'infer') return { mode: m, predictions: { logits } };
    const loss = ops.mul(losses.sparseSoftmaxCrossEntropy(labels!, logits), 2);
    return { mode: m, loss, trainOp: optimizers.adam({ learningRate: 1e-3 }).minimize(loss) };
  };
  const sig: InputSignature = { features: { ids: { shape: [o.seq], dtype: 'int32' } }, labels: { shape: [o.seq], dtype: 'int32' } };
  return traceModelFn(fn, { mode, params, signature: mode === 'infer' ? { features: sig.features } : sig });
}

describe('transformer kernel kinds', () => {
  it('every Graph IR op with a runtime kernel has a compiler lowering', () => {
    const missing = (Object.keys(KERNELS) as OpName[]).filter((op) => !loweringOf(op));
    expect(missing).toEqual([]);
  });

  it('attention: MACs per sample as the runtime kernel counts them, time and memory at a hand-computed split', () => {
    const s: KernelSpec = { kind: 'attention', T: 8, S: 8, H: 2, dk: 4, dv: 4, Dq: 8, Dk: 8, Dv: 8, Do: 8, scoreOps: 6, epilogueOps: 1 };
    // projections 2·(8·8·4 ·3 + 8·4·8) = 2·1024, scores + context 2·8·8·(4+4) = 1024, score ops 2·8·8·6, epilogue 8·8
    expect(kernelOps(s)).toBe(2048 + 1024 + 768 + 64);
    // h=2, t=4, k=2: Hh=1, Tt=St=2, a=v=2: MACs 1·(2·8·2·3 + 2·2·8) + 1·2·8·4 = 96+32+64 = 192; scores 1·2·4·6 = 48;
    // epilogue 2·4·1 = 8; hops 1+3+1 = 5. Memory 1·(8·2·3 + 2·8) + 1·8·4 + 1·2·8 + 2·4 = 64+32+16+8
    const c = kernelCost(s, { h: 2, t: 4, k: 2 }, 3);
    expect(c).toMatchObject({ height: 8, width: 6, cyclesPerSample: 192 + 48 + 8 + 5, memoryWordsPerPe: 120 });
  });

  it('matmul, softmax and reduce at hand-computed splits', () => {
    // 3 products of [5, 6]·[6, 4], b=1 m=5 k=2 n=2: height 1·5·3, time 3·1·3·2 = 18, memory 3·3·2 + 3·1·2
    expect(kernelCost({ kind: 'matmul', B: 3, M: 5, K: 6, N: 4, epilogueOps: 0 }, { b: 1, m: 5, k: 2, n: 2 }, 2)).toMatchObject({ height: 15, width: 4, cyclesPerSample: 18, memoryWordsPerPe: 24, opsPerSample: 360 });
    // 6 rows of 10, r=3 l=5: ⌈6/3⌉·⌈10/5⌉·5 + 2·4 = 28; memory 2·(4 + 2)
    expect(kernelCost({ kind: 'softmax', R: 6, L: 10, opsPerElement: 5 }, { r: 3, l: 5 }, 2)).toMatchObject({ height: 3, width: 10, cyclesPerSample: 28, memoryWordsPerPe: 12 });
    expect(kernelCost({ kind: 'reduce', R: 6, L: 10, opsPerElement: 1 }, { r: 3, l: 5 }, 1)).toMatchObject({ height: 3, width: 5, cyclesPerSample: 4 + 4, memoryWordsPerPe: 6 });
  });

  it('sizing enumerations visit only legal shapes and cover every legal split (brute force)', () => {
    const range = (n: number) => Array.from({ length: n }, (_, i) => i + 1);
    const cases: [KernelSpec, Record<string, number>[]][] = [
      [{ kind: 'matmul', B: 3, M: 4, K: 5, N: 6, epilogueOps: 1 }, range(3).flatMap((b) => range(4).flatMap((m) => range(5).flatMap((k) => range(6).map((n) => ({ b, m, k, n })))))],
      [{ kind: 'attention', T: 6, S: 6, H: 3, dk: 4, dv: 3, Dq: 6, Dk: 6, Dv: 6, Do: 5, scoreOps: 6, epilogueOps: 1 }, range(3).flatMap((h) => range(6).flatMap((t) => range(4).map((k) => ({ h, t, k }))))],
      [{ kind: 'softmax', R: 7, L: 9, opsPerElement: 5 }, range(7).flatMap((r) => range(9).map((l) => ({ r, l })))],
      [{ kind: 'reduce', R: 5, L: 12, opsPerElement: 1 }, range(5).flatMap((r) => range(12).map((l) => ({ r, l })))],
    ];
    for (const [spec, execs] of cases) {
      for (const copies of [1, 3]) {
        const all = execs.map((e) => kernelCost(spec, e, copies));
        const times = [...new Set(all.map((c) => c.cyclesPerSample))].sort((a, b) => a - b);
        const prep = prepareKernel(spec, copies);
        for (const tau of [times[0], times[times.length >> 2], times[times.length >> 1], times[times.length - 1]]) {
          for (const mem of [1e9, Math.max(...all.map((c) => c.memoryWordsPerPe)) >> 1]) {
            for (const minSide of [1, 4]) {
              const seen: [number, number][] = [];
              forEachShape(prep, tau, mem, 1000, 1, (h, w, a, b, c) => {
                const cost = kernelCost(spec, execFor(prep, tau, mem, 1, a, b, c, minSide), copies);
                expect([cost.height, cost.width]).toEqual([h, w]);
                expect(cost.cyclesPerSample).toBeLessThanOrEqual(tau);
                expect(cost.memoryWordsPerPe).toBeLessThanOrEqual(mem);
                expect(Math.min(h, w)).toBeGreaterThanOrEqual(minSide);
                seen.push([h, w]);
              }, minSide);
              const legal = all.filter((c) => c.cyclesPerSample <= tau && c.memoryWordsPerPe <= mem && Math.min(c.height, c.width) >= minSide);
              for (const c of legal) expect(seen.some(([h, w]) => h <= c.height && w <= c.width), `${spec.kind} τ=${tau} ${c.height}×${c.width}`).toBe(true);
            }
          }
        }
      }
    }
  });
});

describe('a GPT-like model', () => {
  it('lowers, sizes, places, routes and reports like a CNN', () => {
    const g = gpt({ vocab: 40, seq: 16, width: 32, heads: 4, blocks: 2 });
    const machine = loadMachine('wse2');
    const { plan, kernelGraph } = compileGraph(g, machine, { batchSize: 32 });
    const kinds = kernelGraph.kernels.map((k) => `${k.spec.kind}:${k.op}`);
    expect(kinds.filter((k) => k.startsWith('attention:'))).toHaveLength(2);
    expect(kinds[0]).toBe('embedding:tokenAndPositionEmbedding');
    expect(kinds).toContain('conv:reverseEmbedding');
    expect(kinds).toContain('conv:dense+gelu');
    expect(kinds.filter((k) => k.startsWith('norm:layerNormalization'))).toHaveLength(2 * 3 + 1);
    // the residual adds and the dropouts fuse into the attention and FFN kernels
    expect(kernelGraph.kernels.find((k) => k.spec.kind === 'attention')!.op).toBe('multiHeadAttention+dropout+add');
    const attn = plan!.kernels.find((k) => k.spec.kind === 'attention')!;
    const c = kernelCost(attn.spec, attn.exec, attn.copies, machine.macsPerPePerCycle);
    expect(attn.copies).toBe(3);
    expect(attn.cyclesPerSample).toBe(c.cyclesPerSample);
    expect(attn.memoryWordsPerPe).toBeLessThanOrEqual(memoryWordsPerPe(machine));
    expect(plan!.kernels.every((k) => k.cyclesPerSample <= plan!.targetCycles)).toBe(true);
    expect(plan!.routes).toHaveLength(plan!.edges.length);
    expect(plan!.estimate.samplesPerS).toBeGreaterThan(0);
    expect(reportText(plan!)).toMatch(/multiHeadAttention/);
    expect(formatKernelList(kernelGraph)).toMatch(/attention T=16 S=16 H=4 dk=8 dv=8 D=32→32/);
  });

  it('hand-written attention with tensor ops lowers to matmul, softmax and reduce kernels', () => {
    const fn: ModelFn = (f, _l, m) => {
      const x: SymbolicTensor = f.x;
      const scores = ops.mul(ops.matMul(x, x, false, true), 1 / Math.sqrt(6));
      const p = ops.softmax(ops.where(f.mask, scores, -1e9), -1);
      const y = ops.transpose(ops.reshape(ops.add(ops.matMul(p, x), x), [-1, 2, 2, 6]), [0, 2, 1, 3]);
      const loss = ops.mean(ops.mul(y, y));
      return { mode: m, loss, trainOp: optimizers.sgd({ learningRate: 0.1 }).minimize(loss) };
    };
    const g = traceModelFn(fn, { mode: 'train', params, signature: { features: { x: { shape: [4, 6], dtype: 'float32' }, mask: { shape: [4, 4], dtype: 'int32' } }, labels: { shape: [4], dtype: 'int32' } } });
    const { plan } = compileGraph(g, customMachine({ fabric: { width: 64, height: 64 } }), { batchSize: 8 });
    expect(plan!.kernels.map((k) => `${k.spec.kind}:${k.op}`)).toEqual(['matmul:matMul+mul+where', 'softmax:softmax', 'matmul:matMul+add', 'eltwise:mul', 'reduce:mean']);
    expect(plan!.kernels[0].spec).toEqual({ kind: 'matmul', B: 1, M: 4, K: 6, N: 4, epilogueOps: 2 });
  });

  it('too large for pipelined execution: says so, with the PEs and SRAM it would need against the fabric', () => {
    // GPT-2 small's shape at its full 1,024-token context (at 256 tokens it places)
    const g = gpt({ vocab: 50257, seq: 1024, width: 768, heads: 12, blocks: 12 });
    let msg = '';
    try {
      compileGraph(g, loadMachine('wse2'), { validateOnly: true });
    } catch (e) {
      expect(e).toBeInstanceOf(UserError);
      msg = (e as Error).message;
    }
    expect(msg).toMatch(/model too large for machine 'wse2' \(757×996 PEs, 49152 bytes of SRAM per PE\)/);
    const [, need, times] = /need at least (\d+) PEs at their smallest legal sizes, ([\d.]+)× the fabric's 753972 PEs/.exec(msg) ?? [];
    expect(Number(need)).toBeGreaterThan(753972);
    expect(Number(times)).toBeCloseTo(Number(need) / 753972, 2);
    expect(msg).toMatch(/using [\d.]+ [KMGT]B of SRAM there \(the fabric has 34\.5 GB\)/);
    expect(msg).toMatch(/too large for pipelined execution/);
  });
});
