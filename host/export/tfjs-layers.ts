/**
 * The tfjs-layers model format (`tf.loadLayersModel`, docs/design.md §5 "Export"): `model.json` holding the
 * Keras functional topology as tfjs-layers serialises it (`modelTopology.class_name: 'Model'`, one
 * `{ class_name, config, name, inbound_nodes }` per layer, Keras snake_case config keys) and a
 * `weightsManifest`, plus one binary shard of float32 little-endian weights in manifest order. The inference
 * graph maps one node to one Keras layer (conv2d/dense carry their fused activation, as Keras does); graph
 * inputs become `InputLayer`s named after their feature key.
 */
import type { Graph, GraphNode, OpAttrs, OpName } from '../../runtime/graph.ts';
import { UserError } from '../../runtime/errors.ts';

/** Name of the weights shard written beside model.json. */
export const TFJS_WEIGHTS_FILE = 'group1-shard1of1.bin';

/** One weight in the manifest (tfjs-core `io.WeightsManifestEntry`). */
export interface WeightsManifestEntry {
  name: string;
  shape: number[];
  dtype: 'float32';
}

/** The model.json a tfjs-layers `LayersModel.save` writes (tfjs-core `io.ModelJSON`). */
export interface TfjsModelJson {
  format: 'layers-model';
  generatedBy: string;
  convertedBy: null;
  modelTopology: { class_name: 'Model'; config: Record<string, unknown>; keras_version: string; backend: string };
  weightsManifest: { paths: string[]; weights: WeightsManifestEntry[] }[];
  /** `outputNames`: the EstimatorSpec prediction name of each model output, in output order. */
  userDefinedMetadata: { outputNames: string[] };
}

type KerasConfig = Record<string, unknown>;
type Converter<K extends OpName> = (attrs: OpAttrs[K], node: GraphNode<K>) => { className: string; config: KerasConfig };

/** Keras class and config per IR op; ops absent here have no Keras layer (their nodes are refused). */
const CONVERTERS: { [K in OpName]?: Converter<K> } = {
  conv2d: (a) => ({
    className: 'Conv2D',
    config: { filters: a.filters, kernel_size: a.kernelSize, strides: a.strides, padding: a.padding, data_format: 'channels_last', dilation_rate: a.dilationRate, activation: a.activation, use_bias: a.useBias },
  }),
  conv2dTranspose: (a) => ({
    className: 'Conv2DTranspose',
    config: { filters: a.filters, kernel_size: a.kernelSize, strides: a.strides, padding: a.padding, data_format: 'channels_last', dilation_rate: [1, 1], activation: a.activation, use_bias: a.useBias },
  }),
  dense: (a) => ({ className: 'Dense', config: { units: a.units, activation: a.activation, use_bias: a.useBias } }),
  maxPooling2d: (a) => ({ className: 'MaxPooling2D', config: { pool_size: a.poolSize, strides: a.strides, padding: a.padding, data_format: 'channels_last' } }),
  averagePooling2d: (a) => ({ className: 'AveragePooling2D', config: { pool_size: a.poolSize, strides: a.strides, padding: a.padding, data_format: 'channels_last' } }),
  globalAveragePooling2d: () => ({ className: 'GlobalAveragePooling2D', config: { data_format: 'channels_last' } }),
  upSampling2d: (a) => ({ className: 'UpSampling2D', config: { size: a.size, data_format: 'channels_last', interpolation: 'nearest' } }),
  batchNormalization: (a) => ({ className: 'BatchNormalization', config: { axis: -1, momentum: a.momentum, epsilon: a.epsilon, center: a.center, scale: a.scale } }),
  layerNormalization: (a) => ({ className: 'LayerNormalization', config: { axis: -1, epsilon: a.epsilon, center: a.center, scale: a.scale } }),
  dropout: (a) => ({ className: 'Dropout', config: { rate: a.rate } }),
  flatten: () => ({ className: 'Flatten', config: { data_format: 'channels_last' } }),
  reshape: (a) => ({ className: 'Reshape', config: { target_shape: a.targetShape } }),
  activation: (a) => ({ className: 'Activation', config: { activation: a.activation } }),
  softmax: (a) => ({ className: 'Softmax', config: { axis: a.axis } }),
  concatenate: (a) => ({ className: 'Concatenate', config: { axis: a.axis } }),
  embedding: (a) => ({ className: 'Embedding', config: { input_dim: a.inputDim, output_dim: a.outputDim } }),
  add: (a, n) => {
    if (a.a !== undefined || a.b !== undefined) throw noKeras(n, 'a constant operand (Keras Add sums tensors only)');
    return { className: 'Add', config: {} };
  },
};

function noKeras(node: GraphNode, why: string): UserError {
  return new UserError(`csrun export --format tfjs-layers: layer '${node.name}' (${node.op}) has no Keras equivalent: ${why}`);
}

/**
 * Builds model.json and the weights shard of an inference graph.
 * @param graph   the 'infer' graph (`traceModel(md, 'infer', …)`).
 * @param weights float32 values of every graph parameter by name (`<layer>/<weight>`), sized as its shape
 *   (host/commands/export.ts `checkpointWeights` checks them).
 * @param generatedBy the `generatedBy` field (e.g. `csrun 0.1.0`).
 * @returns the model.json object and the shard bytes (`TFJS_WEIGHTS_FILE`).
 * @throws UserError naming the layer when a node has no Keras layer (IR ops such as matMul, where or a loss),
 *   shares weights with another node, or a prediction is a graph input.
 */
export function toTfjsLayers(graph: Graph, weights: Record<string, Float32Array>, generatedBy: string): { modelJson: TfjsModelJson; weightData: Uint8Array } {
  const nodeNames = new Set(graph.nodes.map((n) => n.name));
  const inputName = (key: string) => (nodeNames.has(key) ? `${key}_input` : key);
  const layers: KerasConfig[] = [];
  const inputLayers: [string, number, number][] = [];
  for (const [key, t] of Object.entries(graph.inputs.features)) {
    const name = inputName(key);
    layers.push({ class_name: 'InputLayer', config: { batch_input_shape: t.shape, dtype: t.dtype, sparse: false, name }, name, inbound_nodes: [] });
    inputLayers.push([name, 0, 0]);
  }
  const ref = (id: string): [string, number, number, Record<string, never>] => {
    if (id.startsWith('features/')) return [inputName(id.slice('features/'.length)), 0, 0, {}];
    const [node, index] = id.split(':');
    return [node, 0, Number(index), {}];
  };
  const manifest: WeightsManifestEntry[] = [];
  const owner = new Map<string, string>();
  for (const node of graph.nodes) {
    const convert = CONVERTERS[node.op] as Converter<OpName> | undefined;
    if (!convert) throw noKeras(node, `tfjs-layers has no layer for the IR op '${node.op}'`);
    const { className, config } = convert(node.attrs, node);
    for (const p of node.params) {
      const prev = owner.get(p);
      if (prev) throw noKeras(node, `it shares weight '${p}' with layer '${prev}'`);
      owner.set(p, node.name);
      if (!p.startsWith(`${node.name}/`)) throw noKeras(node, `its weight '${p}' is not named '${node.name}/<weight>'`);
    }
    layers.push({ class_name: className, config: { name: node.name, trainable: true, dtype: 'float32', ...config }, name: node.name, inbound_nodes: [node.inputs.map(ref)] });
  }
  const outputNames = Object.keys(graph.predictions);
  const outputLayers = outputNames.map((k) => {
    const id = graph.predictions[k];
    if (id.startsWith('features/')) throw new UserError(`csrun export --format tfjs-layers: prediction '${k}' is the input '${id}' itself; a Keras model output must be a layer's`);
    return ref(id).slice(0, 3) as [string, number, number];
  });
  for (const p of graph.params) manifest.push({ name: p.name, shape: p.shape, dtype: 'float32' });
  const weightData = new Uint8Array(graph.params.reduce((s, p) => s + weights[p.name].byteLength, 0));
  let at = 0;
  for (const p of graph.params) {
    const w = weights[p.name];
    weightData.set(new Uint8Array(w.buffer, w.byteOffset, w.byteLength), at);
    at += w.byteLength;
  }
  return {
    modelJson: {
      format: 'layers-model',
      generatedBy,
      convertedBy: null,
      modelTopology: {
        class_name: 'Model',
        config: { name: 'model', layers, input_layers: inputLayers, output_layers: outputLayers },
        keras_version: 'tfjs-layers 4.22.0',
        backend: 'tensor_flow.js',
      },
      weightsManifest: [{ paths: [TFJS_WEIGHTS_FILE], weights: manifest }],
      userDefinedMetadata: { outputNames },
    },
    weightData,
  };
}
