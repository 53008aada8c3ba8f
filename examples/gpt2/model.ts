/**
 * A decoder-only GPT (the Cerebras modelzoo GPT-2 / GPT-3 / GPT-J TF models) as a tf.estimator modelFn, built
 * from the modelzoo params under their upstream names (README.md lists every key and what it does).
 *
 * Network, for ids `[batch, T]` int32 (features `input_ids`), labels the next ids `[batch, T]` int32:
 *   embedding: tokens (+ learned positions when `use_position_embedding`) → dropout(dropout_rate);
 *   `num_hidden_layers` pre-LN blocks (GPT-2): h += drop(attn(LN(h))); h += drop(ffn(LN(h))), with causal
 *   multi-head attention (`num_heads`, head size hidden_size / num_heads, `rotary_dim` rotary dims per head) and
 *   ffn = dense(hidden_size) ∘ nonlinearity ∘ dense(filter_size). With the GPT-J key `use_untied_layer_norm` the
 *   block is GPT-J's parallel one: h += drop(attn(LN₁(h))) + drop(ffn(LN₂(h))), LN₂ = LN₁ unless untied;
 *   final LN, then logits `[batch, T, vocab_size]` from the token table transposed (`share_embedding_weights`)
 *   or a dense layer (bias `use_bias_in_output`).
 * Loss (modelzoo `loss_scaling`, `loss_weight`): Σ_tokens CE · loss_weight / batch_size for "batch_size", / the
 * number of tokens for "num_tokens"; with loss_weight = 1 / T the first is the mean per-token cross-entropy.
 * Eval metrics: perplexity (e^mean CE) and next-token accuracy. PREDICT: `logits`.
 */
import { initializers, layers, losses, metrics, ops, optimizers, ModeKeys, UserError, type InitializerArg, type ModelFn, type Params } from 'csrun';

/** `model.<key>` as an initializer (modelzoo entry, see `initializers.fromParams`). */
function initializerOf(params: Params, key: string, fallback: InitializerArg): InitializerArg {
  return initializers.fromParams((params.model as Record<string, unknown>)[key], `model.${key}`, fallback);
}

/** The model section as typed values, with the modelzoo defaults. @throws UserError for unsupported values. */
export function gptConfig(params: Params) {
  const m = params.model as Record<string, unknown>;
  const input = params.train_input as Record<string, unknown>;
  const int = (sec: string, o: Record<string, unknown>, k: string, dflt?: number): number => {
    const v = o[k] ?? dflt;
    if (!Number.isInteger(v) || (v as number) <= 0) throw new UserError(`${sec}.${k} must be a positive integer, got ${JSON.stringify(v)}`);
    return v as number;
  };
  const num = (k: string, dflt: number): number => {
    const v = m[k] ?? dflt;
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new UserError(`model.${k} must be a number, got ${JSON.stringify(v)}`);
    return v;
  };
  const bool = (k: string, dflt: boolean): boolean => {
    const v = m[k] ?? dflt;
    if (typeof v !== 'boolean') throw new UserError(`model.${k} must be true or false, got ${JSON.stringify(v)}`);
    return v;
  };
  const hiddenSize = int('model', m, 'hidden_size');
  const numHeads = int('model', m, 'num_heads');
  if (hiddenSize % numHeads !== 0) throw new UserError(`model.hidden_size ${hiddenSize} is not divisible by model.num_heads ${numHeads}: each head gets hidden_size / num_heads dimensions`);
  const usePositionEmbedding = bool('use_position_embedding', true);
  const positionType = (m.position_embedding_type ?? (usePositionEmbedding ? 'learned' : 'none')) as string;
  if (usePositionEmbedding && positionType !== 'learned') throw new UserError(`model.position_embedding_type '${positionType}' is not supported with use_position_embedding: true (csrun has 'learned'; for rotary embeddings set use_position_embedding: false and rotary_dim)`);
  const vocabSize = int('train_input', input, 'vocab_size');
  const maxSequenceLength = int('train_input', input, 'max_sequence_length');
  const maxPositions = int('model', m, 'max_position_embeddings', maxSequenceLength);
  if (maxSequenceLength > maxPositions) throw new UserError(`train_input.max_sequence_length ${maxSequenceLength} is longer than model.max_position_embeddings ${maxPositions}: raise max_position_embeddings or shorten the sequences`);
  const lossScaling = (m.loss_scaling ?? 'num_tokens') as string;
  if (lossScaling !== 'batch_size' && lossScaling !== 'num_tokens') throw new UserError(`model.loss_scaling must be "batch_size" or "num_tokens", got ${JSON.stringify(m.loss_scaling)}`);
  const nonlinearity = (m.nonlinearity ?? 'gelu') as string;
  const initializer = initializerOf(params, 'initializer', { name: 'truncatedNormal', config: { mean: 0, stddev: 0.02 } });
  return {
    vocabSize, maxSequenceLength, maxPositions, hiddenSize, numHeads, nonlinearity, lossScaling, usePositionEmbedding,
    numLayers: int('model', m, 'num_hidden_layers'),
    filterSize: int('model', m, 'filter_size', 4 * hiddenSize),
    dropoutRate: num('dropout_rate', 0),
    attentionDropoutRate: num('attention_dropout_rate', 0),
    layerNormEpsilon: num('layer_norm_epsilon', 1e-5),
    lossWeight: num('loss_weight', 1),
    rotaryDim: m.rotary_dim === undefined || m.rotary_dim === null ? 0 : int('model', m, 'rotary_dim'),
    shareEmbeddings: bool('share_embedding_weights', true),
    projectionBias: bool('use_projection_bias_in_attention', true),
    attentionOutputBias: bool('use_ffn_bias_in_attention', bool('use_projection_bias_in_attention', true)),
    ffnBias: bool('use_ffn_bias', true),
    outputBias: bool('use_bias_in_output', false),
    parallelBlock: m.use_untied_layer_norm !== undefined,
    untiedLayerNorm: bool('use_untied_layer_norm', false),
    initializer,
    embeddingInitializer: initializerOf(params, 'embedding_initializer', initializer),
    outputInitializer: initializerOf(params, 'output_layer_initializer', initializer),
  };
}

export const modelFn: ModelFn = (features, labels, mode, params) => {
  const c = gptConfig(params);
  const training = mode === ModeKeys.TRAIN;
  const ids = features.input_ids;
  if (!ids) throw new UserError(`examples/gpt2: the input pipeline must yield features.input_ids [batch, sequence] int32, got features ${Object.keys(features).join(', ') || '(none)'}`);
  const seq = ids.shape[1];
  if (typeof seq === 'number' && seq > c.maxPositions) throw new UserError(`features.input_ids has sequences of ${seq} tokens, longer than model.max_position_embeddings ${c.maxPositions}`);
  if (c.projectionBias !== c.attentionOutputBias) throw new UserError(`model.use_projection_bias_in_attention (${c.projectionBias}) and model.use_ffn_bias_in_attention (${c.attentionOutputBias}) must agree: csrun's multiHeadAttention has one useBias for all four projections`);
  const drop = (x: typeof ids) => (c.dropoutRate > 0 ? layers.dropout({ rate: c.dropoutRate }).apply(x) : x);
  const ln = () => layers.layerNormalization({ epsilon: c.layerNormEpsilon });
  const dense = (units: number, useBias: boolean, init: InitializerArg, activation?: string) => layers.dense({ units, useBias, activation, kernelInitializer: init });

  const emb = c.usePositionEmbedding
    ? layers.tokenAndPositionEmbedding({ vocabularySize: c.vocabSize, sequenceLength: c.maxPositions, embeddingDim: c.hiddenSize, embeddingsInitializer: c.embeddingInitializer })
    : layers.embedding({ inputDim: c.vocabSize, outputDim: c.hiddenSize, embeddingsInitializer: c.embeddingInitializer });
  let h = drop(emb.apply(ids));
  for (let i = 0; i < c.numLayers; i++) {
    const attention = (x: typeof ids) => layers.multiHeadAttention({
      numHeads: c.numHeads, keyDim: c.hiddenSize / c.numHeads, dropout: c.attentionDropoutRate, useBias: c.projectionBias,
      rotaryDim: c.rotaryDim, kernelInitializer: c.initializer,
    }).apply([x, x], { useCausalMask: true, training });
    const ffn = (x: typeof ids) => dense(c.hiddenSize, c.ffnBias, c.outputInitializer).apply(dense(c.filterSize, c.ffnBias, c.initializer, c.nonlinearity).apply(x));
    if (c.parallelBlock) {
      const a = ln().apply(h);
      const b = c.untiedLayerNorm ? ln().apply(h) : a;
      h = ops.add(h, ops.add(drop(attention(a)), drop(ffn(b))));
    } else {
      h = ops.add(h, drop(attention(ln().apply(h))));
      h = ops.add(h, drop(ffn(ln().apply(h))));
    }
  }
  h = ln().apply(h);
  const logits = c.shareEmbeddings ? emb.apply(h, { reverse: true }) : dense(c.vocabSize, c.outputBias, c.outputInitializer).apply(h);
  if (mode === ModeKeys.PREDICT) return { mode, predictions: { logits } };

  const meanCe = losses.sparseSoftmaxCrossEntropy(labels!, logits);
  const scale = c.lossWeight * (c.lossScaling === 'batch_size' ? (seq as number) : 1);
  const loss = scale === 1 ? meanCe : ops.mul(meanCe, scale);
  return {
    mode,
    loss,
    trainOp: optimizers.fromParams(params.optimizer).minimize(loss),
    evalMetricOps: { perplexity: metrics.perplexity(labels!, logits), accuracy: metrics.accuracy(labels!, logits) },
  };
};
