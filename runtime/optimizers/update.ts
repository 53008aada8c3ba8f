/**
 * Optimizer update rules on tfjs-core ops: slots and one step for sgd, momentum (optionally Nesterov), adam,
 * adamw and rmsprop (optionally centered). Each rule reproduces, op for op, the `applyGradients` of the tfjs-core
 * optimizer of the same name (tfjs-core 4.22 `src/optimizers/*_optimizer.ts`), so that training matches
 * `tf.train.*` / tfjs-layers to float32 rounding. AdamW is that Adam plus Keras' decoupled weight decay.
 *
 * Slots are named `<param>/<suffix>` with tfjs' suffixes: momentum `momentum`; adam/adamw `m`, `v`; rmsprop
 * `rms`, `momentum` and (centered) `mg`. All slots start at zero and have the parameter's shape.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { OptimizerSpec } from '../graph.ts';

/**
 * Slot suffixes of an optimizer, in the order {@link applyUpdate} takes and returns them.
 * @throws Error for an unknown optimizer name.
 */
export function slotSuffixes(spec: OptimizerSpec): string[] {
  switch (spec.name) {
    case 'sgd':
      return [];
    case 'momentum':
      return ['momentum'];
    case 'adam':
    case 'adamw':
      return ['m', 'v'];
    case 'rmsprop':
      return spec.centered ? ['rms', 'momentum', 'mg'] : ['rms', 'momentum'];
    default:
      throw new Error(`unknown optimizer '${(spec as { name: string }).name}' (expected sgd, momentum, adam, adamw or rmsprop)`);
  }
}

/** Result of one update: the new parameter value and new slot values (same order as the inputs). */
export interface UpdateResult {
  value: tf.Tensor;
  slots: tf.Tensor[];
}

/**
 * One optimizer step for one parameter. Does not dispose its inputs; the caller owns the results.
 *
 * With g the gradient, lr the learning rate of this step and t = step + 1:
 * - sgd (`sgd_optimizer.ts`): w ← w + (−lr)·g
 * - momentum (`momentum_optimizer.ts`): a ← m·a + g; w ← w + (−lr)·a, Nesterov: w ← w + (−lr)·(g + a·m)
 * - adam (`adam_optimizer.ts`): m ← β₁m + (1−β₁)g; v ← β₂v + (1−β₂)g²;
 *   w ← w + (−lr)·(m/(1−β₁ᵗ)) / (√(v/(1−β₂ᵗ)) + ε)   (tfjs keeps β^t as a float32 running product; here
 *   it is computed from t in double precision, which differs by < 1e-6 relative for t ≤ 10⁴ and makes a resumed
 *   run identical to an uninterrupted one)
 * - adamw: first w ← w − lr·λ·w (Keras `Optimizer._apply_weight_decay`, λ = weightDecay), then adam; without
 *   bias correction (`biasCorrection: false`, the Cerebras TF AdamW default) m and v are used undivided
 * - rmsprop (`rmsprop_optimizer.ts`): ms ← ρ·ms + (1−ρ)g²; plain: mom ← μ·mom + lr·g/√(ms + ε);
 *   centered: mg ← ρ·mg + (1−ρ)g, mom ← μ·mom + lr·g/√(ms − (mg² + ε)); w ← w − mom
 *
 * @param spec  optimizer and hyper-parameters.
 * @param value parameter value (any shape).
 * @param grad  gradient, same shape.
 * @param slots current slots in {@link slotSuffixes} order, same shape.
 * @param lr    learning rate of this step (from the schedule).
 * @param step  global step before this update (0 for the first update).
 * @throws Error if the number of slots does not match the optimizer.
 */
export function applyUpdate(spec: OptimizerSpec, value: tf.Tensor, grad: tf.Tensor, slots: tf.Tensor[], lr: number, step: number): UpdateResult {
  const want = slotSuffixes(spec).length;
  if (slots.length !== want) throw new Error(`optimizer ${spec.name}: expected ${want} slot(s), got ${slots.length}`);
  return tf.tidy(() => {
    switch (spec.name) {
      case 'sgd':
        return { value: tf.add(tf.mul(tf.scalar(-lr), grad), value), slots: [] };
      case 'momentum': {
        const m = tf.scalar(spec.momentum);
        const c = tf.scalar(-lr);
        const acc = tf.add(tf.mul(m, slots[0]), grad);
        const next = spec.useNesterov ? tf.add(tf.mul(c, tf.add(grad, tf.mul(acc, m))), value) : tf.add(tf.mul(c, acc), value);
        return { value: next, slots: [acc] };
      }
      case 'adam':
      case 'adamw': {
        let w = value;
        if (spec.name === 'adamw' && spec.weightDecay !== 0) w = tf.sub(w, tf.mul(w, lr * spec.weightDecay));
        const { beta1, beta2, epsilon } = spec;
        const t = step + 1;
        const corrected = spec.name === 'adam' || spec.biasCorrection !== false;
        const oneMinusAcc1 = tf.sub(1, tf.scalar(corrected ? Math.pow(beta1, t) : 0));
        const oneMinusAcc2 = tf.sub(1, tf.scalar(corrected ? Math.pow(beta2, t) : 0));
        const m = tf.add(tf.mul(slots[0], beta1), tf.mul(grad, 1 - beta1));
        const v = tf.add(tf.mul(slots[1], beta2), tf.mul(tf.square(grad), 1 - beta2));
        const mHat = tf.div(m, oneMinusAcc1);
        const vHat = tf.div(v, oneMinusAcc2);
        const next = tf.add(tf.mul(tf.div(mHat, tf.add(tf.sqrt(vHat), epsilon)), -lr), w);
        return { value: next, slots: [m, v] };
      }
      case 'rmsprop': {
        const { decay, momentum, epsilon } = spec;
        const ms = tf.add(tf.mul(slots[0], decay), tf.mul(tf.square(grad), 1 - decay));
        if (spec.centered) {
          const mg = tf.add(tf.mul(slots[2], decay), tf.mul(grad, 1 - decay));
          const contrib = tf.div(tf.mul(grad, lr), tf.sqrt(tf.sub(ms, tf.add(tf.square(mg), epsilon))));
          const mom = tf.add(tf.mul(slots[1], momentum), contrib);
          return { value: tf.sub(value, mom), slots: [ms, mom, mg] };
        }
        const mom = tf.add(tf.mul(slots[1], momentum), tf.div(tf.mul(grad, lr), tf.sqrt(tf.add(ms, epsilon))));
        return { value: tf.sub(value, mom), slots: [ms, mom] };
      }
      default:
        throw new Error(`unknown optimizer '${(spec as { name: string }).name}'`);
    }
  });
}

/**
 * Global-norm clipping (tf.clip_by_global_norm; Keras `global_clipnorm`): with n = √(Σ_params Σ g²), every
 * gradient is multiplied by `maxNorm / max(n, maxNorm)`. Apply it to the gradients of ALL trainable parameters
 * of a step (after the cross-replica reduction and the regularisation terms), before any {@link applyUpdate}.
 * Does not dispose its inputs; returns new tensors (or the inputs themselves when no scaling is needed).
 * @param grads   gradients of every trainable parameter (any shapes).
 * @param maxNorm the clip norm; ≤ 0 disables clipping.
 * @returns the clipped gradients (same order) and the global norm before clipping.
 */
export function clipByGlobalNorm(grads: readonly tf.Tensor[], maxNorm: number): { grads: tf.Tensor[]; globalNorm: number } {
  let sq = 0;
  for (const g of grads) {
    const s = tf.tidy(() => tf.sum(tf.square(g)));
    sq += s.dataSync()[0];
    s.dispose();
  }
  const globalNorm = Math.sqrt(sq);
  if (!(maxNorm > 0) || globalNorm <= maxNorm) return { grads: grads.slice(), globalNorm };
  const scale = maxNorm / globalNorm;
  return { grads: grads.map((g) => tf.mul(g, scale)), globalNorm };
}
