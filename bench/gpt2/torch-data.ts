/**
 * The input of bench/gpt2/pytorch_gpt2.py, shared by bench/gpt2.ts (learning) and bench/train.ts (speed): the
 * model's configuration from examples/gpt2's params and the windows of its fixed train/test split
 * (examples/gpt2/data.ts), written as one JSON file in a fresh temporary directory.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Params } from '../../runtime/params.ts';
import { splitWindows } from '../../examples/gpt2/data.ts';
import { gptConfig } from '../../examples/gpt2/model.ts';

/**
 * Checks that `params` use only what the PyTorch reference models.
 * @throws Error on dropout, untied or non-learned embeddings, a nonlinearity other than gelu or an optimizer
 *   other than adam.
 */
export function checkTorchParity(params: Params): void {
  const c = gptConfig(params);
  if (c.dropoutRate !== 0 || c.attentionDropoutRate !== 0 || !c.shareEmbeddings || !c.usePositionEmbedding || c.nonlinearity !== 'gelu' || params.optimizer.optimizer_type !== 'adam') {
    throw new Error('bench/gpt2/pytorch_gpt2.py mirrors the default examples/gpt2 params (no dropout, tied learned embeddings, gelu, adam); the PyTorch model would differ');
  }
}

/**
 * Writes the data file for `pytorch_gpt2.py`.
 * @param steps training steps the reference runs (batch size and learning rate come from `params`).
 * @returns the file's path; the caller removes its directory.
 * @throws Error from {@link checkTorchParity}.
 */
export function writeTorchData(params: Params, steps: number): string {
  checkTorchParity(params);
  const c = gptConfig(params);
  const train = splitWindows(params, 'train');
  const test = splitWindows(params, 'eval');
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'csrun-bench-gpt2-torch-')), 'data.json');
  const config = {
    vocab_size: c.vocabSize, max_sequence_length: c.maxSequenceLength, max_position_embeddings: c.maxPositions, hidden_size: c.hiddenSize,
    num_heads: c.numHeads, filter_size: c.filterSize, num_hidden_layers: c.numLayers, layer_norm_epsilon: c.layerNormEpsilon,
    learning_rate: params.optimizer.learning_rate, batch_size: params.train_input.batch_size!, steps, seed: params.runconfig.seed,
  };
  fs.writeFileSync(file, JSON.stringify({ config, train_inputs: Array.from(train.inputs), train_labels: Array.from(train.labels), test_inputs: Array.from(test.inputs), test_labels: Array.from(test.labels) }));
  return file;
}
