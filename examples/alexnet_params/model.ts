/**
 * The params-driven AlexNet of the TensorFlow Estimator tutorial ("Creating Custom Estimators", tensorflow.org):
 * the network is built from `params.model.layers`, a list of
 * `{ type: conv | pool | fc, num_outputs, kernel_size, stride, activation, regularizer }`, applied in order to
 * `features.image` (`[batch, image_height, image_width, image_depth]`, 300 × 200 × 3 in the tutorial);
 * the last fc layer's outputs are the logits (50 classes).
 *
 * As in the tutorial's `tf.contrib.layers`: conv layers use 'same' padding, pool layers are 'valid' max
 * pooling, an fc layer flattens a non-flat input first. `activation` is a Keras name or null (linear);
 * `regularizer` is null, `l2` (`model.weight_decay` × Σw², the tutorial's `tf.nn.l2_loss`), `l1`, or
 * `{ l2: x }` / `{ l1: x }`.
 */
import { layers, losses, metrics, optimizers, regularizers, ModeKeys, UserError, type ModelFn, type SymbolicTensor } from 'csrun';

/** One entry of `params.model.layers`. */
interface LayerParams {
  type: 'conv' | 'pool' | 'fc';
  num_outputs?: number;
  kernel_size?: number;
  stride?: number;
  activation?: string | null;
  regularizer?: string | { l1?: number; l2?: number } | null;
}

function regularizer(r: LayerParams['regularizer'], weightDecay: number, where: string) {
  if (r === undefined || r === null) return null;
  if (r === 'l2') return regularizers.l2(weightDecay);
  if (r === 'l1') return regularizers.l1(weightDecay);
  if (typeof r === 'object') return regularizers.l1l2({ l1: r.l1 ?? 0, l2: r.l2 ?? 0 });
  throw new UserError(`${where}.regularizer: expected null, 'l2', 'l1' or {l2: x}, got ${JSON.stringify(r)}`);
}

export const modelFn: ModelFn = (features, labels, mode, params) => {
  const spec = params.model.layers as LayerParams[] | undefined;
  if (!Array.isArray(spec) || spec.length === 0) throw new UserError('params.model.layers must be a non-empty list of {type: conv|pool|fc, ...}');
  const weightDecay = (params.model.weight_decay as number | undefined) ?? 0.0005;
  let h: SymbolicTensor = features.image;
  spec.forEach((l, i) => {
    const where = `params.model.layers[${i}]`;
    const need = (key: 'num_outputs' | 'kernel_size') => {
      const v = l[key];
      if (typeof v !== 'number' || !(v >= 1)) throw new UserError(`${where}.${key}: expected a positive number, got ${JSON.stringify(v)}`);
      return v;
    };
    const activation = l.activation ?? null;
    switch (l.type) {
      case 'conv':
        h = layers
          .conv2d({
            filters: need('num_outputs'),
            kernelSize: need('kernel_size'),
            strides: l.stride ?? 1,
            padding: 'same',
            activation,
            kernelRegularizer: regularizer(l.regularizer, weightDecay, where),
          })
          .apply(h);
        break;
      case 'pool':
        h = layers.maxPooling2d({ poolSize: need('kernel_size'), strides: l.stride ?? 2, padding: 'valid' }).apply(h);
        break;
      case 'fc':
        if (h.shape.length !== 2) h = layers.flatten().apply(h);
        h = layers.dense({ units: need('num_outputs'), activation, kernelRegularizer: regularizer(l.regularizer, weightDecay, where) }).apply(h);
        break;
      default:
        throw new UserError(`${where}.type: expected conv, pool or fc, got ${JSON.stringify((l as { type: unknown }).type)}`);
    }
  });
  const logits = h;
  if (mode === ModeKeys.PREDICT) return { mode, predictions: { output: logits } };

  const loss = losses.sparseSoftmaxCrossEntropy(labels!, logits);
  return {
    mode,
    loss,
    trainOp: optimizers.fromParams(params.optimizer).minimize(loss),
    evalMetricOps: { accuracy: metrics.accuracy(labels!, logits) },
  };
};
