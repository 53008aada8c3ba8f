/**
 * examples/unet: the modelzoo UNet key sets build the right network, channels_first is channels-last on the
 * transposed input, bad inputs give one clear UserError each, and 20 Adam steps match a tfjs-core reference.
 */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { traceModelFn, validateParams, type Params } from '../../index.ts';
import { modelFn } from '../../examples/unet/model.ts';
import fs from 'node:fs';
import os from 'node:os';
import { PNG } from 'pngjs';
import { inputFn, onPredictions, segmentationPair } from '../../examples/unet/data.ts';
import { traceModelDir } from '../../host/model-dir.ts';
import { Executor } from '../../runtime/exec/executor.ts';
import { initBackend } from '../../runtime/backend.ts';
import { countParams, type Mode } from '../../runtime/graph.ts';
import { readParamsYaml } from '../../runtime/params.ts';
import { compileGraph } from '../../compiler/pipeline.ts';
import { loadMachine } from '../../compiler/machine.ts';
import { timeBatch } from '../../wafer-sim/clock.ts';
import type { Batch } from '../../runtime/batch.ts';
import { expectClose, randn, tf, tfl } from '../fixtures/numerics-helpers.ts';
import { userErrorMessage } from '../helpers/errors.ts';

const EXAMPLE = path.resolve(__dirname, '../../examples/unet');
const FIXTURES = path.resolve(__dirname, '../fixtures/modelzoo');
const defaults = () => readParamsYaml(path.join(EXAMPLE, 'configs/params.yaml')) as Record<string, Record<string, unknown>>;
const make = (model: Record<string, unknown> = {}, input: Record<string, unknown> = {}, optimizer?: Record<string, unknown>) => {
  const raw = defaults();
  return validateParams({ ...raw, train_input: { ...raw.train_input, ...input }, model: { ...raw.model, ...model }, ...(optimizer ? { optimizer } : {}) }, 'unet.yaml');
};
const sig = (s: number[]) => ({ features: { image: { shape: s, dtype: 'float32' as const } }, labels: { shape: s, dtype: 'float32' as const } });
const trace = (p: Params, mode: Mode = 'train', shape = [32, 32, 1]) => traceModelFn(modelFn, { mode, params: p, signature: sig(shape) });

/** Parameters of a UNet by hand: 3×3 convs (two per block), 2×2 transposed convs, a 1×1 output conv. */
function unetParams(enc: number[], dec: number[], bias: boolean, cin = 1): number {
  const conv = (k: number, i: number, o: number) => k * k * i * o + (bias ? o : 0);
  let n = 0;
  let c = cin;
  for (const f of enc) {
    n += conv(3, c, f) + conv(3, f, f);
    c = f;
  }
  dec.forEach((f, i) => {
    n += conv(2, c, f) + conv(3, f + enc[enc.length - 2 - i], f) + conv(3, f, f);
    c = f;
  });
  return n + conv(1, c, 1);
}

describe('examples/unet model', () => {
  it('the default small UNet: encoder [8, 16, 32], decoder [16, 8], skip connections, metrics under the modelzoo names', () => {
    const g = trace(make());
    expect(countParams(g)).toBe(unetParams([8, 16, 32], [16, 8], true));
    expect(g.nodes.filter((n) => n.op === 'conv2dTranspose').map((n) => n.outputs[0].shape)).toEqual([[null, 16, 16, 16], [null, 32, 32, 8]]);
    expect(g.nodes.filter((n) => n.op === 'concatenate').map((n) => n.outputs[0].shape)).toEqual([[null, 16, 16, 32], [null, 32, 32, 16]]);
    expect(Object.entries(g.metrics).map(([k, m]) => `${k}:${m.op}`)).toEqual(['mIOU:meanIou', 'DSC:dice', 'MPCA:meanPerClassAccuracy', 'Acc:accuracy']);
    expect(g.nodes.at(-1)!.op).toBe('sigmoidCrossEntropy');
    const noSkip = trace(make({ skip_connect: false }));
    expect(noSkip.nodes.some((n) => n.op === 'concatenate')).toBe(false);
    const ones = trace(make({ convs_per_block: ['3x3_conv', '1x1_conv'] }));
    expect(ones.params.find((p) => p.name === 'conv2d_1/kernel')!.shape).toEqual([1, 1, 8, 8]);
  });

  for (const [file, enc, dec, bias, size] of [
    ['unet_severstal_keys.yaml', [32, 64, 128, 256], [128, 64, 32], false, 256],
    ['unet_dagm_keys.yaml', [32, 64, 128, 256, 512], [256, 128, 64, 32], true, 512],
  ] as const) {
    it(`the modelzoo key set of ${file}: channels_first, ${size} × ${size}, encoder ${enc.join('/')}`, async () => {
      const { graph } = await traceModelDir(EXAMPLE, { mode: 'train', paramsFile: path.join(FIXTURES, file) });
      expect(countParams(graph)).toBe(unetParams([...enc], [...dec], bias));
      expect(graph.inputs.features.image.shape).toEqual([null, 1, size, size]);
      // channels_first through the layers' dataFormat: each image layer transposes its input to channels-last and
      // its output back; the skip concatenations join the channel axis 1; the logits are [batch, 1, H, W]
      const byName = new Map(graph.nodes.map((n) => [n.name, n]));
      for (const n of graph.nodes.filter((m) => ['conv2d', 'conv2dTranspose', 'maxPooling2d'].includes(m.op))) {
        expect(n.inputs[0], n.name).toBe(`${n.name}/to_channels_last:0`);
        expect(byName.get(`${n.name}/to_channels_first`)!.inputs[0], n.name).toBe(n.outputs[0].id);
      }
      const concats = graph.nodes.filter((n) => n.op === 'concatenate');
      expect(concats.map((n) => [(n.attrs as { axis: number }).axis, n.outputs[0].shape[1]])).toEqual(dec.map((f) => [1, 2 * f]));
      const loss = graph.nodes.find((n) => n.op === 'sigmoidCrossEntropy')!;
      expect(loss.inputs[1]).toBe('conv2d_' + (2 * enc.length + 2 * dec.length) + '/to_channels_first:0');
      expect(graph.nodes.some((n) => n.op === 'transpose' && !n.name.includes('/'))).toBe(false);
    }, 120_000);
  }

  it('channels_first compiles to the kernels, edges, estimate and simulated batch time of channels_last (the layout transposes are free)', () => {
    const machine = loadMachine('wse2');
    const compile = (p: Params, shape: number[]) => compileGraph(trace(p, 'train', shape), machine, { batchSize: 16 });
    const last = compile(make(), [32, 32, 1]);
    const first = compile(make({ data_format: 'channels_first' }), [1, 32, 32]);
    expect(first.kernelGraph.kernels).toEqual(last.kernelGraph.kernels);
    const edges = (r: typeof last) => r.kernelGraph.edges.map((e) => `${e.from}→${e.to} ${e.bytesPerSample} B${e.backward ? ' bwd' : ''}`);
    expect(edges(first)).toEqual(edges(last));
    expect(first.plan!.estimate).toEqual(last.plan!.estimate);
    // the flow-level simulation too: the skip connection's two layouts are one multicast group (edges' viewOf)
    expect(timeBatch(first.plan!, 16, 'flow').batchCycles).toBe(timeBatch(last.plan!, 16, 'flow').batchCycles);
    expect(first.plan!.kernels.map((k) => [k.name, k.x, k.y, k.width, k.height])).toEqual(last.plan!.kernels.map((k) => [k.name, k.x, k.y, k.width, k.height]));
  }, 120_000);
});

describe('examples/unet bad input: one clear UserError each', () => {
  const err = userErrorMessage;
  it('encoder_filters not one longer than decoder_filters', () => {
    expect(err(() => trace(make({ decoder_filters: [16] })))).toBe('model.encoder_filters has 3 entries and model.decoder_filters 1: the encoder needs exactly one more (its last entry is the bottleneck)');
  });
  it('image_shape not divisible by 2^poolings', () => {
    expect(err(() => trace(make({}, { image_shape: [30, 32, 1] })))).toBe('train_input.image_shape [30,32,1]: height and width must be divisible by 4 (2^2, one halving per max-pooling)');
  });
  it('an unknown convs_per_block entry', () => {
    expect(err(() => trace(make({ convs_per_block: ['3x3_conv', '5x5_conv'] })))).toBe('model.convs_per_block: unknown entry "5x5_conv"; supported: 3x3_conv, 1x1_conv');
  });
  it('num_classes other than 2', () => {
    expect(err(() => trace(make({}, { num_classes: 3 })))).toBe('train_input.num_classes 3: the modelzoo UNet does binary segmentation only (num_classes: 2, one foreground logit per pixel)');
  });
  it('a mask whose shape does not match the image', () => {
    const bad = { features: { image: { shape: [32, 32, 1], dtype: 'float32' as const } }, labels: { shape: [16, 16, 1], dtype: 'float32' as const } };
    expect(err(() => traceModelFn(modelFn, { mode: 'train', params: make(), signature: bad }))).toMatch(/the mask \(None, 16, 16, 1\) does not match the image's logits \(None, 32, 32, 1\)/);
  });
});

describe('examples/unet data', () => {
  it('digits in noise with their masks; the same pixels every time; channels_first layout', async () => {
    const pixels = { data: Uint8Array.from({ length: 784 }, (_, i) => (i % 28 > 10 && i % 28 < 16 ? 255 : 0)), shape: [1, 28, 28], dtype: 'uint8' as const };
    const a = segmentationPair(pixels as never, [5], 'train', 32, 32, null);
    expect(a.mask.reduce((s, v) => s + v, 0)).toBe(5 * 28);
    expect(segmentationPair(pixels as never, [5], 'train', 32, 32, null)).toEqual(a);
    expect(segmentationPair(pixels as never, [6], 'train', 32, 32, null).image).not.toEqual(a.image);
    const it = (await inputFn(make({ data_format: 'channels_first' }, { num_examples: 20, batch_size: 4 }), 'train')).iterator();
    const b = (await it.next()).value!;
    expect(b.features.image.shape).toEqual([4, 1, 32, 32]);
    expect(b.labels!.shape).toEqual([4, 1, 32, 32]);
  });
});

describe('examples/unet predictions as PNG files', () => {
  it('writes image, true and predicted mask per sample and a montage of the first batch', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'unet-png-'));
    const shape = [2, 32, 32, 1];
    const prob = Float32Array.from({ length: 2048 }, (_, i) => (i % 32 < 16 ? 0.9 : 0.1));
    const t = (data: Float32Array) => ({ data, shape, dtype: 'float32' as const });
    onPredictions({ features: { image: t(new Float32Array(2048)) }, labels: t(new Float32Array(2048).fill(1)) }, { probabilities: t(prob) }, { dir, offset: 0 });
    expect(fs.readdirSync(path.join(dir, 'images')).sort()).toEqual(['00000_image.png', '00000_label.png', '00000_mask.png', '00001_image.png', '00001_label.png', '00001_mask.png']);
    const mask = PNG.sync.read(fs.readFileSync(path.join(dir, 'images/00001_mask.png')));
    expect([mask.width, mask.height]).toEqual([32, 32]);
    expect([mask.data[0], mask.data[4 * 20]]).toEqual([255, 0]); // RGBA on read: column 0 foreground, column 20 background
    const montage = PNG.sync.read(fs.readFileSync(path.join(dir, 'montage.png')));
    expect([montage.width, montage.height]).toEqual([64, 96]);
    fs.rmSync(dir, { recursive: true, force: true });
  });
});

/** Runs one train-mode forward/backward and returns loss, logits-side predictions and parameter gradients. */
async function lossAndGrads(p: Params, shape: number[], batch: Batch, values: Record<string, Float32Array>) {
  const g = trace(p, 'train', shape);
  const ex = await Executor.create(g, { params: values });
  const st = await ex.begin(batch, 'train', 0);
  await ex.forwardNodes(st, ex.trainNodes);
  ex.seedLoss(st);
  await ex.backwardNodes(st, [...ex.trainNodes].reverse());
  await ex.reduceGradients(st);
  const out = { loss: st.dataLoss!, grads: Object.fromEntries(g.params.map((pi) => [pi.name, (st.paramGrads.get(pi.name)!.dataSync() as Float32Array).slice()])) };
  ex.finish(st);
  ex.dispose();
  return out;
}

describe('examples/unet numerics', () => {
  const [B, H, W] = [2, 16, 16];
  const small = (extra: Record<string, unknown> = {}) =>
    make({ encoder_filters: [4, 8], decoder_filters: [4], ...extra }, { image_shape: [H, W, 1] }, { optimizer_type: 'adam', learning_rate: 1e-3 });
  const x = randn([B, H, W, 1], 1);
  const y = Float32Array.from(randn([B, H, W, 1], 2), (v) => (v > 0.3 ? 1 : 0));
  const nhwcToNchw = (a: Float32Array) => {
    const out = new Float32Array(a.length);
    for (let b = 0; b < B; b++) for (let i = 0; i < H * W; i++) out[b * H * W + i] = a[b * H * W + i]; // one channel: same order
    return out;
  };

  it('channels_first gives the loss and gradients of channels_last on the transposed input', async () => {
    const g = trace(small(), 'train', [H, W, 1]);
    const ex = await Executor.create(g);
    const values = Object.fromEntries(ex.getParams().map((v) => [v.name, v.data]));
    ex.dispose();
    const last = await lossAndGrads(small(), [H, W, 1], { features: { image: { data: x, shape: [B, H, W, 1], dtype: 'float32' } }, labels: { data: y, shape: [B, H, W, 1], dtype: 'float32' } }, values);
    const first = await lossAndGrads(small({ data_format: 'channels_first' }), [1, H, W], { features: { image: { data: nhwcToNchw(x), shape: [B, 1, H, W], dtype: 'float32' } }, labels: { data: nhwcToNchw(y), shape: [B, 1, H, W], dtype: 'float32' } }, values);
    expect(first.loss).toBeCloseTo(last.loss, 6);
    for (const k of Object.keys(last.grads)) expectClose(first.grads[k], last.grads[k], 1e-6, `gradient of ${k}`);
  });

  it('20 Adam steps match a tfjs-core reference (conv2d, maxPool, conv2dTranspose, concat, sigmoid CE) within 1e-4', async () => {
    const p = small();
    const g = trace(p, 'train', [H, W, 1]);
    const batches: Batch[] = Array.from({ length: 4 }, (_, i) => ({
      features: { image: { data: randn([B, H, W, 1], 10 + i), shape: [B, H, W, 1], dtype: 'float32' } },
      labels: { data: Float32Array.from(randn([B, H, W, 1], 20 + i), (v) => (v > 0 ? 1 : 0)), shape: [B, H, W, 1], dtype: 'float32' },
    }));
    const ex = await Executor.create(g);
    const initial = ex.getParams();
    const ours: number[] = [];
    for (let s = 0; s < 20; s++) ours.push((await ex.trainStep(batches[s % 4], s)).loss);
    const final = ex.getParams();
    ex.dispose();
    await tf.setBackend('cpu');
    const theirs: number[] = [];
    let after: Float32Array[];
    try {
      const vars = initial.map((v) => tf.variable(tf.tensor(v.data, v.shape), true, `unet_ref_${v.name}`));
      const byName = Object.fromEntries(initial.map((v, i) => [v.name, vars[i]]));
      const conv = (h: tf.Tensor4D, name: string, relu = true) => {
        const z = tf.add(tf.conv2d(h, byName[`${name}/kernel`] as tf.Tensor4D, 1, 'same'), byName[`${name}/bias`]) as tf.Tensor4D;
        return relu ? tf.relu(z) : z;
      };
      const loss = (img: tf.Tensor4D, mask: tf.Tensor4D) => {
        const e0 = conv(conv(img, 'conv2d'), 'conv2d_1');
        const b = conv(conv(tf.maxPool(e0, 2, 2, 'valid'), 'conv2d_2'), 'conv2d_3');
        const up = tf.add(tf.conv2dTranspose(b, byName['conv2d_transpose/kernel'] as tf.Tensor4D, [B, H, W, 4], 2, 'same'), byName['conv2d_transpose/bias']) as tf.Tensor4D;
        const d = conv(conv(tf.concat([up, e0], -1), 'conv2d_4'), 'conv2d_5');
        const z = conv(d, 'conv2d_6', false);
        return tf.mean(tf.add(tf.sub(tf.relu(z), tf.mul(z, mask)), tf.log1p(tf.exp(tf.neg(tf.abs(z)))))) as tf.Scalar;
      };
      const opt = tfl.train.adam(1e-3, 0.9, 0.999, 1e-7);
      for (let s = 0; s < 20; s++) {
        const bt = batches[s % 4];
        const img = tf.tensor4d(bt.features.image.data as Float32Array, [B, H, W, 1]);
        const mask = tf.tensor4d(bt.labels!.data as Float32Array, [B, H, W, 1]);
        const cost = opt.minimize(() => loss(img, mask), true, vars)!;
        theirs.push(cost.dataSync()[0]);
        tf.dispose([cost, img, mask]);
      }
      after = vars.map((v) => (v.dataSync() as Float32Array).slice());
      tf.dispose(vars);
      opt.dispose();
    } finally {
      await initBackend();
    }
    expectClose(ours, theirs, 1e-4, 'loss series');
    expect(theirs[19]).toBeLessThan(theirs[0]);
    final.forEach((v, i) => expectClose(v.data, after[i], 1e-4, `parameter ${v.name} after 20 steps`));
  }, 120_000);
});
