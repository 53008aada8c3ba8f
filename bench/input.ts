/**
 * Input pipeline benchmark (not a test): batches/s and samples/s of the support server streaming
 * examples/mnist (real MNIST training set, TRAIN mode: shuffle + repeat, batch 64) with 1 and 2 input
 * workers, and the ratio to the training step rate the wafer consumes (target ≥ 10×).
 *
 *   npx tsx bench/input.ts [--train-steps-per-s R] [--batches N] [--workers 1,2] [--batch-size 64]
 *
 * The training rate is {@link TRAINING_STEPS_PER_S} unless given on the command line; set it to the
 * steps/s a `csrun train examples/mnist` run logs (host steps/s), so the ratio compares like with like.
 * The consumer here does no work, so the figures are the server's ceiling; the input-wait fraction a real
 * run reports is in its performance.json.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { loadParams } from '../runtime/params.ts';
import { SupportServer } from '../host/input/support-server.ts';

/**
 * Training steps per second to compare against (MNIST CNN, batch 64, on the simulated wafer): 7.9 is the
 * steady state of `npm run bench:train` (≈ 505 samples/s host with 2 compute workers) on the 2-core
 * development machine. Re-measure and update it as the Estimator loop gets faster, or pass
 * `--train-steps-per-s`.
 */
export const TRAINING_STEPS_PER_S = 7.9;

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({
  options: {
    'train-steps-per-s': { type: 'string' },
    batches: { type: 'string', default: '3000' },
    workers: { type: 'string', default: '1,2' },
    'batch-size': { type: 'string', default: '64' },
    warmup: { type: 'string', default: '50' },
  },
});
const trainRate = values['train-steps-per-s'] ? Number(values['train-steps-per-s']) : TRAINING_STEPS_PER_S;
const batches = Number(values.batches);
const warmup = Number(values.warmup);
const batchSize = Number(values['batch-size']);
const dataModule = path.join(root, 'examples/mnist/data.ts');
const params = loadParams(path.join(root, 'examples/mnist/configs/params.yaml'));
params.train_input.batch_size = batchSize;

console.log(`support server, examples/mnist TRAIN, batch ${batchSize}, ${batches} batches after ${warmup} warm-up`);
console.log(`training rate compared against: ${trainRate} steps/s (${values['train-steps-per-s'] ? '--train-steps-per-s' : 'TRAINING_STEPS_PER_S'})`);
console.log('workers  startup ms  batches/s  samples/s  ratio to training');
for (const n of values.workers!.split(',').map(Number)) {
  const server = await SupportServer.start({ dataModule, params, mode: 'train', numWorkers: n });
  for (let i = 0; i < warmup; i++) await server.next();
  const t0 = performance.now();
  let samples = 0;
  for (let i = 0; i < batches; i++) {
    const r = await server.next();
    samples += r.value!.labels!.shape[0];
  }
  const s = (performance.now() - t0) / 1000;
  const startup = server.stats().startupMs;
  await server.close();
  const bps = batches / s;
  console.log(
    `${String(n).padStart(7)}  ${startup.toFixed(0).padStart(10)}  ${bps.toFixed(0).padStart(9)}  ${(samples / s).toFixed(0).padStart(9)}  ${(bps / trainRate).toFixed(1).padStart(8)}×`,
  );
}
