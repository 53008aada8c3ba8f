import { describe, expect, it } from 'vitest';
import { UserError } from '../../runtime/errors.ts';
import type { Graph } from '../../runtime/graph.ts';
import { lower } from '../../compiler/passes/lower.ts';
import { multicastKey } from '../../compiler/fabric.ts';
import { layers, traceModelFn, validateParams } from '../../index.ts';
import { SUPPORTED_OPS, validate } from '../../compiler/passes/validate.ts';
import { GraphBuilder, mnistGraph, resnetBlockGraph } from './helpers/graphs.ts';

const M = { wordBytes: 2 };

describe('validate', () => {
  it('accepts the fixtures and returns the graph unchanged', () => {
    const g = mnistGraph();
    expect(validate(g)).toBe(g);
  });

  it('rejects an unsupported op, naming the layer and listing the supported ops', () => {
    const g = mnistGraph();
    (g.nodes[1] as { op: string }).op = 'conv3d';
    let msg = '';
    try {
      validate(g);
    } catch (e) {
      expect(e).toBeInstanceOf(UserError);
      msg = (e as Error).message;
    }
    expect(msg).toMatch(/layer 'conv2d_1' \(conv3d\): op 'conv3d' is not supported/);
    for (const op of SUPPORTED_OPS) expect(msg).toContain(op);
  });

  it('rejects non-static shapes, bad dtypes, dangling inputs and missing losses', () => {
    const g1 = mnistGraph();
    g1.nodes[0].outputs[0].shape = [null, null, 26, 32];
    expect(() => validate(g1)).toThrow(/layer 'conv2d' \(conv2d\).*not static/);
    const g2 = mnistGraph();
    (g2.nodes[0].outputs[0] as { dtype: string }).dtype = 'float16';
    expect(() => validate(g2)).toThrow(/dtype 'float16'/);
    const g3 = mnistGraph();
    g3.nodes[1].inputs = ['nowhere:0'];
    expect(() => validate(g3)).toThrow(/input 0 'nowhere:0' is not produced/);
    const g4: Graph = { ...mnistGraph(), loss: undefined };
    expect(() => validate(g4)).toThrow(/no loss in TRAIN/);
    const g5 = mnistGraph();
    g5.inputs.features.image.shape = [null, 28, 28];
    expect(() => validate(g5)).toThrow(/rank-4 input/);
  });
});

describe('lower', () => {
  it('fuses the MNIST CNN into conv, conv+BN, pool+dropout, dense and loss kernels (TRAIN: 3/2 copies)', () => {
    const kg = lower(mnistGraph('train'), M);
    expect(kg.kernels.map((k) => [k.name, k.op, k.spec.kind, k.copies])).toEqual([
      ['conv2d', 'conv2d+relu', 'conv', 3],
      ['conv2d_1', 'conv2d+relu+batchNormalization', 'conv', 3],
      ['max_pooling2d', 'maxPooling2d+dropout', 'pool', 2],
      ['dense', 'dense', 'conv', 3],
      ['sparse_softmax_cross_entropy', 'sparseSoftmaxCrossEntropy', 'loss', 2],
    ]);
    const conv1 = kg.kernels[1].spec;
    expect(conv1).toEqual({ kind: 'conv', H: 26, W: 26, R: 3, S: 3, C: 32, K: 64, T: 1, U: 1, epilogueOps: 1 + 1 + 4 });
    // dense on the flattened pool output: 12·12·64 inputs
    expect(kg.kernels[3].spec).toMatchObject({ H: 1, W: 1, C: 9216, K: 10 });
    expect(kg.kernels[1].paramWords).toBe(3 * 3 * 32 * 64 + 64 + 4 * 64);
    // flatten is an alias of the pool kernel's output
    expect(kg.nodeKernel.flatten).toBe('max_pooling2d');
    expect(kg.nodeKernel.batch_normalization).toBe('conv2d_1');
    const e = kg.edges.map((x) => [x.from, x.to, x.bytesPerSample, x.external, x.backward]);
    expect(e).toEqual([
      ['features/image', 'conv2d', 28 * 28 * 2, true, false],
      ['conv2d', 'conv2d_1', 26 * 26 * 32 * 2, false, true],
      ['conv2d_1', 'max_pooling2d', 24 * 24 * 64 * 2, false, true],
      ['max_pooling2d', 'dense', 9216 * 2, false, true],
      ['labels', 'sparse_softmax_cross_entropy', 2, true, false],
      ['dense', 'sparse_softmax_cross_entropy', 20, false, true],
    ]);
  });

  it('lowers forward work only in EVAL and PREDICT (1 copy; dropout is free; no loss in PREDICT)', () => {
    const ev = lower(mnistGraph('eval'), M);
    expect(ev.kernels.every((k) => k.copies === 1)).toBe(true);
    expect(ev.kernels.find((k) => k.name === 'max_pooling2d')!.op).toBe('maxPooling2d');
    expect(ev.edges.every((e) => !e.backward)).toBe(true);
    const inf = lower(mnistGraph('infer'), M);
    expect(inf.kernels.map((k) => k.spec.kind)).toEqual(['conv', 'conv', 'pool', 'conv']);
  });

  it('fuses residual adds into the branch conv and brings the shortcut in as an edge', () => {
    const kg = lower(resnetBlockGraph('train'), M);
    const names = kg.kernels.map((k) => k.op);
    expect(names.filter((n) => n.includes('+add+relu'))).toHaveLength(2);
    expect(kg.kernels.filter((k) => k.spec.kind === 'eltwise')).toHaveLength(0);
    const addK = kg.kernels.find((k) => k.op.includes('add'))!;
    const into = kg.edges.filter((e) => e.to === addK.name).map((e) => e.from);
    expect(into).toHaveLength(2); // main branch + shortcut
    expect(kg.kernels.find((k) => k.spec.kind === 'pool')!.spec).toMatchObject({ R: 16, S: 16, T: 16, U: 16 });
  });

  it('keeps standalone kernels when fusion is impossible (shared input, graph input, concatenation)', () => {
    const g = new GraphBuilder();
    const x = g.input('x', [8, 8, 4]);
    const l = g.label();
    const a = g.act(x, 'tanh'); // input is a graph input: eltwise kernel
    const c = g.conv2d(a, { filters: 4, kernelSize: 3, padding: 'same' });
    const r1 = g.act(c, 'relu'); // c is read twice: no fusion
    const r2 = g.act(c, 'sigmoid');
    const cat = g.concat(r1, r2);
    const logits = g.dense(g.flatten(cat), 3);
    const kg = lower(g.build('train', logits, g.sparseCE(l, logits)), M);
    expect(kg.kernels.map((k) => [k.op, k.spec.kind])).toEqual([
      ['tanh', 'eltwise'],
      ['conv2d', 'conv'],
      ['relu', 'eltwise'],
      ['sigmoid', 'eltwise'],
      ['concatenate', 'eltwise'],
      ['dense', 'conv'],
      ['sparseSoftmaxCrossEntropy', 'loss'],
    ]);
    expect(kg.kernels[4].spec).toMatchObject({ N: 8 * 8 * 8, arity: 2 });
  });

  it("layout views: edges name the tensor they view, so a producer's tensor in two layouts is one multicast group", () => {
    // a channels-first conv read by a channels-first pool (through two transposes) and by a concatenation on axis 1
    const g = traceModelFn(
      (f, _l, mode) => {
        const df = 'channelsFirst' as const;
        const c = layers.conv2d({ filters: 4, kernelSize: 3, padding: 'same', dataFormat: df }).apply(f.x);
        const u = layers.upSampling2d({ dataFormat: df }).apply(layers.maxPooling2d({ dataFormat: df }).apply(c));
        return { mode, predictions: { y: layers.concatenate({ axis: 1 }).apply([u, c]) } };
      },
      { mode: 'infer', params: validateParams({}, 't.yaml'), signature: { features: { x: { shape: [3, 8, 8], dtype: 'float32' } } } },
    );
    const kg = lower(g, M);
    const edges = kg.edges.map((e) => `${e.from}→${e.to} ${e.tensor} (view of ${e.viewOf})`);
    expect(edges).toEqual([
      'features/x→conv2d conv2d/to_channels_last:0 (view of features/x)',
      'conv2d→max_pooling2d max_pooling2d/to_channels_last:0 (view of conv2d:0)',
      'max_pooling2d→up_sampling2d up_sampling2d/to_channels_last:0 (view of max_pooling2d:0)',
      'up_sampling2d→concatenate up_sampling2d/to_channels_first:0 (view of up_sampling2d:0)',
      'conv2d→concatenate conv2d/to_channels_first:0 (view of conv2d:0)',
    ]);
    expect(multicastKey(kg.edges[1])).toBe(multicastKey(kg.edges[4]));
    expect(multicastKey(kg.edges[1])).not.toBe(multicastKey(kg.edges[2]));
  });
});
