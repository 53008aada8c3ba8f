/**
 * The csrun leg of bench/gpt2.ts when `csrun train_and_eval` cannot compile the model (the compiler has no
 * wafer kernels for the transformer ops yet): the same training through csrun's runtime directly — the
 * Executor (`runtime/exec/executor.ts`, the step code the compute workers run), the examples/gpt2 modelFn and
 * inputFn, `runconfig.max_steps` steps — then one pass over the test windows (loss, perplexity, next-token
 * accuracy) and names sampled with `host/generate.ts` at the params' temperature and seed.
 * Prints one JSON line.
 *
 *   npx tsx bench/gpt2/csrun-runtime.ts
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { modelFn } from '../../examples/gpt2/model.ts';
import { inputFn, vocabulary } from '../../examples/gpt2/data.ts';
import { loadParams } from '../../runtime/params.ts';
import { traceModelFn } from '../../runtime/api/estimator.ts';
import { Executor } from '../../runtime/exec/executor.ts';
import { metricResult } from '../../runtime/exec/metrics.ts';
import { sampleSequences, samplingOptions } from '../../host/generate.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const params = loadParams(path.join(root, 'examples/gpt2/configs/params.yaml'));
const T = params.train_input.max_sequence_length as number;
const sig = { features: { input_ids: { shape: [T], dtype: 'int32' as const } }, labels: { shape: [T], dtype: 'int32' as const } };
const t0 = performance.now();
const train = await Executor.create(traceModelFn(modelFn, { mode: 'train', params, signature: sig }));
const it = (await inputFn(params, 'train')).iterator();
for (let s = 0; s < params.runconfig.max_steps!; s++) await train.trainStep((await it.next()).value!, s);
const values = Object.fromEntries(train.getParams().map((p) => [p.name, p.data]));
train.dispose();
const evalGraph = traceModelFn(modelFn, { mode: 'eval', params, signature: sig });
const ev = await Executor.create(evalGraph, { params: values });
let loss = 0;
let rows = 0;
const sums: Record<string, number[]> = {};
for (const eit = (await inputFn(params, 'eval')).iterator(); ; ) {
  const r = await eit.next();
  if (r.done) break;
  const n = r.value.labels!.shape[0];
  const e = await ev.evalStep(r.value);
  loss += e.loss * n;
  rows += n;
  for (const [k, v] of Object.entries(e.metrics)) v.sums.forEach((x, i) => ((sums[k] ??= v.sums.map(() => 0))[i] += x));
}
ev.dispose();
const pred = await Executor.create(traceModelFn(modelFn, { mode: 'infer', params, signature: { features: sig.features } }), { params: values });
const template = (await (await inputFn(params, 'infer')).iterator().next()).value!;
const names = await sampleSequences((b) => pred.predict(b), template, samplingOptions(params.predict_input, params.runconfig.seed)!);
pred.dispose();
console.log(JSON.stringify({
  test_loss: loss / rows,
  perplexity: metricResult(evalGraph.metrics.perplexity, { sums: sums.perplexity }),
  accuracy: metricResult(evalGraph.metrics.accuracy, { sums: sums.accuracy }),
  seconds: (performance.now() - t0) / 1000,
  names: names.map((ids) => ids.map((i) => vocabulary[i]).join('')),
}));
