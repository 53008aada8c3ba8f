/**
 * Per-element op counts shared by several kernel kinds' lowerings (cycles per element on one PE).
 * ASSUMPTION (documented guesses, docs/design.md §7): 1 for piecewise-linear functions, more for
 * transcendental ones; softmax includes its normalisation.
 */
import type { Activation } from '../../runtime/graph.ts';

/** Cycles per element of each activation. */
export const ACTIVATION_OPS: Record<Activation, number> = {
  linear: 0,
  relu: 1,
  relu6: 1,
  sigmoid: 4,
  tanh: 4,
  gelu: 6,
  elu: 4,
  selu: 4,
  softmax: 5,
};
/** Epilogue ops of a batch normalisation fused into a conv (per output element: normalise, scale, shift,
 * statistics). */
export const FUSED_BN_OPS = 4;
/** Ops per element of a standalone normalisation kernel. */
export const NORM_OPS = 4;
/** Ops per element of each loss (cross-entropies: exp, sum, log, subtract, gradient). */
export const LOSS_OPS: Record<string, number> = {
  sparseSoftmaxCrossEntropy: 5,
  softmaxCrossEntropy: 5,
  sigmoidCrossEntropy: 4,
  meanSquaredError: 2,
};
/** Kinds an activation or dropout may fuse into (as an epilogue). */
export const EPILOGUE_KINDS = ['conv', 'pool', 'norm', 'eltwise', 'matmul', 'attention'] as const;
/** Kinds a residual add / element-wise arithmetic may fuse into (its other tensor inputs become edges). */
export const BINARY_FUSE_KINDS = ['conv', 'norm', 'eltwise', 'matmul', 'attention'] as const;
/**
 * Cycles per element of element-wise tensor ops (ASSUMPTION, as the activations: 1 for add, subtract,
 * multiply and select; 4 for divide and the square roots, iterative on a PE without a divider).
 */
export const ELEMENTWISE_OPS = { sub: 1, mul: 1, div: 4, where: 1, sqrt: 4, rsqrt: 4, gather: 1 } as const;
/** Cycles per attention score (ASSUMPTION): softmax as the activation, +1 for a mask, +1 for dropout. */
export const ATTENTION_SCORE_OPS = { softmax: 5, mask: 1, dropout: 1 } as const;
/** Cycles per element of a row reduction (`sum`, `mean`: one add; the mean's scale folds into it). */
export const REDUCE_OPS = 1;
