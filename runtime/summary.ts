/**
 * Keras-style model summary of a traced Graph (`model.summary()` layout): one row per layer node with
 * its output shape and parameter count, then total / trainable / non-trainable parameters. Helper nodes inside
 * a layer call (named `<layer>/<what>`) get no row.
 */
import { countParams, sizeOf, type Graph, type OpName } from './graph.ts';
import { formatShape } from './symbolic.ts';

/** Keras class name of each op, as shown in the "Layer (type)" column. */
export const LAYER_CLASS: Record<OpName, string> = {
  conv2d: 'Conv2D',
  conv2dTranspose: 'Conv2DTranspose',
  upSampling2d: 'UpSampling2D',
  dense: 'Dense',
  maxPooling2d: 'MaxPooling2D',
  averagePooling2d: 'AveragePooling2D',
  globalAveragePooling2d: 'GlobalAveragePooling2D',
  batchNormalization: 'BatchNormalization',
  layerNormalization: 'LayerNormalization',
  dropout: 'Dropout',
  flatten: 'Flatten',
  reshape: 'Reshape',
  activation: 'Activation',
  add: 'Add',
  sub: 'Subtract',
  mul: 'Multiply',
  div: 'Divide',
  where: 'Where',
  sqrt: 'Sqrt',
  rsqrt: 'Rsqrt',
  softmax: 'Softmax',
  sum: 'Sum',
  mean: 'Mean',
  matMul: 'MatMul',
  transpose: 'Transpose',
  slice: 'Slice',
  gather: 'Gather',
  concatenate: 'Concatenate',
  embedding: 'Embedding',
  reverseEmbedding: 'ReversibleEmbedding',
  tokenAndPositionEmbedding: 'TokenAndPositionEmbedding',
  multiHeadAttention: 'MultiHeadAttention',
  sparseSoftmaxCrossEntropy: 'SparseSoftmaxCrossEntropy',
  softmaxCrossEntropy: 'SoftmaxCrossEntropy',
  sigmoidCrossEntropy: 'SigmoidCrossEntropy',
  meanSquaredError: 'MeanSquaredError',
};

/** Names of the layout helper nodes inside a layer call (runtime/layers/base.ts, `Layer.dataFormat`). */
const LAYOUT_HELPERS = new Set(['to_channels_last', 'to_channels_first']);

const LOSS = new Set<OpName>(['sparseSoftmaxCrossEntropy', 'softmaxCrossEntropy', 'sigmoidCrossEntropy', 'meanSquaredError']);

/** Thousands separators, as Keras prints parameter counts (`111,242`). */
export function withCommas(n: number): string {
  return n.toLocaleString('en-US');
}

/**
 * Formats the summary.
 * @param graph a traced graph (any mode).
 * @param title the model name in the header line.
 * @returns the table as text (ends with a newline).
 */
export function formatSummary(graph: Graph, title = 'model'): string {
  const rows: [string, string, string][] = [];
  for (const [k, t] of Object.entries(graph.inputs.features)) rows.push([`${k} (InputLayer)`, formatShape(t.shape), '0']);
  const counted = new Set<string>();
  const rowOf = new Map<string, [string, string, string]>();
  for (const n of graph.nodes) {
    if (LOSS.has(n.op)) continue;
    // helper nodes of a layer call (`conv2d/to_channels_last`, a channels-first layer's layout transposes): no
    // row of their own; the last one's shape is the layer's output shape
    const cut = n.name.lastIndexOf('/');
    if (n.op === 'transpose' && cut > 0 && LAYOUT_HELPERS.has(n.name.slice(cut + 1))) {
      const row = rowOf.get(n.name.slice(0, cut));
      if (row) row[1] = formatShape(n.outputs[0].shape);
      continue;
    }
    let count = 0;
    for (const p of n.params) {
      if (counted.has(p)) continue;
      counted.add(p);
      count += sizeOf(graph.params.find((q) => q.name === p)!.shape);
    }
    const row: [string, string, string] = [`${n.name} (${LAYER_CLASS[n.op]})`, formatShape(n.outputs[0].shape), withCommas(count)];
    rows.push(row);
    rowOf.set(n.name, row);
  }
  const w = [Math.max(28, ...rows.map((r) => r[0].length + 2)), Math.max(26, ...rows.map((r) => r[1].length + 2)), 10];
  const width = w[0] + w[1] + w[2];
  const line = (c: string) => c.repeat(width);
  const fmt = (r: string[]) => ` ${r[0].padEnd(w[0] - 1)}${r[1].padEnd(w[1])}${r[2]}`.trimEnd();
  const total = countParams(graph);
  const trainable = graph.params.filter((p) => p.trainable).reduce((s, p) => s + sizeOf(p.shape), 0);
  const out = [
    `Model: "${title}"`,
    line('_'),
    fmt(['Layer (type)', 'Output Shape', 'Param #']),
    line('='),
    ...rows.flatMap((r, i) => (i < rows.length - 1 ? [fmt(r), ''] : [fmt(r)])),
    line('='),
    `Total params: ${withCommas(total)}`,
    `Trainable params: ${withCommas(trainable)}`,
    `Non-trainable params: ${withCommas(total - trainable)}`,
    line('_'),
  ];
  return out.join('\n') + '\n';
}
