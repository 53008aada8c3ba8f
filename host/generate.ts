/**
 * Predict-time text sampling for language models (`csrun predict` when `predict_input.temperature` is set):
 * autoregressive sampling from a modelFn whose PREDICT spec returns `logits` `[batch, T, vocab]` for int32 token
 * ids `[batch, T]` (causal: position t sees tokens ≤ t).
 *
 * Every row starts with `start_token` at position 0; at step t the logits of position t are divided by the
 * temperature, soft-maxed and sampled (inverse CDF with csrun's Random seeded from `predict_input.seed`), and
 * the token written at t + 1, until `stop_token` or T tokens. Positions after t hold `start_token` (the causal
 * mask makes them irrelevant). One forward pass of the whole batch per position: O(T²) work, fine for the toy
 * sizes this is for.
 */
import { UserError } from '../runtime/errors.ts';
import { Random } from '../runtime/random.ts';
import type { Batch, TensorData } from '../runtime/batch.ts';

/** Sampling settings, the `predict_input` keys of the same names. */
export interface SamplingOptions {
  /** Softmax temperature > 0 (1: the model's distribution; → 0: greedy). */
  temperature: number;
  /** Seed of the sampler. */
  seed: number;
  /** Sequences to sample (rounds of the template batch's rows). */
  numSamples: number;
  /** Token that starts every sequence; default 0. */
  startToken: number;
  /** Token that ends a sequence (not included in the result); default startToken. */
  stopToken: number;
}

/**
 * Reads the sampling keys of `predict_input` (`temperature`, `seed`, `num_samples`, `start_token`, `stop_token`).
 * @returns undefined when `temperature` is absent (predict writes plain predictions then).
 * @throws UserError naming the key for a value of the wrong type or range.
 */
export function samplingOptions(input: Record<string, unknown>, fallbackSeed: number): SamplingOptions | undefined {
  if (input.temperature === undefined) return undefined;
  const num = (k: string, dflt: number, ok: (v: number) => boolean, what: string) => {
    const v = input[k] ?? dflt;
    if (typeof v !== 'number' || !ok(v)) throw new UserError(`predict_input.${k} must be ${what}, got ${JSON.stringify(input[k])}`);
    return v;
  };
  const nonNegInt = (v: number) => Number.isInteger(v) && v >= 0;
  const startToken = num('start_token', 0, nonNegInt, 'a token id (integer ≥ 0)');
  return {
    temperature: num('temperature', 1, (v) => v > 0 && Number.isFinite(v), 'a positive number'),
    seed: num('seed', fallbackSeed, Number.isInteger, 'an integer'),
    numSamples: num('num_samples', 10, (v) => Number.isInteger(v) && v > 0, 'a positive integer'),
    startToken,
    stopToken: num('stop_token', startToken, nonNegInt, 'a token id (integer ≥ 0)'),
  };
}

/** Index drawn from softmax(logits / temperature) with one uniform number u ∈ [0, 1). */
export function sampleIndex(logits: ArrayLike<number>, temperature: number, u: number): number {
  let mx = -Infinity;
  for (let i = 0; i < logits.length; i++) mx = Math.max(mx, logits[i]);
  const p = Array.from(logits, (l) => Math.exp((l - mx) / temperature));
  let target = u * p.reduce((a, b) => a + b, 0);
  for (let i = 0; i < p.length; i++) {
    target -= p[i];
    if (target < 0) return i;
  }
  return p.length - 1;
}

/**
 * Samples `opts.numSamples` token sequences.
 * @param predict runs the PREDICT graph on a batch (e.g. `wafer.predict`), returning `logits`.
 * @param template a batch of the prediction input: its single int32 feature `[n, T]` gives n and T.
 * @returns the sampled sequences (without the start and stop tokens).
 * @throws UserError when the template has not exactly one int32 `[n, T]` feature, the predictions have no
 *   `logits [n, T, vocab]`, or a token id is outside the vocabulary.
 */
export async function sampleSequences(
  predict: (batch: Batch) => Promise<Record<string, TensorData>>,
  template: Batch,
  opts: SamplingOptions,
): Promise<number[][]> {
  const entries = Object.entries(template.features);
  if (entries.length !== 1 || entries[0][1].dtype !== 'int32' || entries[0][1].shape.length !== 2) {
    throw new UserError(`predict_input.temperature (text sampling) needs an input pipeline with one int32 feature [batch, sequence] of token ids, got ${entries.map(([k, t]) => `${k} ${t.dtype} [${t.shape}]`).join(', ')}`);
  }
  const [name, t] = entries[0];
  const [n, T] = t.shape;
  const rng = new Random(opts.seed);
  const out: number[][] = [];
  while (out.length < opts.numSamples) {
    const ids = new Int32Array(n * T).fill(opts.startToken);
    const done = new Array<boolean>(n).fill(false);
    const seqs: number[][] = Array.from({ length: n }, () => []);
    for (let pos = 0; pos < T && !done.every(Boolean); pos++) {
      const preds = await predict({ features: { [name]: { data: ids, shape: [n, T], dtype: 'int32' } } });
      const logits = preds.logits;
      if (!logits || logits.shape.length !== 3 || logits.shape[0] !== n || logits.shape[1] !== T) {
        throw new UserError(`predict_input.temperature (text sampling) needs the PREDICT spec to return predictions.logits [${n}, ${T}, vocab], got ${logits ? `[${logits.shape}]` : 'no logits'}`);
      }
      const V = logits.shape[2];
      if (opts.startToken >= V || opts.stopToken >= V) throw new UserError(`predict_input.start_token ${opts.startToken} / stop_token ${opts.stopToken} must be below the vocabulary size ${V}`);
      for (let r = 0; r < n; r++) {
        const u = rng.nextFloat();
        if (done[r]) continue;
        const off = (r * T + pos) * V;
        const tok = sampleIndex(logits.data.subarray(off, off + V), opts.temperature, u);
        if (tok === opts.stopToken) done[r] = true;
        else {
          seqs[r].push(tok);
          if (pos + 1 < T) ids[r * T + pos + 1] = tok;
        }
      }
    }
    out.push(...seqs.slice(0, opts.numSamples - out.length));
  }
  return out;
}
