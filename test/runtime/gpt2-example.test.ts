/**
 * examples/gpt2: the modelzoo GPT-2 / GPT-J key sets build the right network (parameter counts), its data
 * split is fixed, and bad inputs each give one clear UserError.
 */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { traceModelFn, validateParams, type Params } from '../../index.ts';
import { modelFn } from '../../examples/gpt2/model.ts';
import { encode, splitNames, splitWindows, vocabulary, windows } from '../../examples/gpt2/data.ts';
import { traceModelDir } from '../../host/model-dir.ts';
import { countParams, type Mode } from '../../runtime/graph.ts';
import { formatSummary } from '../../runtime/summary.ts';
import { readParamsYaml } from '../../runtime/params.ts';
import { userErrorMessage } from '../helpers/errors.ts';

const EXAMPLE = path.resolve(__dirname, '../../examples/gpt2');
const FIXTURES = path.resolve(__dirname, '../fixtures/modelzoo');

const sig = (T: number) => ({ features: { input_ids: { shape: [T], dtype: 'int32' as const } }, labels: { shape: [T], dtype: 'int32' as const } });
function trace(params: Params, mode: Mode = 'train', T = params.train_input.max_sequence_length as number) {
  return traceModelFn(modelFn, { mode, params, signature: sig(T) });
}
const withModel = (file: string, model: Record<string, unknown>, input: Record<string, unknown> = {}) => {
  const raw = readParamsYaml(file) as Record<string, Record<string, unknown>>;
  return validateParams({ ...raw, train_input: { ...raw.train_input, ...input }, model: { ...raw.model, ...model } }, file);
};

describe('examples/gpt2 model', () => {
  it('GPT-2 small from the modelzoo params (data_dir left out): 124,439,808 parameters with shared embeddings', async () => {
    const { graph } = await traceModelDir(EXAMPLE, { mode: 'train', paramsFile: path.join(FIXTURES, 'gpt2_small_params.yaml') });
    expect(countParams(graph)).toBe(124_439_808);
    expect(formatSummary(graph, 'gpt2')).toContain('Total params: 124,439,808');
    expect(graph.optimizer).toMatchObject({ name: 'adamw', globalClipnorm: 1, weightDecay: 0.011 });
    // dropout after the embedding and after each attention and feed-forward block; attention dropout inside
    expect(graph.nodes.filter((n) => n.op === 'dropout')).toHaveLength(1 + 2 * 12);
    expect(graph.nodes.filter((n) => n.op === 'multiHeadAttention').map((n) => (n.attrs as { dropout: number; useCausalMask: boolean })).every((a) => a.dropout === 0.1 && a.useCausalMask)).toBe(true);
  }, 120_000);

  it('untied output layer adds vocab × hidden (+ vocab with use_bias_in_output)', () => {
    const file = path.join(FIXTURES, 'gpt2_small_keys.yaml');
    const tied = countParams(trace(withModel(file, {})));
    expect(countParams(trace(withModel(file, { share_embedding_weights: false })))).toBe(tied + 96 * 64);
    expect(countParams(trace(withModel(file, { share_embedding_weights: false, use_bias_in_output: true })))).toBe(tied + 96 * 64 + 96);
  });

  it('GPT-J key set: rotary attention without a position table, parallel block, untied biased output, list initializers', () => {
    const params = validateParams(readParamsYaml(path.join(FIXTURES, 'gptj_keys.yaml')), 'gptj_keys.yaml');
    const g = trace(params);
    const mha = g.nodes.filter((n) => n.op === 'multiHeadAttention');
    expect(mha.map((n) => (n.attrs as { rotaryDim: number; useBias: boolean; keyDim: number }))).toEqual(Array(2).fill(expect.objectContaining({ rotaryDim: 4, useBias: false, keyDim: 8 })));
    expect(g.params.some((p) => p.name.includes('position'))).toBe(false);
    // one shared layer norm per block (use_untied_layer_norm: false) plus the final one
    expect(g.nodes.filter((n) => n.op === 'layerNormalization')).toHaveLength(3);
    const D = 32, F = 128, V = 32;
    const block = 4 * D * D + 2 * D + (D * F + F + F * D + D);
    expect(countParams(g)).toBe(V * D + 2 * block + 2 * D + D * V + V);
    const out = g.params.at(-1)!;
    expect(out.shape).toEqual([V]);
    expect(g.params.find((p) => p.name === 'embedding/embeddings')!.initializer).toMatchObject({ name: 'truncatedNormal', config: { mean: 0, stddev: 0.02 } });
    expect(g.params.at(-2)!.initializer).toMatchObject({ name: 'truncatedNormal', config: { stddev: 0.01 } });
    const untied = trace(withModel(path.join(FIXTURES, 'gptj_keys.yaml'), { use_untied_layer_norm: true }));
    expect(untied.nodes.filter((n) => n.op === 'layerNormalization')).toHaveLength(5);
  });

  it('loss_scaling batch_size multiplies the mean token loss by loss_weight · T; eval has perplexity and accuracy', () => {
    const params = validateParams(readParamsYaml(path.join(EXAMPLE, 'configs/params.yaml')), 'params.yaml');
    const g = trace(params, 'eval');
    expect(Object.values(g.metrics).map((m) => m.op)).toEqual(['perplexity', 'accuracy']);
    expect(g.nodes.at(-1)!.op).toBe('sparseSoftmaxCrossEntropy'); // loss_weight · T = 1: no scaling node
    const scaled = trace(withModel(path.join(FIXTURES, 'gpt2_small_keys.yaml'), { loss_weight: 0.5 }), 'eval');
    expect(scaled.nodes.at(-1)!).toMatchObject({ op: 'mul' });
    expect(trace(params, 'infer').predictions).toHaveProperty('logits');
  });
});

describe('examples/gpt2 data', () => {
  it('the fixed split: 90 / 10 of the de-duplicated lower-case names, the same every time, disjoint', () => {
    const a = splitNames(['Anna', 'anna', 'Bob', ...Array.from({ length: 18 }, (_, i) => `n${'abcdefghijklmnopqrs'[i]}`)]);
    expect(a.train.length + a.test.length).toBe(20);
    expect(a.test).toHaveLength(2);
    expect(splitNames(['Bob', 'Anna', ...Array.from({ length: 18 }, (_, i) => `n${'abcdefghijklmnopqrs'[i]}`)])).toEqual(a);
    expect(a.train.filter((n) => a.test.includes(n))).toEqual([]);
  });
  it('windows are the token stream cut into T inputs and the next T tokens', () => {
    const s = encode(['ab', 'c-']);
    expect(Array.from(s)).toEqual([1, 2, 0, 3, 27, 0]);
    const w = windows(s, 2);
    expect(w.n).toBe(2);
    expect(Array.from(w.inputs)).toEqual([1, 2, 0, 3]);
    expect(Array.from(w.labels)).toEqual([2, 0, 3, 27]);
    expect(vocabulary.join('')).toBe('.abcdefghijklmnopqrstuvwxyz-');
  });
  it('the default corpus: the stdlib first names split into 3,329 train and 368 test windows of 16', () => {
    const params = validateParams(readParamsYaml(path.join(EXAMPLE, 'configs/params.yaml')), 'params.yaml');
    expect([splitWindows(params, 'train').n, splitWindows(params, 'eval').n]).toEqual([3329, 368]);
  });
});

describe('examples/gpt2 bad input: one clear UserError each', () => {
  const file = path.join(FIXTURES, 'gpt2_small_keys.yaml');
  const err = userErrorMessage;
  it('hidden_size not divisible by num_heads', () => {
    expect(err(() => trace(withModel(file, { num_heads: 5 })))).toBe('model.hidden_size 64 is not divisible by model.num_heads 5: each head gets hidden_size / num_heads dimensions');
  });
  it('a sequence longer than max_position_embeddings', () => {
    expect(err(() => trace(withModel(file, {}, { max_sequence_length: 40 })))).toBe('train_input.max_sequence_length 40 is longer than model.max_position_embeddings 32: raise max_position_embeddings or shorten the sequences');
    expect(err(() => trace(withModel(file, {}), 'train', 48))).toBe('features.input_ids has sequences of 48 tokens, longer than model.max_position_embeddings 32');
  });
  it('vocab_size smaller than the name vocabulary; unsupported position embedding; mismatched attention biases', () => {
    expect(err(() => splitWindows(withModel(file, {}, { vocab_size: 20 }), 'train'))).toBe('train_input.vocab_size 20 is smaller than the 28 tokens of the name vocabulary');
    expect(err(() => trace(withModel(file, { position_embedding_type: 'fixed' })))).toMatch(/position_embedding_type 'fixed' is not supported/);
    expect(err(() => trace(withModel(file, { use_ffn_bias_in_attention: false })))).toMatch(/use_projection_bias_in_attention \(true\) and model.use_ffn_bias_in_attention \(false\) must agree/);
    expect(err(() => trace(withModel(file, { initializer: [{ name: 'a' }, { name: 'b' }] })))).toBe('model.initializer: csrun takes one initializer (a mapping or a list of one mapping), got a list of 2');
  });
});
