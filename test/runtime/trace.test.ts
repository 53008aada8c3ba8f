import { describe, expect, it } from 'vitest';
import { layers, losses, metrics, optimizers, Model, Sequential, ModeKeys, traceModelFn, validateParams, UserError, type ModelFn, type InputSignature, type SymbolicTensor } from '../../index.ts';
import { modelFn as mnistModelFn } from '../../examples/mnist/model.ts';
import { modelFn as fcModelFn } from '../../examples/fc_mnist/model.ts';
import * as elastic from '../../examples/mnist_elasticdl/model.ts';
import { adaptElasticDL } from '../../host/input/elasticdl.ts';
import { formatSummary } from '../../runtime/summary.ts';
import { countParams, type Mode } from '../../runtime/graph.ts';

const params = validateParams({ optimizer: { optimizer_type: 'adam', learning_rate: 0.001 }, runconfig: { seed: 7 } }, 'test.yaml');
const mnistSig: InputSignature = { features: { image: { shape: [28, 28, 1], dtype: 'float32' } }, labels: { shape: [], dtype: 'int32' } };
const trace = (fn: ModelFn, mode: Mode = 'train', signature = mnistSig) => traceModelFn(fn, { mode, params, signature });

describe('tracing the examples', () => {
  it('traces the MNIST CNN with the Keras parameter count 111,242', () => {
    const g = trace(mnistModelFn);
    expect(countParams(g)).toBe(111_242);
    const s = formatSummary(g);
    expect(s).toContain('Total params: 111,242');
    expect(s).toContain('Trainable params: 111,114');
    expect(s).toContain('Non-trainable params: 128');
    expect(s).toMatch(/conv2d_1 \(Conv2D\)\s+\(None, 24, 24, 64\)\s+18,496/);
    expect(g.nodes.map((n) => n.op)).toEqual(['conv2d', 'conv2d', 'batchNormalization', 'maxPooling2d', 'dropout', 'flatten', 'dense', 'sparseSoftmaxCrossEntropy']);
    expect(g.optimizer).toEqual({ name: 'adam', learningRate: 0.001, beta1: 0.9, beta2: 0.999, epsilon: 1e-7 });
    expect(g.metrics.accuracy).toEqual({ op: 'accuracy', inputs: ['labels', 'dense:0'] });
    expect(g.loss).toBe('sparse_softmax_cross_entropy:0');
    // JSON-serialisable: a round trip changes nothing.
    expect(JSON.parse(JSON.stringify(g))).toEqual(g);
  });

  it('resolves the training flag per mode and prunes to what each mode needs', () => {
    const train = trace(mnistModelFn, 'train');
    const ev = trace(mnistModelFn, 'eval');
    const pred = trace(mnistModelFn, 'infer', { features: mnistSig.features });
    const bn = (g: typeof train) => g.nodes.find((n) => n.op === 'batchNormalization')!.attrs as { training: boolean };
    expect(bn(train).training).toBe(true);
    expect(bn(ev).training).toBe(false);
    expect(ev.optimizer).toBeUndefined();
    expect(pred.loss).toBeUndefined();
    expect(pred.predictions).toEqual({ logits: 'dense:0' });
    expect(pred.nodes.some((n) => n.op === 'sparseSoftmaxCrossEntropy')).toBe(false);
    // Same parameter names and seeds in every mode, so checkpoints move between them.
    expect(pred.params).toEqual(train.params);
  });

  it('traces fc_mnist: 784-500-300-10', () => {
    const g = trace(fcModelFn, 'train', { features: { image: { shape: [784], dtype: 'float32' } }, labels: { shape: [], dtype: 'int32' } });
    expect(g.params.map((p) => `${p.name}:${p.shape}`)).toEqual(['dense/kernel:784,500', 'dense/bias:500', 'dense_1/kernel:500,300', 'dense_1/bias:300', 'dense_2/kernel:300,10', 'dense_2/bias:10']);
    expect(countParams(g)).toBe(784 * 500 + 500 + 500 * 300 + 300 + 3010);
  });

  it('adapts the ElasticDL model file onto modelFn', () => {
    const fn = adaptElasticDL(elastic, 'model.ts');
    const g = trace(fn, 'train', { features: { image: { shape: [28, 28], dtype: 'float32' } }, labels: { shape: [], dtype: 'int32' } });
    expect(countParams(g)).toBe(111_242);
    expect(g.nodes[0].op).toBe('reshape');
    expect(g.optimizer?.name).toBe('adam');
    expect(Object.keys(g.metrics)).toEqual(['accuracy']);
    const p = trace(fn, 'infer', { features: { image: { shape: [28, 28], dtype: 'float32' } } });
    expect(Object.keys(p.predictions)).toEqual(['output']);
  });
});

describe('functional, subclassed and sequential models trace to identical graphs', () => {
  const head = (logits: SymbolicTensor, labels: SymbolicTensor | undefined, mode: Mode) => {
    if (mode === ModeKeys.PREDICT) return { mode, predictions: { logits } };
    const loss = losses.sparseSoftmaxCrossEntropy(labels!, logits);
    return { mode, loss, trainOp: optimizers.adam().minimize(loss), evalMetricOps: { accuracy: metrics.accuracy(labels!, logits) } };
  };

  class MnistModel extends Model {
    conv1 = layers.conv2d({ filters: 32, kernelSize: 3, activation: 'relu' });
    conv2 = layers.conv2d({ filters: 64, kernelSize: 3, activation: 'relu' });
    bn = layers.batchNormalization();
    pool = layers.maxPooling2d({ poolSize: 2 });
    drop = layers.dropout({ rate: 0.25 });
    flat = layers.flatten();
    out = layers.dense({ units: 10 });
    override call(inputs: SymbolicTensor, training: boolean): SymbolicTensor {
      let x = this.conv2.apply(this.conv1.apply(inputs));
      x = this.bn.apply(x, { training });
      x = this.pool.apply(x);
      x = this.drop.apply(x, { training });
      return this.out.apply(this.flat.apply(x));
    }
  }

  const functional = (() => {
    const inp = layers.input({ shape: [28, 28, 1], name: 'image' });
    let x = layers.conv2d({ filters: 32, kernelSize: 3, activation: 'relu' }).apply(inp);
    x = layers.conv2d({ filters: 64, kernelSize: 3, activation: 'relu' }).apply(x);
    x = layers.batchNormalization().apply(x);
    x = layers.maxPooling2d({ poolSize: 2 }).apply(x);
    x = layers.dropout({ rate: 0.25 }).apply(x);
    return new Model({ inputs: inp, outputs: layers.dense({ units: 10 }).apply(layers.flatten().apply(x)) });
  })();
  const subclassed = new MnistModel();
  const seq = new Sequential({
    layers: [
      layers.conv2d({ filters: 32, kernelSize: 3, activation: 'relu' }), layers.conv2d({ filters: 64, kernelSize: 3, activation: 'relu' }),
      layers.batchNormalization(), layers.maxPooling2d({ poolSize: 2 }), layers.dropout({ rate: 0.25 }), layers.flatten(), layers.dense({ units: 10 }),
    ],
  });
  const viaModel = (m: Model): ModelFn => (f, l, mode) => head(m.apply(f.image), l, mode);
  const direct: ModelFn = (f, l, mode) => {
    let x = layers.conv2d({ filters: 32, kernelSize: 3, activation: 'relu' }).apply(f.image);
    x = layers.conv2d({ filters: 64, kernelSize: 3, activation: 'relu' }).apply(x);
    x = layers.batchNormalization().apply(x);
    x = layers.maxPooling2d({ poolSize: 2 }).apply(x);
    x = layers.dropout({ rate: 0.25 }).apply(x);
    return head(layers.dense({ units: 10 }).apply(layers.flatten().apply(x)), l, mode);
  };

  for (const mode of ['train', 'eval'] as Mode[]) {
    it(`in mode ${mode}`, () => {
      const ref = trace(direct, mode);
      expect(trace(viaModel(functional), mode)).toEqual(ref);
      expect(trace(viaModel(subclassed), mode)).toEqual(ref);
      expect(trace(viaModel(seq), mode)).toEqual(ref);
      // Tracing twice (a model object built once at module load) gives the same graph again.
      expect(trace(viaModel(functional), mode)).toEqual(ref);
    });
  }
});

describe('shape inference', () => {
  const sig = (shape: number[], dtype: 'float32' | 'int32' = 'float32'): InputSignature => ({ features: { x: { shape, dtype } } });
  const out = (f: (x: SymbolicTensor) => SymbolicTensor, shape: number[], dtype: 'float32' | 'int32' = 'float32') => {
    let y: SymbolicTensor | undefined;
    traceModelFn((feat, _l, mode) => ((y = f(feat.x)), { mode, predictions: y }), { mode: 'infer', params, signature: sig(shape, dtype) });
    return y!.toString();
  };
  it('conv2d: valid, same, strided, dilated', () => {
    expect(out((x) => layers.conv2d({ filters: 8, kernelSize: 3 }).apply(x), [10, 10, 3])).toBe('(None, 8, 8, 8)');
    expect(out((x) => layers.conv2d({ filters: 8, kernelSize: 3, padding: 'same', strides: 2 }).apply(x), [11, 10, 3])).toBe('(None, 6, 5, 8)');
    expect(out((x) => layers.conv2d({ filters: 8, kernelSize: [5, 3], strides: [2, 1] }).apply(x), [11, 10, 3])).toBe('(None, 4, 8, 8)');
    expect(out((x) => layers.conv2d({ filters: 4, kernelSize: 3, dilationRate: 2 }).apply(x), [10, 10, 3])).toBe('(None, 6, 6, 4)');
  });
  it('pooling, global pooling, flatten, reshape, concatenate, add, embedding', () => {
    expect(out((x) => layers.maxPooling2d({ poolSize: 3, strides: 2, padding: 'same' }).apply(x), [7, 7, 2])).toBe('(None, 4, 4, 2)');
    expect(out((x) => layers.averagePooling2d().apply(x), [7, 7, 2])).toBe('(None, 3, 3, 2)');
    expect(out((x) => layers.globalAveragePooling2d().apply(x), [7, 7, 2])).toBe('(None, 2)');
    expect(out((x) => layers.reshape({ targetShape: [-1, 4] }).apply(layers.flatten().apply(x)), [7, 7, 4])).toBe('(None, 49, 4)');
    expect(out((x) => layers.concatenate().apply([x, layers.dense({ units: 3 }).apply(x)]), [5])).toBe('(None, 8)');
    expect(out((x) => layers.add().apply([x, layers.dense({ units: 5 }).apply(x)]), [5])).toBe('(None, 5)');
    expect(out((x) => layers.embedding({ inputDim: 100, outputDim: 16 }).apply(x), [12], 'int32')).toBe('(None, 12, 16)');
    expect(out((x) => layers.layerNormalization().apply(layers.dense({ units: 6, activation: 'gelu' }).apply(x)), [3, 5])).toBe('(None, 3, 6)');
  });
  it('records regularizers, initializers and seeds derived from runconfig.seed', () => {
    const g = traceModelFn((f, _l, mode) => ({ mode, predictions: layers.dense({ units: 2, kernelRegularizer: 'l2', kernelInitializer: 'he_normal' }).apply(f.x) }), { mode: 'infer', params, signature: sig([3]) });
    const k = g.params[0];
    expect(k.regularizer).toEqual({ l2: 0.01 });
    expect(k.initializer.name).toBe('heNormal');
    const g2 = traceModelFn((f, _l, mode) => ({ mode, predictions: layers.dense({ units: 2 }).apply(f.x) }), { mode: 'infer', params, signature: sig([3]), seed: 8 });
    expect(g2.params[0].initializer.seed).not.toBe(g.params[0].initializer.seed);
  });
  it('shares weights when a layer is applied twice', () => {
    const g = traceModelFn((f, _l, mode) => {
      const d = layers.dense({ units: 4 });
      return { mode, predictions: d.apply(d.apply(f.x)) };
    }, { mode: 'infer', params, signature: sig([4]) });
    expect(g.nodes.map((n) => n.name)).toEqual(['dense', 'dense_call1']);
    expect(g.nodes[1].params).toEqual(g.nodes[0].params);
    expect(g.params).toHaveLength(2);
  });
});

describe('errors at trace time name the layer and the shapes', () => {
  const run = (fn: ModelFn, signature: InputSignature = mnistSig, mode: Mode = 'train') => () => traceModelFn(fn, { mode, params, signature });
  it('conv2d on a 2-D tensor', () => {
    const f = run((feat, _l, mode) => ({ mode, predictions: layers.conv2d({ filters: 4, kernelSize: 3 }).apply(feat.x) }), { features: { x: { shape: [784], dtype: 'float32' } } }, 'infer');
    expect(f).toThrow(UserError);
    expect(f).toThrow("layer 'conv2d' (Conv2D): expected input of rank 4 [batch, h, w, c], got shape (None, 784)");
  });
  it('a kernel larger than its input, mismatched add, bad reshape', () => {
    const s = { features: { x: { shape: [2, 2, 1], dtype: 'float32' as const } } };
    expect(run((f, _l, mode) => ({ mode, predictions: layers.conv2d({ filters: 1, kernelSize: 3 }).apply(f.x) }), s, 'infer')).toThrow(/does not fit input \(None, 2, 2, 1\)/);
    expect(run((f, _l, mode) => ({ mode, predictions: layers.add().apply([f.x, layers.dense({ units: 3 }).apply(f.x)]) }), s, 'infer')).toThrow(/layer 'add' \(Add\): inputs must have identical shapes, got \(None, 2, 2, 1\), \(None, 2, 2, 3\)/);
    expect(run((f, _l, mode) => ({ mode, predictions: layers.reshape({ targetShape: [3] }).apply(f.x) }), s, 'infer')).toThrow(/cannot reshape \(None, 2, 2, 1\) \(4 values per sample\)/);
  });
  it('an unknown activation', () => {
    expect(() => layers.dense({ units: 3, activation: 'rleu' })).toThrow("layer 'dense' (Dense): unknown activation 'rleu' (did you mean 'relu'?); supported: relu, relu6, sigmoid, tanh, softmax, gelu, elu, selu, linear");
  });
  it('float labels for a sparse loss, wrong-rank logits', () => {
    const s: InputSignature = { features: { x: { shape: [4], dtype: 'float32' } }, labels: { shape: [], dtype: 'float32' } };
    expect(run((f, l, mode) => ({ mode, loss: losses.sparseSoftmaxCrossEntropy(l!, f.x) }), s, 'eval')).toThrow(/expected int32 class-id labels/);
  });
  it('an EstimatorSpec missing what the mode needs', () => {
    expect(run((f, _l, mode) => ({ mode, predictions: f.image }))).toThrow("modelFn returned an EstimatorSpec without 'loss' in mode 'train' (TRAIN needs loss and trainOp)");
    expect(run((f, l, mode) => ({ mode, loss: losses.sparseSoftmaxCrossEntropy(l!, layers.dense({ units: 10 }).apply(layers.flatten().apply(f.image))) }))).toThrow("without 'trainOp'");
    expect(run((_f, _l, mode) => ({ mode }), mnistSig, 'infer')).toThrow("without 'predictions' in mode 'infer'");
    expect(run(() => undefined as any)).toThrow(/modelFn returned nothing/);
  });
  it('bad optimizer arguments', () => {
    expect(() => optimizers.adam({ beta1: 1.5 })).toThrow('optimizer adam: beta1 must be in [0, 1), got 1.5');
    expect(() => optimizers.sgd({ learningRate: { scheduler: 'Linear', initial_learning_rate: 1 } as any })).toThrow(/optimizer sgd: learningRate/);
    expect(() => optimizers.fromParams({})).toThrow(/optimizer_type is required/);
  });
});
