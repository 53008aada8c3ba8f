/**
 * conv2dTranspose on the wasm backend against tfjs `conv2dTranspose` differentiated by tfjs autodiff on the cpu
 * backend (≤ 1e-4): forward, input, kernel and bias gradients; and the layer's shapes, weights and errors.
 */
import { describe, expect, it } from 'vitest';
import { layers, traceModelFn, validateParams, type SymbolicTensor } from '../../index.ts';
import type { OpAttrs } from '../../runtime/graph.ts';
import { expectClose, host, node, reference, runKernel, tf } from '../fixtures/numerics-helpers.ts';

type A = OpAttrs['conv2dTranspose'];
const base: A = { filters: 3, kernelSize: [2, 2], strides: [2, 2], padding: 'same', activation: 'linear', useBias: true };
const cases: { name: string; x: number[]; a: A }[] = [
  { name: "2×2 stride 2 'same' (UNet upsampling), bias", x: [2, 3, 4, 5], a: base },
  { name: "2×2 stride 2 'valid', relu", x: [2, 3, 3, 4], a: { ...base, padding: 'valid', activation: 'relu' } },
  { name: "3×3 stride 2 'same', no bias", x: [1, 4, 3, 2], a: { ...base, kernelSize: [3, 3], useBias: false } },
  { name: "3×2 stride 1×2 'valid', sigmoid", x: [2, 3, 4, 2], a: { ...base, kernelSize: [3, 2], strides: [1, 2], padding: 'valid', activation: 'sigmoid' } },
  { name: "1×1 stride 2 'same' (kernel smaller than the stride)", x: [1, 3, 3, 2], a: { ...base, kernelSize: [1, 1] } },
];

const outSize = (n: number, k: number, s: number, p: string) => (p === 'same' ? n * s : (n - 1) * s + k);
const act = (name: string, z: tf.Tensor) => (name === 'relu' ? tf.relu(z) : name === 'sigmoid' ? tf.sigmoid(z) : z);

describe('conv2dTranspose kernel', () => {
  for (const c of cases) {
    it(c.name, async () => {
      const [n, h, w, ci] = c.x;
      const { kernelSize: [kh, kw], strides: [sh, sw], filters: co, padding } = c.a;
      const x = host(c.x, 1);
      const params = [host([kh, kw, co, ci], 2, 0.5), ...(c.a.useBias ? [host([co], 3, 0.5)] : [])];
      const run = await runKernel(node('conv2dTranspose', c.a, 1, params.map((_, i) => `p${i}`)), [x], params);
      const oshape: [number, number, number, number] = [n, outSize(h, kh, sh, padding), outSize(w, kw, sw, padding), co];
      expect(run.outShapes[0]).toEqual(oshape);
      const f = (xt: tf.Tensor, wt: tf.Tensor, bt?: tf.Tensor) => {
        let z: tf.Tensor = tf.conv2dTranspose(xt as tf.Tensor4D, wt as tf.Tensor4D, oshape, [sh, sw], padding);
        if (bt) z = tf.add(z, bt);
        return act(c.a.activation, z);
      };
      const ref = await reference(f, [x, ...params], [0, ...params.map((_, i) => i + 1)], run.dy[0]);
      expectClose(run.outputs[0], ref.value, 1e-4, 'forward');
      expectClose(run.dInputs[0], ref.grads[0], 1e-4, 'input gradient');
      expectClose(run.dParams[0], ref.grads[1], 1e-4, 'kernel gradient');
      if (c.a.useBias) expectClose(run.dParams[1], ref.grads[2], 1e-4, 'bias gradient');
    });
  }
  it('rejects a kernel of the wrong layout, naming the node', async () => {
    await expect(runKernel(node('conv2dTranspose', base, 1, ['k', 'b']), [host([1, 2, 2, 4], 1)], [host([2, 2, 4, 3], 2), host([3], 3)])).rejects.toThrow(
      /conv2dTranspose_test.*kernel must have shape \[2, 2, 3, 4\], got \[2, 2, 4, 3\]/,
    );
  });
});

describe('layers.conv2dTranspose', () => {
  const trace = (body: (x: SymbolicTensor) => SymbolicTensor) =>
    traceModelFn((f, _l, mode) => ({ mode, predictions: body(f.x) }), { mode: 'infer', params: validateParams({}, 't.yaml'), signature: { features: { x: { shape: [8, 6, 4], dtype: 'float32' } } } });
  it('Keras shapes and weights: kernel [kh, kw, filters, in]', () => {
    const g = trace((x) => layers.conv2dTranspose({ filters: 5, kernelSize: 2, strides: 2, padding: 'same' }).apply(x));
    expect(g.nodes[0].outputs[0].shape).toEqual([null, 16, 12, 5]);
    expect(g.params.map((p) => `${p.name}:${p.shape}`)).toEqual(['conv2d_transpose/kernel:2,2,5,4', 'conv2d_transpose/bias:5']);
    const v = trace((x) => layers.conv2dTranspose({ filters: 2, kernelSize: 3, strides: 2 }).apply(x));
    expect(v.nodes[0].outputs[0].shape).toEqual([null, 17, 13, 2]);
  });
  it('bad arguments give one UserError naming the layer', () => {
    expect(() => layers.conv2dTranspose({ filters: 0, kernelSize: 2 })).toThrow("layer 'conv2d_transpose' (Conv2DTranspose): filters must be a positive integer, got 0");
    expect(() => trace((x) => layers.conv2dTranspose({ filters: 2, kernelSize: 2, padding: 'full' as never }).apply(x))).toThrow(/padding/);
  });
});

describe('upSampling2d (nearest)', () => {
  it('repeats each pixel size[0] × size[1] times (tfjs nearest resize); the input gradient sums each block', async () => {
    const x = host([2, 3, 4, 5], 1);
    const run = await runKernel(node('upSampling2d', { size: [2, 3] }, 1), [x]);
    expect(run.outShapes[0]).toEqual([2, 6, 12, 5]);
    // tfjs-layers' UpSampling2D is a nearest-neighbour resize (integer factors: source pixel ⌊i / size⌋)
    const f = (xt: tf.Tensor) => tf.image.resizeNearestNeighbor(xt as tf.Tensor4D, [6, 12]);
    const ref = await reference(f, [x], [0], run.dy[0]);
    expectClose(run.outputs[0], ref.value, 1e-6, 'forward');
    // by hand: dx[n, i, j, c] = Σ_{a < 2, b < 3} dy[n, 2i + a, 3j + b, c]
    const dx = new Float32Array(2 * 3 * 4 * 5);
    for (let n = 0; n < 2; n++) for (let i = 0; i < 6; i++) for (let j = 0; j < 12; j++) for (let c = 0; c < 5; c++) {
      dx[((n * 3 + Math.floor(i / 2)) * 4 + Math.floor(j / 3)) * 5 + c] += run.dy[0][((n * 6 + i) * 12 + j) * 5 + c];
    }
    expectClose(run.dInputs[0], dx, 1e-5, 'input gradient');
  });
  it('layer shapes; bilinear is refused with one UserError', () => {
    const g = traceModelFn((f, _l, mode) => ({ mode, predictions: layers.upSampling2d({ size: 2 }).apply(f.x) }), { mode: 'infer', params: validateParams({}, 't.yaml'), signature: { features: { x: { shape: [8, 6, 4], dtype: 'float32' } } } });
    expect(g.nodes[0].outputs[0].shape).toEqual([null, 16, 12, 4]);
    expect(() => layers.upSampling2d({ interpolation: 'bilinear' as never })).toThrow("layer 'up_sampling2d' (UpSampling2D): interpolation 'bilinear' is not supported (csrun has 'nearest')");
  });
});
