/**
 * Hand-written Graph IR fixtures for compiler tests: a tiny builder that computes Keras output shapes, so
 * tests (and property tests) can make graphs without tracing a modelFn.
 */
import type { Activation, Graph, GraphNode, Mode, OpAttrs, OpName, ParamInfo, Shape, TensorInfo } from '../../../runtime/graph.ts';

const outDim = (n: number, k: number, s: number, pad: 'same' | 'valid') => (pad === 'same' ? Math.ceil(n / s) : Math.floor((n - k) / s) + 1);

/** Builds a Graph IR by applying layers to symbolic tensors (shapes only). */
export class GraphBuilder {
  nodes: GraphNode[] = [];
  params: ParamInfo[] = [];
  features: Record<string, TensorInfo> = {};
  labels?: TensorInfo;
  private counts = new Map<string, number>();

  input(key: string, shape: number[], dtype: 'float32' | 'int32' = 'float32'): TensorInfo {
    const t: TensorInfo = { id: `features/${key}`, shape: [null, ...shape], dtype };
    this.features[key] = t;
    return t;
  }
  label(shape: number[] = [], dtype: 'float32' | 'int32' = 'int32'): TensorInfo {
    this.labels = { id: 'labels', shape: [null, ...shape], dtype };
    return this.labels;
  }
  private name(base: string): string {
    const n = this.counts.get(base) ?? 0;
    this.counts.set(base, n + 1);
    return n === 0 ? base : `${base}_${n}`;
  }
  private param(layer: string, w: string, shape: number[], trainable = true): string {
    const name = `${layer}/${w}`;
    this.params.push({ name, shape, dtype: 'float32', initializer: { name: 'zeros', seed: 0, config: {} }, trainable });
    return name;
  }
  node<K extends OpName>(op: K, base: string, inputs: TensorInfo[], shape: Shape, attrs: OpAttrs[K], params: (n: string) => string[] = () => [], dtype: 'float32' | 'int32' = 'float32'): TensorInfo {
    const name = this.name(base);
    const out: TensorInfo = { id: `${name}:0`, shape, dtype };
    this.nodes.push({ name, op, inputs: inputs.map((t) => t.id), outputs: [out], attrs, params: params(name) } as GraphNode);
    return out;
  }
  conv2d(x: TensorInfo, o: { filters: number; kernelSize: number; strides?: number; padding?: 'same' | 'valid'; activation?: Activation; useBias?: boolean }): TensorInfo {
    const [, h, w, c] = x.shape as number[];
    const s = o.strides ?? 1;
    const pad = o.padding ?? 'valid';
    const useBias = o.useBias ?? true;
    return this.node('conv2d', 'conv2d', [x], [null, outDim(h, o.kernelSize, s, pad), outDim(w, o.kernelSize, s, pad), o.filters], {
      filters: o.filters, kernelSize: [o.kernelSize, o.kernelSize], strides: [s, s], padding: pad, dilationRate: [1, 1], activation: o.activation ?? 'linear', useBias,
    }, (n) => [this.param(n, 'kernel', [o.kernelSize, o.kernelSize, c, o.filters]), ...(useBias ? [this.param(n, 'bias', [o.filters])] : [])]);
  }
  dense(x: TensorInfo, units: number, activation: Activation = 'linear'): TensorInfo {
    const d = x.shape.slice(1) as number[];
    return this.node('dense', 'dense', [x], [null, ...d.slice(0, -1), units], { units, activation, useBias: true },
      (n) => [this.param(n, 'kernel', [d[d.length - 1], units]), this.param(n, 'bias', [units])]);
  }
  maxPool(x: TensorInfo, pool = 2, strides = pool, padding: 'same' | 'valid' = 'valid'): TensorInfo {
    const [, h, w, c] = x.shape as number[];
    return this.node('maxPooling2d', 'max_pooling2d', [x], [null, outDim(h, pool, strides, padding), outDim(w, pool, strides, padding), c], { poolSize: [pool, pool], strides: [strides, strides], padding });
  }
  gap(x: TensorInfo): TensorInfo {
    const [, , , c] = x.shape as number[];
    return this.node('globalAveragePooling2d', 'global_average_pooling2d', [x], [null, c], {});
  }
  bn(x: TensorInfo, training = true): TensorInfo {
    const c = x.shape[x.shape.length - 1] as number;
    return this.node('batchNormalization', 'batch_normalization', [x], x.shape, { momentum: 0.99, epsilon: 1e-3, center: true, scale: true, training },
      (n) => [this.param(n, 'gamma', [c]), this.param(n, 'beta', [c]), this.param(n, 'moving_mean', [c], false), this.param(n, 'moving_variance', [c], false)]);
  }
  act(x: TensorInfo, activation: Activation): TensorInfo {
    return this.node('activation', 'activation', [x], x.shape, { activation });
  }
  dropout(x: TensorInfo, rate: number, training = true): TensorInfo {
    return this.node('dropout', 'dropout', [x], x.shape, { rate, training });
  }
  flatten(x: TensorInfo): TensorInfo {
    const n = (x.shape.slice(1) as number[]).reduce((a, b) => a * b, 1);
    return this.node('flatten', 'flatten', [x], [null, n], {});
  }
  add(...xs: TensorInfo[]): TensorInfo {
    return this.node('add', 'add', xs, xs[0].shape, {});
  }
  concat(...xs: TensorInfo[]): TensorInfo {
    const c = xs.reduce((s, x) => s + (x.shape[x.shape.length - 1] as number), 0);
    return this.node('concatenate', 'concatenate', xs, [...xs[0].shape.slice(0, -1), c], { axis: -1 });
  }
  sparseCE(labels: TensorInfo, logits: TensorInfo): TensorInfo {
    return this.node('sparseSoftmaxCrossEntropy', 'sparse_softmax_cross_entropy', [labels, logits], [], {});
  }
  build(mode: Mode, logits: TensorInfo, loss?: TensorInfo): Graph {
    return {
      formatVersion: 1,
      mode,
      seed: 0,
      inputs: { features: this.features, ...(this.labels && mode !== 'infer' ? { labels: this.labels } : {}) },
      nodes: this.nodes,
      params: this.params,
      ...(loss && mode !== 'infer' ? { loss: loss.id } : {}),
      predictions: { logits: logits.id },
      metrics: {},
      ...(mode === 'train' ? { optimizer: { name: 'sgd' as const, learningRate: 0.01 } } : {}),
    };
  }
}

/** The MNIST CNN of docs/design.md §3 (conv32, conv64, BN, maxpool, dropout, dense10). */
export function mnistGraph(mode: Mode = 'train'): Graph {
  const g = new GraphBuilder();
  const img = g.input('image', [28, 28, 1]);
  const labels = g.label();
  let x = g.conv2d(img, { filters: 32, kernelSize: 3, activation: 'relu' });
  x = g.conv2d(x, { filters: 64, kernelSize: 3, activation: 'relu' });
  x = g.bn(x, mode === 'train');
  x = g.maxPool(x, 2);
  x = g.dropout(x, 0.25, mode === 'train');
  const logits = g.dense(g.flatten(x), 10);
  const loss = mode === 'infer' ? undefined : g.sparseCE(labels, logits);
  return g.build(mode, logits, loss);
}

/** A small ResNet-style graph: stem, one identity block and one projection block, GAP, dense. */
export function resnetBlockGraph(mode: Mode = 'train', size = 32): Graph {
  const g = new GraphBuilder();
  const img = g.input('image', [size, size, 3]);
  const labels = g.label();
  let x = g.act(g.bn(g.conv2d(img, { filters: 16, kernelSize: 3, padding: 'same', useBias: false })), 'relu');
  // identity block
  let y = g.act(g.bn(g.conv2d(x, { filters: 16, kernelSize: 3, padding: 'same', useBias: false })), 'relu');
  y = g.bn(g.conv2d(y, { filters: 16, kernelSize: 3, padding: 'same', useBias: false }));
  x = g.act(g.add(x, y), 'relu');
  // projection block
  const sc = g.bn(g.conv2d(x, { filters: 32, kernelSize: 1, strides: 2, useBias: false }));
  y = g.act(g.bn(g.conv2d(x, { filters: 32, kernelSize: 3, strides: 2, padding: 'same', useBias: false })), 'relu');
  y = g.bn(g.conv2d(y, { filters: 32, kernelSize: 3, padding: 'same', useBias: false }));
  x = g.act(g.add(sc, y), 'relu');
  const logits = g.dense(g.gap(x), 10);
  const loss = mode === 'infer' ? undefined : g.sparseCE(labels, logits);
  return g.build(mode, logits, loss);
}
