/**
 * `optimizer.max_gradient_norm` (global-norm clipping) is applied by the executor's update, checked against a
 * hand computation of the gradients of a dense layer under mean squared error.
 */
import { describe, expect, it } from 'vitest';
import { layers, losses, optimizers, traceModelFn, validateParams, type ModelFn } from '../../index.ts';
import { Executor } from '../../runtime/exec/executor.ts';
import type { Batch } from '../../runtime/batch.ts';

const [B, I, U] = [3, 2, 2];
const x = [0.5, -1, 2, 0.25, -0.75, 1.5];
const t = [1, 0, -1, 2, 0.5, 0.5];
const W = [0.3, -0.2, 0.1, 0.4];
const b = [0.05, -0.05];

/** dL/dW and dL/db of L = mean((xW + b − t)²) by hand: dL/dy = 2(y − t) / (B·U). */
function handGradients(): { dW: number[]; db: number[] } {
  const dW = [0, 0, 0, 0];
  const db = [0, 0];
  for (let r = 0; r < B; r++) {
    for (let u = 0; u < U; u++) {
      let y = b[u];
      for (let i = 0; i < I; i++) y += x[r * I + i] * W[i * U + u];
      const dy = (2 * (y - t[r * U + u])) / (B * U);
      db[u] += dy;
      for (let i = 0; i < I; i++) dW[i * U + u] += x[r * I + i] * dy;
    }
  }
  return { dW, db };
}

async function oneStep(maxGradientNorm?: number): Promise<Record<string, Float32Array>> {
  const modelFn: ModelFn = (f, labels, mode, params) => {
    const loss = losses.meanSquaredError(labels!, layers.dense({ units: U }).apply(f.x));
    return { mode, loss, trainOp: optimizers.fromParams(params.optimizer).minimize(loss) };
  };
  const params = validateParams({ optimizer: { optimizer_type: 'sgd', learning_rate: 1, ...(maxGradientNorm ? { max_gradient_norm: maxGradientNorm } : {}) } }, 'test.yaml');
  const graph = traceModelFn(modelFn, { mode: 'train', params, signature: { features: { x: { shape: [I], dtype: 'float32' } }, labels: { shape: [U], dtype: 'float32' } } });
  const ex = await Executor.create(graph, { params: { 'dense/kernel': Float32Array.from(W), 'dense/bias': Float32Array.from(b) } });
  const batch: Batch = { features: { x: { data: Float32Array.from(x), shape: [B, I], dtype: 'float32' } }, labels: { data: Float32Array.from(t), shape: [B, U], dtype: 'float32' } };
  await ex.trainStep(batch, 0);
  const out = Object.fromEntries(ex.getParams().map((p) => [p.name, p.data]));
  ex.dispose();
  return out;
}

describe('optimizer.max_gradient_norm', () => {
  const { dW, db } = handGradients();
  const norm = Math.hypot(...dW, ...db);
  const expectUpdate = (got: Record<string, Float32Array>, scale: number) => {
    W.forEach((w, i) => expect(got['dense/kernel'][i]).toBeCloseTo(w - scale * dW[i], 6));
    b.forEach((v, i) => expect(got['dense/bias'][i]).toBeCloseTo(v - scale * db[i], 6));
  };

  it('scales every gradient by max_gradient_norm / global norm when the norm is above it', async () => {
    expect(norm).toBeGreaterThan(0.5);
    expectUpdate(await oneStep(0.5), 0.5 / norm);
  });
  it('leaves gradients below the norm, and without the key, unchanged', async () => {
    expectUpdate(await oneStep(norm * 2), 1);
    expectUpdate(await oneStep(), 1);
  });
});
