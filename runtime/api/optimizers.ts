/**
 * Optimizers as in tfjs-core / Keras (`optimizers.adam({ learningRate }).minimize(loss)`), plus
 * {@link fromParams} for the Cerebras params.yaml `optimizer` section. `minimize` returns the
 * {@link TrainOp} that `EstimatorSpec.trainOp` expects; the update math lives in runtime/optimizers/.
 */
import type { LearningRate, OptimizerSpec } from '../graph.ts';
import { UserError } from '../errors.ts';
import { learningRateSchema, type OptimizerParams } from '../params.ts';
import { SymbolicTensor, scopeOf } from '../symbolic.ts';

/** The training operation of an EstimatorSpec: which optimizer minimises which loss. */
export interface TrainOp {
  readonly kind: 'trainOp';
  readonly optimizer: OptimizerSpec;
  readonly loss: SymbolicTensor;
}

/** An optimizer configuration; `minimize(loss)` makes the train op. */
export class Optimizer {
  constructor(readonly spec: OptimizerSpec) {}

  /**
   * The train op minimising `loss` over every trainable parameter (tf.train.Optimizer.minimize).
   * @throws UserError if `loss` is not a scalar tensor of modelFn.
   */
  minimize(loss: SymbolicTensor): TrainOp {
    if (!(loss instanceof SymbolicTensor) || loss.rank !== 0) {
      throw new UserError(`optimizer ${this.spec.name}: minimize() needs the scalar loss tensor of modelFn, got ${loss instanceof SymbolicTensor ? `shape ${loss}` : typeof loss}`);
    }
    scopeOf([loss], `optimizer ${this.spec.name}`);
    return { kind: 'trainOp', optimizer: this.spec, loss };
  }
}

function lr(name: string, v: LearningRate | undefined, dflt?: number): LearningRate {
  if (v === undefined) {
    if (dflt === undefined) throw new UserError(`optimizer ${name}: learningRate is required`);
    return dflt;
  }
  const r = learningRateSchema.safeParse(v);
  if (!r.success) {
    const i = r.error.issues[0];
    throw new UserError(`optimizer ${name}: learningRate${i.path.length ? '.' + i.path.join('.') : ''} is invalid: ${i.message.replace(/^Invalid input: /, '')}`);
  }
  return r.data as LearningRate;
}

function num(opt: string, key: string, v: number | undefined, dflt: number, ok: (x: number) => boolean, range: string): number {
  const x = v ?? dflt;
  if (typeof x !== 'number' || !ok(x)) throw new UserError(`optimizer ${opt}: ${key} must be ${range}, got ${JSON.stringify(v)}`);
  return x;
}
const unit = (x: number) => x >= 0 && x < 1;
const pos = (x: number) => x > 0;
const nonneg = (x: number) => x >= 0;

/** Arguments every optimizer takes. */
export interface OptimizerArgs {
  /** Keras `global_clipnorm`: clip the global L2 norm of all gradients to this value before each update. */
  globalClipnorm?: number;
}

/** The `globalClipnorm` part of a spec (absent when not clipping). @throws UserError for a negative value. */
function clip(name: string, args: OptimizerArgs | undefined): { globalClipnorm?: number } {
  const c = args?.globalClipnorm;
  if (c === undefined || c === 0) return {};
  return { globalClipnorm: num(name, 'globalClipnorm', c, 0, pos, 'positive') };
}

/** Plain gradient descent: `w -= lr · g` (tf.train.sgd). */
export function sgd(args: { learningRate: LearningRate } & OptimizerArgs): Optimizer {
  return new Optimizer({ name: 'sgd', learningRate: lr('sgd', args?.learningRate), ...clip('sgd', args) });
}

/** Momentum SGD (tf.train.momentum): `v = m·v + g; w -= lr·v` (Nesterov: `w -= lr·(g + m·v)`). Default momentum 0.9. */
export function momentum(args: { learningRate: LearningRate; momentum?: number; useNesterov?: boolean } & OptimizerArgs): Optimizer {
  return new Optimizer({
    ...clip('momentum', args),
    name: 'momentum',
    learningRate: lr('momentum', args?.learningRate),
    momentum: num('momentum', 'momentum', args.momentum, 0.9, unit, 'in [0, 1)'),
    useNesterov: args.useNesterov ?? false,
  });
}

/** Adam (tf.train.adam); defaults learningRate 0.001, beta1 0.9, beta2 0.999, epsilon 1e-7 (tfjs/Keras). */
export function adam(args: { learningRate?: LearningRate; beta1?: number; beta2?: number; epsilon?: number } & OptimizerArgs = {}): Optimizer {
  return new Optimizer({
    ...clip('adam', args),
    name: 'adam',
    learningRate: lr('adam', args.learningRate, 0.001),
    beta1: num('adam', 'beta1', args.beta1, 0.9, unit, 'in [0, 1)'),
    beta2: num('adam', 'beta2', args.beta2, 0.999, unit, 'in [0, 1)'),
    epsilon: num('adam', 'epsilon', args.epsilon, 1e-7, pos, 'positive'),
  });
}

/** AdamW: Adam with decoupled weight decay `w -= lr·weightDecay·w` (Keras AdamW; default weightDecay 0.004).
 * `biasCorrection: false` uses the moments undivided by `1 − βᵗ` (the Cerebras TF AdamW default; Keras: true). */
export function adamw(args: { learningRate?: LearningRate; beta1?: number; beta2?: number; epsilon?: number; weightDecay?: number; biasCorrection?: boolean } & OptimizerArgs = {}): Optimizer {
  return new Optimizer({
    ...clip('adamw', args),
    ...(args.biasCorrection === false ? { biasCorrection: false } : {}),
    name: 'adamw',
    learningRate: lr('adamw', args.learningRate, 0.001),
    beta1: num('adamw', 'beta1', args.beta1, 0.9, unit, 'in [0, 1)'),
    beta2: num('adamw', 'beta2', args.beta2, 0.999, unit, 'in [0, 1)'),
    epsilon: num('adamw', 'epsilon', args.epsilon, 1e-7, pos, 'positive'),
    weightDecay: num('adamw', 'weightDecay', args.weightDecay, 0.004, nonneg, 'non-negative'),
  });
}

/** RMSProp (tf.train.rmsprop); defaults learningRate 0.001, decay (Keras rho) 0.9, momentum 0, epsilon 1e-7. */
export function rmsprop(args: { learningRate?: LearningRate; decay?: number; momentum?: number; epsilon?: number; centered?: boolean } & OptimizerArgs = {}): Optimizer {
  return new Optimizer({
    ...clip('rmsprop', args),
    name: 'rmsprop',
    learningRate: lr('rmsprop', args.learningRate, 0.001),
    decay: num('rmsprop', 'decay', args.decay, 0.9, unit, 'in [0, 1)'),
    momentum: num('rmsprop', 'momentum', args.momentum, 0, unit, 'in [0, 1)'),
    epsilon: num('rmsprop', 'epsilon', args.epsilon, 1e-7, pos, 'positive'),
    centered: args.centered ?? false,
  });
}

/**
 * The optimizer described by a params.yaml `optimizer` section (Cerebras keys: optimizer_type,
 * learning_rate, beta1, beta2, epsilon, momentum, use_nesterov, weight_decay_rate, rho, centered,
 * use_bias_correction, max_gradient_norm → globalClipnorm). Loss-scaling keys have no effect (float32, see
 * `../params.ts`).
 * @throws UserError if optimizer_type or learning_rate is missing.
 */
export function fromParams(p: OptimizerParams): Optimizer {
  const type = p.optimizer_type;
  if (!type) throw new UserError('params optimizer.optimizer_type is required (sgd, momentum, adam, adamw or rmsprop)');
  const learningRate = p.learning_rate as LearningRate | undefined;
  if (learningRate === undefined) throw new UserError('params optimizer.learning_rate is required');
  const globalClipnorm = p.max_gradient_norm;
  switch (type) {
    case 'sgd':
      return sgd({ learningRate, globalClipnorm });
    case 'momentum':
      return momentum({ learningRate, momentum: p.momentum, useNesterov: p.use_nesterov, globalClipnorm });
    case 'adam':
      return adam({ learningRate, beta1: p.beta1, beta2: p.beta2, epsilon: p.epsilon, globalClipnorm });
    case 'adamw':
      return adamw({ learningRate, beta1: p.beta1, beta2: p.beta2, epsilon: p.epsilon, weightDecay: p.weight_decay_rate, biasCorrection: p.use_bias_correction, globalClipnorm });
    case 'rmsprop':
      return rmsprop({ learningRate, decay: p.rho, momentum: p.momentum, epsilon: p.epsilon, centered: p.centered, globalClipnorm });
  }
}
