/** Predict-time text sampling (host/generate.ts) with a stand-in model whose logits are known. */
import { describe, expect, it } from 'vitest';
import { sampleIndex, sampleSequences, samplingOptions } from '../../host/generate.ts';
import type { Batch, TensorData } from '../../runtime/batch.ts';
import { UserError } from '../../runtime/errors.ts';

const [N, T, V] = [3, 6, 5];
/** A causal "model": at position t the logits favour token (ids[t] + 1) mod V by `margin`. */
const chain = (margin: number) => async (b: Batch): Promise<Record<string, TensorData>> => {
  const ids = b.features.ids.data;
  const out = new Float32Array(N * T * V);
  for (let i = 0; i < N * T; i++) out[i * V + ((ids[i] + 1) % V)] = margin;
  return { logits: { data: out, shape: [N, T, V], dtype: 'float32' } };
};
const template: Batch = { features: { ids: { data: new Int32Array(N * T), shape: [N, T], dtype: 'int32' } } };

describe('text sampling', () => {
  it('sampleIndex follows softmax(logits / temperature) by inverse CDF', () => {
    const l = [0, Math.log(3)]; // p = [1/4, 3/4]
    expect(sampleIndex(l, 1, 0.24)).toBe(0);
    expect(sampleIndex(l, 1, 0.26)).toBe(1);
    // temperature 2: p ∝ [1, √3] → p₀ ≈ 0.366
    expect(sampleIndex(l, 2, 0.36)).toBe(0);
    expect(sampleIndex(l, 2, 0.37)).toBe(1);
  });

  it('feeds each sampled token back; stops at the stop token; reproducible from the seed', async () => {
    const opts = { temperature: 0.05, seed: 3, numSamples: 4, startToken: 0, stopToken: 0 };
    const seqs = await sampleSequences(chain(10), template, opts);
    // near-greedy: 0 → 1 → 2 → 3 → 4 → 0 (stop)
    expect(seqs).toEqual(Array(4).fill([1, 2, 3, 4]));
    const hot = { ...opts, temperature: 5, numSamples: 7 };
    const a = await sampleSequences(chain(1), template, hot);
    expect(a).toHaveLength(7);
    expect(a.every((s) => s.length <= T && !s.includes(0))).toBe(true);
    expect(await sampleSequences(chain(1), template, hot)).toEqual(a);
    expect(await sampleSequences(chain(1), template, { ...hot, seed: 4 })).not.toEqual(a);
  });

  it('reads predict_input; bad values and inputs give one UserError each', async () => {
    expect(samplingOptions({}, 1)).toBeUndefined();
    expect(samplingOptions({ temperature: 0.8, num_samples: 3 }, 9)).toEqual({ temperature: 0.8, seed: 9, numSamples: 3, startToken: 0, stopToken: 0 });
    expect(() => samplingOptions({ temperature: 0 }, 1)).toThrow('predict_input.temperature must be a positive number, got 0');
    const floats: Batch = { features: { x: { data: new Float32Array(4), shape: [2, 2], dtype: 'float32' } } };
    await expect(sampleSequences(chain(1), floats, samplingOptions({ temperature: 1 }, 1)!)).rejects.toThrow(UserError);
    await expect(sampleSequences(async () => ({}), template, samplingOptions({ temperature: 1 }, 1)!)).rejects.toThrow(/needs the PREDICT spec to return predictions.logits \[3, 6, vocab\], got no logits/);
  });
});

describe('csrun predict samples text (Estimator, a bigram model on the names corpus)', () => {
  it('writes predict/samples.txt: num_samples names of the vocabulary, the same for the same seed', async () => {
    const { default: fs } = await import('node:fs');
    const { default: os } = await import('node:os');
    const { default: path } = await import('node:path');
    const { Estimator } = await import('../../host/estimator.ts');
    const { loadModelDir } = await import('../../host/model-dir.ts');
    const { loadMachine } = await import('../../compiler/machine.ts');
    const fixture = path.resolve(__dirname, '../fixtures/lm-bigram');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'csrun-sample-'));
    const est = async (seed?: number) => {
      const md = await loadModelDir(fixture, { overrides: { runconfig: { model_dir: dir } } });
      if (seed !== undefined) md.params.predict_input.seed = seed;
      return new Estimator(md, { machine: loadMachine('wse2'), log: () => {}, progress: false });
    };
    await (await est()).train();
    const { file, count } = await (await est()).predict();
    expect(count).toBe(12);
    expect(file).toBe(path.join(dir, 'predict/samples.jsonl'));
    const names = fs.readFileSync(path.join(dir, 'predict/samples.txt'), 'utf8').trim().split('\n');
    expect(names).toHaveLength(12);
    expect(names.every((n) => /^[a-z-]{0,16}$/.test(n))).toBe(true);
    expect(names.filter((n) => n.length >= 2).length).toBeGreaterThan(6);
    await (await est()).predict();
    expect(fs.readFileSync(path.join(dir, 'predict/samples.txt'), 'utf8').trim().split('\n')).toEqual(names);
    await (await est(6)).predict();
    expect(fs.readFileSync(path.join(dir, 'predict/samples.txt'), 'utf8').trim().split('\n')).not.toEqual(names);
    fs.rmSync(dir, { recursive: true, force: true });
  }, 180_000);
});
