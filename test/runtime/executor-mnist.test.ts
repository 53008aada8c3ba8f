/**
 * The graphs traced from examples/mnist/model.ts (conv32 3×3 relu, conv64 3×3 relu, batch norm, max-pool 2,
 * flatten, dense 10; 111,242 params) and examples/fc_mnist/model.ts (784-500-300-10) train 20 steps with the
 * same losses as the same models in tfjs-layers with the same weights, batches and Adam. Dropout is set to 0
 * through params.model (tfjs-layers draws its own masks, which cannot be matched). The cpu backend
 * is far too slow for this size (~15 s per step of 8 samples), so tfjs-layers runs on wasm with the missing
 * filter-gradient kernel and a correct MaxPoolGrad registered (`numerics-tfjs-wasm.ts`).
 *
 * Learning rate 1e-4 on real MNIST digits: at Adam's default 1e-3 this model is chaotic at float32 level —
 * perturbing OUR OWN initial weights by 1e-7 (relative) moves the step-17 loss by 3.6e-3 (measured), so no
 * two implementations with different rounding can agree to 1e-4 over 20 steps there. At 1e-4 the same
 * perturbation stays below 2.5e-5 over 20 steps while the loss still falls from 2.8 to ~1.5.
 */
import { describe, expect, it } from 'vitest';
import { Executor } from '../../runtime/exec/executor.ts';
import { countParams } from '../../runtime/graph.ts';
import { traceModelFn, validateParams, type ModelFn } from '../../index.ts';
import { modelFn as mnistModelFn } from '../../examples/mnist/model.ts';
import { modelFn as fcModelFn } from '../../examples/fc_mnist/model.ts';
import type { Graph } from '../../runtime/graph.ts';
import { tfl } from '../fixtures/numerics-helpers.ts';
import { registerWasmTrainingKernels } from '../fixtures/numerics-tfjs-wasm.ts';
import { expectSeriesClose, mnistBatches, tfjsLayersLosses, trainLosses } from '../fixtures/numerics-train.ts';

/** The train graph of an example's modelFn with the given model params and Adam learning rate. */
function traceExample(fn: ModelFn, model: Record<string, unknown>, learningRate: number, imageShape: number[]): Graph {
  const params = validateParams({ model, optimizer: { optimizer_type: 'adam', learning_rate: learningRate }, runconfig: { seed: 1 } }, 'test');
  return traceModelFn(fn, { mode: 'train', params, signature: { features: { image: { shape: imageShape, dtype: 'float32' } }, labels: { shape: [], dtype: 'int32' } } });
}

describe('MNIST CNN, full size', () => {
  it('20 Adam steps on MNIST digits match tfjs-layers within 1e-4', async () => {
    const graph = traceExample(mnistModelFn, { dropout_rate: 0 }, 1e-4, [28, 28, 1]);
    expect(countParams(graph)).toBe(111_242);
    const exec = await Executor.create(graph);
    registerWasmTrainingKernels();
    const batches = mnistBatches(32, 20);
    const ref = await tfjsLayersLosses(
      exec,
      () => {
        const m = tfl.sequential();
        m.add(tfl.layers.conv2d({ name: 'conv2d', inputShape: [28, 28, 1], filters: 32, kernelSize: 3, activation: 'relu' }));
        m.add(tfl.layers.conv2d({ name: 'conv2d_1', filters: 64, kernelSize: 3, activation: 'relu' }));
        m.add(tfl.layers.batchNormalization({ name: 'batch_normalization' }));
        m.add(tfl.layers.maxPooling2d({ name: 'max_pooling2d', poolSize: 2 }));
        m.add(tfl.layers.flatten({ name: 'flatten' }));
        m.add(tfl.layers.dense({ name: 'dense', units: 10 }));
        return m;
      },
      () => tfl.train.adam(1e-4),
      batches,
      20,
      'wasm',
    );
    const ours = await trainLosses(exec, batches, 20);
    expectSeriesClose(ours, ref, 1e-4, 'mnist cnn loss');
    expect(ours[19]).toBeLessThan(ours[0]);
    exec.dispose();
  });

  it('fc_mnist: 20 Adam steps (batch 64) match tfjs-layers within 1e-4', async () => {
    // Learning rate 1e-4 for the reason given above: at 1e-3 the two implementations agree to 5e-7 over the
    // first three steps, then Adam's normalised updates of near-zero gradients amplify rounding differences
    // (1e-5 at step 4, 1e-3 by step 13, measured).
    const graph = traceExample(fcModelFn, { dropout: 0 }, 1e-4, [784]);
    expect(countParams(graph)).toBe(545_810);
    const exec = await Executor.create(graph);
    const batches = mnistBatches(64, 20).map((b) => ({ ...b, features: { image: { ...b.features.image, shape: [64, 784] } } }));
    const ref = await tfjsLayersLosses(
      exec,
      () => {
        const m = tfl.sequential();
        m.add(tfl.layers.dense({ name: 'dense', inputShape: [784], units: 500, activation: 'relu' }));
        m.add(tfl.layers.dense({ name: 'dense_1', units: 300, activation: 'relu' }));
        m.add(tfl.layers.dense({ name: 'dense_2', units: 10 }));
        return m;
      },
      () => tfl.train.adam(1e-4),
      batches,
      20,
      'wasm',
    );
    const ours = await trainLosses(exec, batches, 20);
    expectSeriesClose(ours, ref, 1e-4, 'fc_mnist loss');
    expect(ours[19]).toBeLessThan(ours[0]);
    exec.dispose();
  });
});
