/**
 * The reference executor: training matches tfjs-layers step by step, data-parallel shards match one shard,
 * state round-trips through get/set, memory stays flat, bad batches are reported clearly.
 */
import { describe, expect, it } from 'vitest';
import { UserError } from '../../runtime/errors.ts';
import type { Batch } from '../../runtime/batch.ts';
import { Executor } from '../../runtime/exec/executor.ts';
import { computeMetric } from '../../runtime/exec/metrics.ts';
import { inThreadAllReduce } from '../../runtime/parallel/allreduce.ts';
import type { Graph } from '../../runtime/graph.ts';
import { fillUniform, streamKey } from '../../runtime/random.ts';
import { cnnGraph, mlpGraph } from '../fixtures/numerics-graphs.ts';
import { relErr, tf, tfl } from '../fixtures/numerics-helpers.ts';
import { expectSeriesClose, makeBatches, sliceBatch, tfjsLayersLosses, trainLosses } from '../fixtures/numerics-train.ts';

describe('training matches tfjs-layers', () => {
  it('MNIST-style CNN (conv 3×3 relu ×2, batch norm, max-pool, dense), Adam, 20 steps', async () => {
    const graph = cnnGraph({ size: 14, f1: 8, f2: 16 });
    const exec = await Executor.create(graph);
    const batches = makeBatches(graph, 16, 4);
    const ref = await tfjsLayersLosses(
      exec,
      () => {
        const m = tfl.sequential();
        m.add(tfl.layers.conv2d({ name: 'conv2d', inputShape: [14, 14, 1], filters: 8, kernelSize: 3, activation: 'relu' }));
        m.add(tfl.layers.conv2d({ name: 'conv2d_1', filters: 16, kernelSize: 3, activation: 'relu' }));
        m.add(tfl.layers.batchNormalization({ name: 'batch_normalization' }));
        m.add(tfl.layers.maxPooling2d({ name: 'max_pooling2d', poolSize: 2 }));
        m.add(tfl.layers.flatten({ name: 'flatten' }));
        m.add(tfl.layers.dense({ name: 'dense', units: 10 }));
        return m;
      },
      () => tfl.train.adam(0.001),
      batches,
      20,
    );
    const ours = await trainLosses(exec, batches, 20);
    expectSeriesClose(ours, ref, 1e-4, 'cnn loss');
    expect(ours[19]).toBeLessThan(ours[0]);
    exec.dispose();
  });

  it('fc_mnist-style MLP with L2 kernel regularizers, Nesterov momentum, 20 steps', async () => {
    const graph = mlpGraph({ inputs: 64, hidden: [48, 32], l2: 0.01, optimizer: { name: 'momentum', learningRate: 0.05, momentum: 0.9, useNesterov: true } });
    const exec = await Executor.create(graph);
    const batches = makeBatches(graph, 32, 3);
    const ref = await tfjsLayersLosses(
      exec,
      () => {
        const m = tfl.sequential();
        const reg = () => tfl.regularizers.l2({ l2: 0.01 });
        m.add(tfl.layers.dense({ name: 'dense', inputShape: [64], units: 48, activation: 'relu', kernelRegularizer: reg() }));
        m.add(tfl.layers.dense({ name: 'dense_1', units: 32, activation: 'relu', kernelRegularizer: reg() }));
        m.add(tfl.layers.dense({ name: 'logits', units: 10 }));
        return m;
      },
      () => tfl.train.momentum(0.05, 0.9, true),
      batches,
      20,
    );
    const ours = await trainLosses(exec, batches, 20);
    expectSeriesClose(ours, ref, 1e-4, 'mlp loss');
    exec.dispose();
  });
});

/** Trains one executor per shard in one thread on slices of the same batches. */
async function shardLosses(graph: Graph, batches: Batch[], steps: number, splits: number[]): Promise<{ losses: number[]; params: Float32Array[] }> {
  const reduce = inThreadAllReduce(splits.length - 1);
  const execs = await Promise.all(
    reduce.map((allReduceSum, r) => Executor.create(graph, { shard: { shardIndex: r, numShards: reduce.length, allReduceSum } })),
  );
  const losses: number[] = [];
  for (let s = 0; s < steps; s++) {
    const b = batches[s % batches.length];
    const res = await Promise.all(execs.map((e, r) => e.trainStep(sliceBatch(b, splits[r], splits[r + 1]), s)));
    for (const r of res) expect(r.loss).toBe(res[0].loss); // every shard sees the same global loss
    losses.push(res[0].loss);
  }
  const params = execs[0].getParams().map((p) => p.data);
  for (const e of execs.slice(1)) e.getParams().forEach((p, i) => expect(Array.from(p.data)).toEqual(Array.from(params[i])));
  execs.forEach((e) => e.dispose());
  return { losses, params };
}

describe('data-parallel shards', () => {
  it('1 shard vs 2 and 3 shards: same losses with batch norm and dropout', async () => {
    const graph = cnnGraph({ size: 10, f1: 4, f2: 6, dropout: 0.3 });
    const batches = makeBatches(graph, 12, 2);
    const one = await shardLosses(graph, batches, 5, [0, 12]);
    const two = await shardLosses(graph, batches, 5, [0, 6, 12]);
    const three = await shardLosses(graph, batches, 5, [0, 3, 7, 12]);
    expectSeriesClose(two.losses, one.losses, 1e-5, '2 shards');
    expectSeriesClose(three.losses, one.losses, 1e-5, '3 uneven shards');
    one.params.forEach((p, i) => expect(relErr(two.params[i], p)).toBeLessThan(1e-4));
  });

  it('MLP with dropout and layer norm, RMSProp', async () => {
    const graph = mlpGraph({ inputs: 20, hidden: [16, 8], dropout: 0.25, layerNorm: true, optimizer: { name: 'rmsprop', learningRate: 0.01, decay: 0.9, momentum: 0.5, epsilon: 1e-7, centered: false } });
    const batches = makeBatches(graph, 16, 3);
    const one = await shardLosses(graph, batches, 6, [0, 16]);
    const two = await shardLosses(graph, batches, 6, [0, 8, 16]);
    expectSeriesClose(two.losses, one.losses, 1e-5, '2 shards');
  });

  it('a training step is deterministic for a fixed seed and changes with the seed', async () => {
    const run = async (seed: number) => {
      const graph = cnnGraph({ size: 8, f1: 2, f2: 3, dropout: 0.5, seed });
      const exec = await Executor.create(graph);
      const l = await trainLosses(exec, makeBatches(graph, 4, 2), 3);
      exec.dispose();
      return l;
    };
    expect(await run(3)).toEqual(await run(3));
    expect(await run(3)).not.toEqual(await run(4));
  });
});

describe('state, evaluation, prediction', () => {
  it('params and slots round-trip: a resumed run continues exactly, dropout masks included', async () => {
    const graph = cnnGraph({ size: 8, f1: 3, f2: 4, dropout: 0.4 });
    const batches = makeBatches(graph, 6, 3);
    const a = await Executor.create(graph);
    await trainLosses(a, batches, 3);
    const params = a.getParams();
    const slots = a.getSlots();
    expect(slots.map((s) => s.name)).toContain('conv2d/kernel/m');
    expect(slots.map((s) => s.name)).toContain('dense/bias/v');
    expect(slots.some((s) => s.name.startsWith('batch_normalization/moving'))).toBe(false);
    const b = await Executor.create(graph);
    b.setParams(params);
    b.setSlots(slots);
    expect(await trainLosses(b, batches, 3, 3)).toEqual(await trainLosses(a, batches, 3, 3));
    expect(() => b.setParams({ 'conv2d/kernel': new Float32Array(3) })).toThrow(/conv2d\/kernel.*expected 27 values/);
    expect(() => b.setSlots({ 'nope/m': new Float32Array(3) })).toThrow(/unknown slot 'nope\/m'/);
    a.dispose();
    b.dispose();
  });

  it('evalStep: loss and metrics agree with predict; inference uses moving statistics', async () => {
    const graph = mlpGraph({ inputs: 12, hidden: [10], dropout: 0.5 });
    const exec = await Executor.create(graph);
    const batches = makeBatches(graph, 20, 2);
    await trainLosses(exec, batches, 5);
    const b = batches[1];
    const ev = await exec.evalStep(b);
    const pred = await exec.predict(b);
    expect(pred.logits.shape).toEqual([20, 10]);
    const z = pred.logits.data as Float32Array;
    const y = b.labels!.data as Int32Array;
    let ce = 0;
    let hits = 0;
    let top3 = 0;
    for (let n = 0; n < 20; n++) {
      const row = Array.from(z.subarray(n * 10, n * 10 + 10));
      const m = Math.max(...row);
      ce += Math.log(row.reduce((s, v) => s + Math.exp(v - m), 0)) + m - row[y[n]];
      if (row.indexOf(m) === y[n]) hits++;
      if (row.filter((v) => v > row[y[n]]).length < 3) top3++;
    }
    expect(ev.loss).toBeCloseTo(ce / 20, 5);
    expect(ev.metrics.accuracy).toEqual({ sums: [hits, 20] });
    expect(ev.metrics.top3).toEqual({ sums: [top3, 20] });
    // evaluation is deterministic (no dropout) and does not change the parameters
    expect((await exec.evalStep(b)).loss).toBe(ev.loss);
    exec.dispose();
  });

  it('the per-node API reproduces trainStep', async () => {
    const graph = cnnGraph({ size: 8, f1: 2, f2: 3, dropout: 0.2 });
    const batches = makeBatches(graph, 4, 1);
    const a = await Executor.create(graph);
    const b = await Executor.create(graph);
    const want = await a.trainStep(batches[0], 0);
    const st = await b.begin(batches[0], 'train', 0);
    const nodes = b.trainNodes;
    // two "wafer kernels": the first three nodes and the rest
    await b.forwardNodes(st, nodes.slice(0, 3));
    await b.forwardNodes(st, nodes.slice(3));
    b.seedLoss(st);
    await b.backwardNodes(st, nodes.slice(3).reverse());
    await b.backwardNodes(st, nodes.slice(0, 3).reverse());
    await b.reduceGradients(st);
    b.applyUpdates(st, ['conv2d/kernel', 'conv2d/bias']);
    b.applyUpdates(st, b.paramNames.filter((n) => !n.startsWith('conv2d/')));
    b.finish(st);
    expect(st.dataLoss).toBe(want.dataLoss);
    const pa = a.getParams();
    b.getParams().forEach((p, i) => expect(Array.from(p.data)).toEqual(Array.from(pa[i].data)));
    a.dispose();
    b.dispose();
  });

  it('1,000 training steps keep the live tensor count and the wasm heap flat', async () => {
    const graph = cnnGraph({ size: 8, f1: 2, f2: 3, dropout: 0.3, l2: 1e-3 });
    const exec = await Executor.create(graph);
    const batches = makeBatches(graph, 4, 3);
    await trainLosses(exec, batches, 20);
    const heap = () => ((tf.backend() as unknown as { wasm: { HEAPU8: Uint8Array } }).wasm.HEAPU8.length);
    const tensors = tf.memory().numTensors;
    const bytes = tf.memory().numBytes;
    const heap0 = heap();
    for (let s = 20; s < 1000; s++) {
      await exec.trainStep(batches[s % 3], s);
      if (s % 100 === 0) expect(tf.memory().numTensors).toBe(tensors);
    }
    await exec.evalStep(batches[0]);
    await exec.predict(batches[0]);
    expect(tf.memory().numTensors).toBe(tensors);
    expect(tf.memory().numBytes).toBe(bytes);
    expect(heap()).toBe(heap0);
    exec.dispose();
  });
});

describe('bad input', () => {
  it('a batch of the wrong shape names the feature, the expected and the actual shape', async () => {
    const graph = cnnGraph({ size: 8, f1: 2, f2: 3 });
    const exec = await Executor.create(graph);
    const bad: Batch = { features: { image: { data: new Float32Array(4 * 64), shape: [4, 64], dtype: 'float32' } }, labels: { data: new Int32Array(4), shape: [4], dtype: 'int32' } };
    await expect(exec.trainStep(bad, 0)).rejects.toThrow(UserError);
    await expect(exec.trainStep(bad, 0)).rejects.toThrow("batch: feature 'image' has shape [4, 64], expected [batch, 8, 8, 1]");
    const noLabels: Batch = { features: { image: { data: new Float32Array(4 * 64), shape: [4, 8, 8, 1], dtype: 'float32' } } };
    await expect(exec.trainStep(noLabels, 0)).rejects.toThrow(/batch: labels is missing/);
    const mismatch: Batch = { features: { image: { data: new Float32Array(4 * 64), shape: [4, 8, 8, 1], dtype: 'float32' } }, labels: { data: new Int32Array(3), shape: [3], dtype: 'int32' } };
    await expect(exec.trainStep(mismatch, 0)).rejects.toThrow(/labels has 3 samples, other inputs have 4/);
    const tensors = tf.memory().numTensors;
    await expect(exec.trainStep({ ...mismatch, labels: { data: Int32Array.from([0, 1, 2, 11]), shape: [4], dtype: 'int32' } }, 0)).rejects.toThrow(/label 11/);
    expect(tf.memory().numTensors).toBe(tensors);
    exec.dispose();
  });

  it('an inconsistent graph is rejected at construction naming the node', async () => {
    const graph = cnnGraph({ size: 8, f1: 2, f2: 3 });
    graph.nodes[1] = { ...graph.nodes[1], inputs: ['conv2d_9:0'] };
    await expect(Executor.create(graph)).rejects.toThrow(/node 'conv2d_1' reads 'conv2d_9:0'/);
  });
});

describe('metrics and collectives', () => {
  it('computeMetric: sparse/binary accuracy, top-k with ties, mean, mse', async () => {
    await Executor.create(mlpGraph({ inputs: 2, hidden: [2] })).then((e) => e.dispose());
    const v = new Map<string, tf.Tensor>([
      ['y', tf.tensor1d([2, 0, 1], 'int32')],
      ['y1', tf.tensor2d([2, 0, 1], [3, 1], 'int32')],
      ['z', tf.tensor2d([0.1, 0.2, 0.9, 0.5, 0.5, 0.1, 0.3, 0.3, 0.3], [3, 3])],
      ['b', tf.tensor1d([1, 0, 1, 1])],
      ['p', tf.tensor1d([0.7, 0.2, 0.4, 0.51])],
    ]);
    expect(computeMetric('a', { op: 'accuracy', inputs: ['y', 'z'] }, v)).toEqual({ sums: [2, 3] });
    expect(computeMetric('a', { op: 'accuracy', inputs: ['y1', 'z'] }, v)).toEqual({ sums: [2, 3] });
    expect(computeMetric('b', { op: 'accuracy', inputs: ['b', 'p'] }, v)).toEqual({ sums: [3, 4] });
    // row 1: label 0 (0.5) ties with class 1 → in the top 1 (TF in_top_k); row 2: all equal → hit
    expect(computeMetric('t', { op: 'topKAccuracy', inputs: ['y', 'z'], k: 1 }, v)).toEqual({ sums: [3, 3] });
    expect(computeMetric('m', { op: 'mean', inputs: ['p'] }, v).sums[0]).toBeCloseTo(1.81, 5);
    expect(computeMetric('e', { op: 'meanSquaredError', inputs: ['b', 'p'] }, v).sums[0]).toBeCloseTo(0.09 + 0.04 + 0.36 + 0.2401, 5);
    expect(() => computeMetric('a', { op: 'accuracy', inputs: ['y', 'b'] }, v)).toThrow(/metric 'a' \(accuracy\): labels \[3\] do not match predictions \[4\]/);
    tf.dispose([...v.values()]);
  });

  it('inThreadAllReduce sums in shard order and rejects mismatched lengths', async () => {
    const [a, b, c] = inThreadAllReduce(3);
    const r = await Promise.all([a(new Float32Array([1, 2])), b(new Float32Array([10, 20])), c(new Float32Array([100, 200]))]);
    for (const x of r) expect(Array.from(x)).toEqual([111, 222]);
    const [d, e] = inThreadAllReduce(2);
    await expect(Promise.all([d(new Float32Array(2)), e(new Float32Array(3))])).rejects.toThrow(/lengths 2, 3/);
  });
});

describe('random streams', () => {
  it('uniform values are in range and deterministic', () => {
    const a = fillUniform(streamKey(1, 2), new Float32Array(1000), -2, 3);
    const b = fillUniform(streamKey(1, 2), new Float32Array(1000), -2, 3);
    expect(Array.from(a)).toEqual(Array.from(b));
    expect(Math.min(...a)).toBeGreaterThanOrEqual(-2);
    expect(Math.max(...a)).toBeLessThan(3);
  });
});
