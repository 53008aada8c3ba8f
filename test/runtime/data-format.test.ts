/**
 * `dataFormat: 'channelsFirst'` on conv2d, conv2dTranspose, the pooling layers and upSampling2d (and concatenate
 * on axis 1): the traced graph (transpose → channels-last op → transpose) run on the wasm backend against the
 * tfjs-layers layer of the same arguments and `dataFormat: 'channelsFirst'`, differentiated by tfjs autodiff on
 * the cpu backend (≤ 1e-4: forward, input and weight gradients); channels-first output is exactly the transposed
 * channels-last output; the shapes, the summary, and the error for a bad value.
 */
import { describe, expect, it } from 'vitest';
import { layers, model, traceModelFn, validateParams, type SymbolicTensor } from '../../index.ts';
import { formatSummary } from '../../runtime/summary.ts';
import { Executor } from '../../runtime/exec/executor.ts';
import type { Graph, GraphNode } from '../../runtime/graph.ts';
import { kernelFor } from '../../runtime/kernels/index.ts';
import type { ForwardResult } from '../../runtime/kernels/types.ts';
import { initBackend } from '../../runtime/backend.ts';
import { expectClose, host, kctx, randn, tf, tfl, type RefTensor } from '../fixtures/numerics-helpers.ts';
import { userErrorMessage } from '../helpers/errors.ts';

/** Traces `body` on one input of per-sample shape `shape` (infer mode: the layer nodes only). */
const trace = (shape: number[], body: (x: SymbolicTensor) => SymbolicTensor): Graph =>
  traceModelFn((f, _l, mode) => ({ mode, predictions: { y: body(f.x) } }), { mode: 'infer', params: validateParams({}, 't.yaml'), signature: { features: { x: { shape, dtype: 'float32' } } } });

/**
 * Runs the graph's chain of single-input nodes forward and backward on the wasm backend (output gradient `dy`),
 * with parameter values `values` by name. Returns output, input gradient and parameter gradients by name.
 */
async function runChain(g: Graph, x: RefTensor, values: Record<string, Float32Array>, dy?: Float32Array) {
  await initBackend();
  const ctx = kctx(x.shape[0]);
  const params = (n: GraphNode) => n.params.map((p) => tf.tensor(values[p], g.params.find((q) => q.name === p)!.shape));
  const made: tf.Tensor[] = [];
  let h = tf.tensor(x.data, x.shape);
  made.push(h);
  const fwd: ForwardResult[] = [];
  for (const n of g.nodes) {
    const r = await kernelFor(n).forward(n as never, [h], params(n), ctx);
    fwd.push(r);
    made.push(...r.outputs, ...r.saved);
    h = r.outputs[0];
  }
  const out = (h.dataSync() as Float32Array).slice();
  const dyData = dy ?? randn(h.shape, 99);
  let d = tf.tensor(dyData, h.shape);
  made.push(d);
  const dParams: Record<string, Float32Array> = {};
  for (let i = g.nodes.length - 1; i >= 0; i--) {
    const n = g.nodes[i];
    const ps = params(n);
    const r = await kernelFor(n).backward(n as never, [d], fwd[i], ps, { inputs: [true], params: ps.map(() => true) }, ctx);
    r.dParams.forEach((t, k) => (dParams[n.params[k]] = (t!.dataSync() as Float32Array).slice()));
    made.push(...ps, ...r.dParams.filter((t): t is tf.Tensor => !!t));
    d = r.dInputs[0]!;
    made.push(d);
  }
  const result = { out, outShape: h.shape, dx: (d.dataSync() as Float32Array).slice(), dParams, dy: dyData };
  tf.dispose(made);
  return result;
}

/** `[n, c, h, w]` ↔ `[n, h, w, c]` on host arrays. */
function toChannelsLast(a: Float32Array, [n, c, h, w]: number[]): Float32Array {
  const out = new Float32Array(a.length);
  for (let b = 0; b < n; b++) for (let k = 0; k < c; k++) for (let i = 0; i < h * w; i++) out[(b * h * w + i) * c + k] = a[(b * c + k) * h * w + i];
  return out;
}

type DF = layers.DataFormat;
/** `inputGradientRef`: where tfjs' own gradient of the layer is wrong (AvgPoolGrad at 'same' borders, see
 * test/runtime/kernels.test.ts; the nearest-resize gradient, see test/runtime/conv2d-transpose.test.ts), a
 * channels-first tfjs-core formulation of the same function whose autodiff gives the input gradient. */
type Case = { name: string; x: number[]; inputGradientRef?: (x: tf.Tensor4D) => tf.Tensor; ours: (dataFormat: DF) => layers.Layer; theirs: () => Pick<ReturnType<typeof tfl.layers.conv2d>, 'apply' | 'setWeights' | 'trainableWeights' | 'dispose'> };
const cases: Case[] = [
  {
    name: "conv2d 3×3 'same', bias, relu",
    x: [2, 3, 6, 5],
    ours: (dataFormat) => layers.conv2d({ filters: 4, kernelSize: 3, padding: 'same', activation: 'relu', dataFormat }),
    theirs: () => tfl.layers.conv2d({ filters: 4, kernelSize: 3, padding: 'same', activation: 'relu', dataFormat: 'channelsFirst' }),
  },
  {
    name: "conv2d 3×2 stride 2 'valid', no bias",
    x: [2, 2, 7, 6],
    ours: (dataFormat) => layers.conv2d({ filters: 3, kernelSize: [3, 2], strides: 2, useBias: false, dataFormat }),
    theirs: () => tfl.layers.conv2d({ filters: 3, kernelSize: [3, 2], strides: 2, useBias: false, dataFormat: 'channelsFirst' }),
  },
  {
    name: "conv2dTranspose 2×2 stride 2 'same' (UNet upsampling), bias",
    x: [2, 4, 3, 4],
    ours: (dataFormat) => layers.conv2dTranspose({ filters: 3, kernelSize: 2, strides: 2, padding: 'same', dataFormat }),
    theirs: () => tfl.layers.conv2dTranspose({ filters: 3, kernelSize: 2, strides: 2, padding: 'same', dataFormat: 'channelsFirst' }),
  },
  {
    name: "conv2dTranspose 3×3 stride 2 'valid', sigmoid",
    x: [1, 2, 3, 3],
    ours: (dataFormat) => layers.conv2dTranspose({ filters: 2, kernelSize: 3, strides: 2, activation: 'sigmoid', dataFormat }),
    theirs: () => tfl.layers.conv2dTranspose({ filters: 2, kernelSize: 3, strides: 2, activation: 'sigmoid', dataFormat: 'channelsFirst' }),
  },
  {
    name: 'maxPooling2d 2×2',
    x: [2, 3, 6, 4],
    ours: (dataFormat) => layers.maxPooling2d({ poolSize: 2, dataFormat }),
    theirs: () => tfl.layers.maxPooling2d({ poolSize: 2, dataFormat: 'channelsFirst' }),
  },
  {
    // 'valid': tfjs' AvgPoolGrad is wrong at 'same' borders (test/runtime/kernels.test.ts); 'same' is in the bit-identity test
    name: "averagePooling2d 3×2 stride 2 'valid'",
    x: [2, 3, 7, 6],
    ours: (dataFormat) => layers.averagePooling2d({ poolSize: [3, 2], strides: 2, dataFormat }),
    theirs: () => tfl.layers.averagePooling2d({ poolSize: [3, 2], strides: 2, dataFormat: 'channelsFirst' }),
  },
  {
    name: "averagePooling2d 3×3 stride 2 'same'",
    x: [2, 3, 5, 6],
    inputGradientRef: (x) => {
      // the window sums (a depthwise conv with ones) over the counts of valid elements
      const nhwc = tf.transpose(x, [0, 2, 3, 1]) as tf.Tensor4D;
      const sums = tf.depthwiseConv2d(nhwc, tf.ones([3, 3, 3, 1]) as tf.Tensor4D, 2, 'same');
      const counts = tf.depthwiseConv2d(tf.ones([1, 5, 6, 1]) as tf.Tensor4D, tf.ones([3, 3, 1, 1]) as tf.Tensor4D, 2, 'same');
      return tf.transpose(tf.div(sums, counts), [0, 3, 1, 2]);
    },
    ours: (dataFormat) => layers.averagePooling2d({ poolSize: 3, strides: 2, padding: 'same', dataFormat }),
    theirs: () => tfl.layers.averagePooling2d({ poolSize: 3, strides: 2, padding: 'same', dataFormat: 'channelsFirst' }),
  },
  {
    name: 'globalAveragePooling2d',
    x: [2, 3, 4, 5],
    ours: () => layers.globalAveragePooling2d({ dataFormat: 'channelsFirst' }),
    theirs: () => tfl.layers.globalAveragePooling2d({ dataFormat: 'channelsFirst' }),
  },
  {
    name: 'upSampling2d 2×3',
    x: [2, 3, 3, 4],
    // each pixel repeated 2 × 3 times: [n·c·h, 1, w, 1] tiled to [n·c·h, 2, w, 3] (tfjs' tile gradient stops at rank 5)
    inputGradientRef: (x) => tf.reshape(tf.tile(tf.reshape(x, [2 * 3 * 3, 1, 4, 1]), [1, 2, 1, 3]), [2, 3, 6, 12]),
    ours: (dataFormat) => layers.upSampling2d({ size: [2, 3], dataFormat }),
    theirs: () => tfl.layers.upSampling2d({ size: [2, 3], dataFormat: 'channelsFirst' }),
  },
];

describe("dataFormat 'channelsFirst' against tfjs-layers (cpu backend, autodiff) ≤ 1e-4", () => {
  for (const c of cases) {
    it(c.name, async () => {
      const g = trace(c.x.slice(1), (t) => c.ours('channelsFirst').apply(t));
      expect(g.nodes.map((n) => n.op)[0]).toBe('transpose');
      const x = host(c.x, 1);
      const values = Object.fromEntries(g.params.map((p, i) => [p.name, randn(p.shape, 2 + i, 0.5)]));
      const run = await runChain(g, x, values);
      // the reference: tfjs-layers' layer with the same weights (Keras order: kernel, bias)
      await tf.setBackend('cpu');
      try {
        const layer = c.theirs();
        const xt = tf.variable(tf.tensor(x.data, x.shape));
        layer.apply(xt);
        layer.setWeights(g.params.map((p) => tf.tensor(values[p.name], p.shape)));
        const y = layer.apply(xt) as tf.Tensor;
        expect(y.shape).toEqual(run.outShape);
        expectClose(run.out, y.dataSync(), 1e-4, 'forward');
        const vars = [xt, ...layer.trainableWeights.map((w) => w.read() as tf.Variable)];
        const { grads } = tf.variableGrads(() => tf.sum(tf.mul(layer.apply(xt) as tf.Tensor, tf.tensor(run.dy, y.shape))) as tf.Scalar, vars);
        if (c.inputGradientRef) {
          expectClose(run.out, c.inputGradientRef(xt as tf.Tensor4D).dataSync(), 1e-4, 'forward of the gradient reference');
          const dx = tfl.grad((t: tf.Tensor) => tf.sum(tf.mul(c.inputGradientRef!(t as tf.Tensor4D), tf.tensor(run.dy, y.shape))))(xt);
          expectClose(run.dx, dx.dataSync(), 1e-4, 'input gradient');
        } else expectClose(run.dx, grads[xt.name].dataSync(), 1e-4, 'input gradient');
        g.params.forEach((p, i) => expectClose(run.dParams[p.name], grads[vars[i + 1].name].dataSync(), 1e-4, `${p.name} gradient`));
        tf.dispose([xt, y, ...Object.values(grads)]);
        layer.dispose();
      } finally {
        await initBackend();
      }
    });
  }
});

describe("dataFormat 'channelsFirst' is channels-last on the transposed input", () => {
  it('conv2d → maxPooling2d → conv2dTranspose → concatenate(axis 1): output and weight gradients equal the transposed channels-last ones', async () => {
    const net = (df: DF) => (t: SymbolicTensor) => {
      const c = layers.conv2d({ filters: 4, kernelSize: 3, padding: 'same', activation: 'relu', dataFormat: df }).apply(t);
      const p = layers.maxPooling2d({ dataFormat: df }).apply(c);
      const u = layers.conv2dTranspose({ filters: 2, kernelSize: 2, strides: 2, padding: 'same', dataFormat: df }).apply(p);
      return layers.concatenate({ axis: df === 'channelsFirst' ? 1 : -1 }).apply([u, c]);
    };
    const first = trace([3, 6, 4], net('channelsFirst'));
    const last = trace([6, 4, 3], net('channelsLast'));
    expect(first.nodes.at(-1)!.outputs[0].shape).toEqual([null, 6, 6, 4]);
    expect(first.params).toEqual(last.params);
    const values = Object.fromEntries(last.params.map((p, i) => [p.name, randn(p.shape, 5 + i, 0.5)]));
    const x = host([2, 3, 6, 4], 1);
    // concatenate has two inputs: run both graphs through the Executor instead of the chain runner
    const predict = async (g: Graph, data: Float32Array, shape: number[]) => {
      const ex = await Executor.create(g, { params: values });
      const out = await ex.predict({ features: { x: { data, shape, dtype: 'float32' } } });
      ex.dispose();
      return out.y;
    };
    const yFirst = await predict(first, x.data as Float32Array, x.shape);
    const yLast = await predict(last, toChannelsLast(x.data as Float32Array, x.shape), [2, 6, 4, 3]);
    expect(yFirst.shape).toEqual([2, 6, 6, 4]);
    expect(toChannelsLast(yFirst.data as Float32Array, yFirst.shape)).toEqual(yLast.data);
  });

  it('single layers: forward output and gradients are bit-identical to channels-last after transposing', async () => {
    for (const c of cases.filter((k) => !k.name.startsWith('global'))) {
      const g = trace(c.x.slice(1), (t) => c.ours('channelsFirst').apply(t));
      const [n, ch, h, w] = c.x;
      const gl = trace([h, w, ch], (t) => c.ours('channelsLast').apply(t));
      const values = Object.fromEntries(g.params.map((p, i) => [p.name, randn(p.shape, 2 + i, 0.5)]));
      const x = host(c.x, 1);
      const rf = await runChain(g, x, values);
      const dyLast = toChannelsLast(rf.dy, rf.outShape);
      const rl = await runChain(gl, { data: toChannelsLast(x.data as Float32Array, c.x), shape: [n, h, w, ch] }, values, dyLast);
      expect(toChannelsLast(rf.out, rf.outShape), c.name).toEqual(rl.out);
      expect(toChannelsLast(rf.dx, c.x), c.name).toEqual(rl.dx);
      expect(rf.dParams, c.name).toEqual(rl.dParams);
    }
  });
});

describe("dataFormat 'channelsFirst' shapes and errors", () => {
  it('traces transpose → op → transpose named after the layer; the summary shows one row per layer', () => {
    const g = trace([3, 8, 6], (t) => layers.conv2d({ filters: 5, kernelSize: 3, dataFormat: 'channelsFirst' }).apply(t));
    expect(g.nodes.map((n) => `${n.name}:${n.op}:${JSON.stringify(n.outputs[0].shape)}`)).toEqual([
      'conv2d/to_channels_last:transpose:[null,8,6,3]',
      'conv2d:conv2d:[null,6,4,5]',
      'conv2d/to_channels_first:transpose:[null,5,6,4]',
    ]);
    expect(g.params.map((p) => `${p.name}:${p.shape}`)).toEqual(['conv2d/kernel:3,3,3,5', 'conv2d/bias:5']);
    const rows = formatSummary(g).split('\n').filter((l) => l.includes('(') && !l.includes('Layer (type)'));
    expect(rows.map((l) => l.trim().split(/\s{2,}/))).toEqual([['x (InputLayer)', '(None, 3, 8, 6)', '0'], ['conv2d (Conv2D)', '(None, 5, 6, 4)', '140']]);
    const gap = trace([3, 8, 6], (t) => layers.globalAveragePooling2d({ dataFormat: 'channelsFirst' }).apply(t));
    expect(gap.nodes.map((n) => n.op)).toEqual(['transpose', 'globalAveragePooling2d']);
    expect(gap.nodes.at(-1)!.outputs[0].shape).toEqual([null, 3]);
  });

  it('functional models (layers.input) get channels-first shapes, and replay to the same graph', () => {
    const body = (t: SymbolicTensor) => layers.maxPooling2d({ dataFormat: 'channelsFirst' }).apply(layers.conv2d({ filters: 3, kernelSize: 3, padding: 'same', dataFormat: 'channelsFirst' }).apply(t));
    const inp = layers.input({ shape: [2, 8, 8] });
    const y = body(inp);
    expect(y.shape).toEqual([null, 3, 4, 4]);
    const m = model({ inputs: inp, outputs: y });
    expect(trace([2, 8, 8], (t) => m.apply(t))).toEqual(trace([2, 8, 8], body));
  });

  it('a second call of the same layer names its transposes after that call', () => {
    const conv = layers.conv2d({ filters: 2, kernelSize: 1, dataFormat: 'channelsFirst' });
    const g = trace([2, 4, 4], (t) => conv.apply(conv.apply(t)));
    expect(g.nodes.map((n) => n.name)).toEqual(['conv2d/to_channels_last', 'conv2d', 'conv2d/to_channels_first', 'conv2d_call1/to_channels_last', 'conv2d_call1', 'conv2d_call1/to_channels_first']);
  });

  it('a bad dataFormat value is one UserError naming the layer and the allowed values', () => {
    const msg = userErrorMessage;
    expect(msg(() => layers.conv2d({ filters: 2, kernelSize: 3, dataFormat: 'channels_first' as never }))).toBe(
      "layer 'conv2d' (Conv2D): dataFormat must be 'channelsFirst' or 'channelsLast', got \"channels_first\" (did you mean 'channelsFirst'?)",
    );
    expect(msg(() => layers.conv2dTranspose({ filters: 2, kernelSize: 2, dataFormat: 'NCHW' as never }))).toBe("layer 'conv2d_transpose' (Conv2DTranspose): dataFormat must be 'channelsFirst' or 'channelsLast', got \"NCHW\"");
    expect(msg(() => layers.maxPooling2d({ name: 'pool', dataFormat: 1 as never }))).toBe("layer 'pool' (MaxPooling2D): dataFormat must be 'channelsFirst' or 'channelsLast', got 1");
    expect(msg(() => layers.globalAveragePooling2d({ dataFormat: 'first' as never }))).toMatch(/^layer 'global_average_pooling2d' \(GlobalAveragePooling2D\): dataFormat must be/);
    expect(msg(() => trace([8, 8], (t) => layers.conv2d({ filters: 2, kernelSize: 3, dataFormat: 'channelsFirst' }).apply(t)))).toBe(
      "layer 'conv2d' (Conv2D): expected input of rank 4 [batch, c, h, w] (dataFormat channelsFirst), got shape (None, 8, 8)",
    );
  });
});
