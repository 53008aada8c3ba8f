/**
 * Data-parallel compute workers (runtime/parallel/, driven through a Wafer): results do not depend on the number of workers
 * beyond float32 summation order, each setting is deterministic, and memory stays flat over long runs.
 */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadMachine } from '../../compiler/machine.ts';
import { compileGraph } from '../../compiler/pipeline.ts';
import { loadModelDir, signatureOf, traceModel } from '../../host/model-dir.ts';
import { SupportServer } from '../../host/input/support-server.ts';
import type { Batch } from '../../runtime/batch.ts';
import { splitBatch } from '../../runtime/parallel/shards.ts';
import { Wafer } from '../../wafer-sim/wafer.ts';

const ROOT = path.resolve(__dirname, '../..');
const machine = loadMachine('wse2');

/** Graph, plan and the first `n` training batches of a model directory. */
async function setup(dir: string, n: number) {
  const md = await loadModelDir(path.join(ROOT, dir));
  const server = await SupportServer.start({ dataModule: md.dataFile, params: md.params, mode: 'train', inProcess: true });
  const batches: Batch[] = [];
  for (let i = 0; i < n; i++) batches.push((await server.next()).value as Batch);
  await server.close();
  const graph = traceModel(md, 'train', signatureOf(batches[0] as never, md.dataFile));
  const plan = compileGraph(graph, machine, { batchSize: batches[0].features.image.shape[0] }).plan!;
  return { graph, plan, batches };
}

/** Losses of `steps` training steps with `workers` compute workers. */
async function losses(s: Awaited<ReturnType<typeof setup>>, workers: number, steps: number): Promise<number[]> {
  const wafer = await Wafer.load(s.plan, s.graph, machine, { computeWorkers: workers });
  try {
    const out: number[] = [];
    for (let i = 0; i < steps; i++) out.push((await wafer.trainStep(structuredClone(s.batches[i % s.batches.length]), i)).loss);
    return out;
  } finally {
    await wafer.close();
  }
}

describe('compute workers', () => {
  it('split a batch into contiguous slices differing by at most one sample', () => {
    expect(splitBatch(64, 2)).toEqual([{ offset: 0, size: 32 }, { offset: 32, size: 32 }]);
    expect(splitBatch(7, 3)).toEqual([{ offset: 0, size: 3 }, { offset: 3, size: 2 }, { offset: 5, size: 2 }]);
  });

  it('the MNIST CNN gives the same losses over 50 steps with 1 and 2 workers, each run deterministic', async () => {
    const s = await setup('examples/mnist', 50);
    const one = await losses(s, 1, 50);
    const two = await losses(s, 2, 50);
    const twoAgain = await losses(s, 2, 50);
    const oneAgain = await losses(s, 1, 50);
    expect(twoAgain).toEqual(two);
    expect(oneAgain).toEqual(one);
    // Both cut the batch into the same 2 shards and add their contributions in shard order, so the whole
    // trajectory is bit-identical (the issue asks for 1e-5 relative after 50 steps).
    expect(two).toEqual(one);
    expect(Math.abs(two[49] / one[49] - 1)).toBeLessThan(1e-5);
    expect(one[49]).toBeLessThan(one[0]);
  }, 180_000);

  it('1,000 steps keep live tensors, tensor bytes and the wasm heap flat in every worker', async () => {
    const s = await setup('test/fixtures/estimator-tiny', 16);
    const wafer = await Wafer.load(s.plan, s.graph, machine, { computeWorkers: 2 });
    try {
      for (let i = 0; i < 50; i++) await wafer.trainStep(structuredClone(s.batches[i % 16]), i);
      const warm = await wafer.memory();
      for (let i = 50; i < 1000; i++) await wafer.trainStep(structuredClone(s.batches[i % 16]), i);
      expect(await wafer.memory()).toEqual(warm);
      expect(warm).toHaveLength(2);
      expect(warm[0].wasmHeapBytes).toBeGreaterThan(0);
    } finally {
      await wafer.close();
    }
  }, 180_000);
});
