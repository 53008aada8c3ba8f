/**
 * Peer (b) of bench/train.ts: the MNIST CNN of examples/mnist in tfjs-layers, trained with `model.fit` on
 * the tfjs WASM backend (batch 64, Adam 0.001, softmax output with sparse categorical cross-entropy) on the real
 * MNIST training images. The wasm backend lacks `Conv2DBackpropFilter`, so the minimal kernel is
 * registered here (the filter-gradient form of runtime/kernels/conv2d.ts). Prints one JSON line:
 * `{ samplesPerS, steps, batchSize }` measured over `--steps` batches after `--warmup` batches.
 *
 *   npx tsx bench/train/tfjs-layers.ts [--steps 40] [--warmup 5]
 */
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { loadMnist } from '../../host/data/readers/mnist.ts';
import { conv2dFilterGrad, convGeometry } from '../../runtime/kernels/conv2d.ts';

const { values } = parseArgs({ options: { steps: { type: 'string', default: '40' }, warmup: { type: 'string', default: '5' } } });
const steps = Number(values.steps);
const warmup = Number(values.warmup);
const B = 64;

await tf.setBackend('wasm');
await tf.ready();
tf.registerKernel({
  kernelName: 'Conv2DBackpropFilter',
  backendName: 'wasm',
  kernelFunc: ({ inputs, attrs }) => {
    const { x, dy } = inputs as { x: tf.Tensor4D; dy: tf.Tensor4D };
    const a = attrs as unknown as { strides: [number, number] | number; pad: 'valid' | 'same'; filterShape: number[]; dilations?: [number, number] | number };
    const pair = (v: number | [number, number] | undefined): [number, number] => (v === undefined ? [1, 1] : typeof v === 'number' ? [v, v] : v);
    const g = convGeometry(x.shape, [a.filterShape[0], a.filterShape[1]], pair(a.strides), pair(a.dilations), a.pad);
    return conv2dFilterGrad(x, dy, g) as unknown as tf.TensorInfo;
  },
});

const model = tf.sequential({
  layers: [
    tf.layers.conv2d({ inputShape: [28, 28, 1], filters: 32, kernelSize: 3, activation: 'relu' }),
    tf.layers.conv2d({ filters: 64, kernelSize: 3, activation: 'relu' }),
    tf.layers.batchNormalization(),
    tf.layers.maxPooling2d({ poolSize: 2 }),
    tf.layers.dropout({ rate: 0.25 }),
    tf.layers.flatten(),
    tf.layers.dense({ units: 10, activation: 'softmax' }),
  ],
});
model.compile({ optimizer: tf.train.adam(0.001), loss: 'sparseCategoricalCrossentropy' });

const n = (steps + warmup) * B;
const { images, labels } = loadMnist(undefined, 'train', { numExamples: n });
const xs = tf.tidy(() => tf.tensor(Float32Array.from(images.data as Uint8Array, (v) => v / 255), [n, 28, 28, 1]));
const ys = tf.tensor(Float32Array.from(labels.data as Uint8Array), [n, 1]);

let t0 = 0;
let seen = 0;
await model.fit(xs, ys, {
  batchSize: B,
  epochs: 1,
  shuffle: false,
  verbose: 0,
  callbacks: {
    onBatchEnd: async (batch) => {
      seen = batch + 1;
      if (seen === warmup) t0 = performance.now();
    },
  },
});
const secs = (performance.now() - t0) / 1000;
console.log(JSON.stringify({ samplesPerS: ((seen - warmup) * B) / secs, steps: seen - warmup, batchSize: B }));
