/**
 * The kernel registry: op name (`OpAttrs` key of `../graph.ts`) → kernel. One file per op.
 */
import type { GraphNode, OpName } from '../graph.ts';
import { activationKernel } from './activation.ts';
import { addKernel } from './add.ts';
import { averagePooling2dKernel } from './averagePooling2d.ts';
import { batchNormalizationKernel } from './batchNormalization.ts';
import { concatenateKernel } from './concatenate.ts';
import { conv2dKernel } from './conv2d.ts';
import { conv2dTransposeKernel } from './conv2dTranspose.ts';
import { upSampling2dKernel } from './upSampling2d.ts';
import { denseKernel } from './dense.ts';
import { divKernel } from './div.ts';
import { dropoutKernel } from './dropout.ts';
import { embeddingKernel } from './embedding.ts';
import { flattenKernel } from './flatten.ts';
import { gatherKernel } from './gather.ts';
import { globalAveragePooling2dKernel } from './globalAveragePooling2d.ts';
import { layerNormalizationKernel } from './layerNormalization.ts';
import { matMulKernel } from './matMul.ts';
import { maxPooling2dKernel } from './maxPooling2d.ts';
import { meanKernel } from './mean.ts';
import { meanSquaredErrorKernel } from './meanSquaredError.ts';
import { mulKernel } from './mul.ts';
import { multiHeadAttentionKernel } from './multiHeadAttention.ts';
import { reshapeKernel } from './reshape.ts';
import { reverseEmbeddingKernel } from './reverseEmbedding.ts';
import { rsqrtKernel } from './rsqrt.ts';
import { sigmoidCrossEntropyKernel } from './sigmoidCrossEntropy.ts';
import { sliceKernel } from './slice.ts';
import { softmaxKernel } from './softmax.ts';
import { softmaxCrossEntropyKernel } from './softmaxCrossEntropy.ts';
import { sparseSoftmaxCrossEntropyKernel } from './sparseSoftmaxCrossEntropy.ts';
import { sqrtKernel } from './sqrt.ts';
import { subKernel } from './sub.ts';
import { sumKernel } from './sum.ts';
import { tokenAndPositionEmbeddingKernel } from './tokenAndPositionEmbedding.ts';
import { transposeKernel } from './transpose.ts';
import { whereKernel } from './where.ts';
import type { OpKernel } from './types.ts';
import { KernelError } from './util.ts';

/** The kernel interface (see `./types.ts`). */
export type { BackwardResult, ForwardResult, GradNeeds, KernelContext, OpKernel } from './types.ts';
/** Error thrown by kernels, naming the node (see `./util.ts`). */
export { KernelError } from './util.ts';

/** Every kernel, keyed by op name. */
export const KERNELS: { readonly [K in OpName]: OpKernel<K> } = {
  conv2d: conv2dKernel,
  conv2dTranspose: conv2dTransposeKernel,
  upSampling2d: upSampling2dKernel,
  dense: denseKernel,
  maxPooling2d: maxPooling2dKernel,
  averagePooling2d: averagePooling2dKernel,
  globalAveragePooling2d: globalAveragePooling2dKernel,
  batchNormalization: batchNormalizationKernel,
  layerNormalization: layerNormalizationKernel,
  dropout: dropoutKernel,
  flatten: flattenKernel,
  reshape: reshapeKernel,
  activation: activationKernel,
  add: addKernel,
  sub: subKernel,
  mul: mulKernel,
  div: divKernel,
  where: whereKernel,
  sqrt: sqrtKernel,
  rsqrt: rsqrtKernel,
  softmax: softmaxKernel,
  sum: sumKernel,
  mean: meanKernel,
  matMul: matMulKernel,
  transpose: transposeKernel,
  slice: sliceKernel,
  gather: gatherKernel,
  concatenate: concatenateKernel,
  embedding: embeddingKernel,
  reverseEmbedding: reverseEmbeddingKernel,
  tokenAndPositionEmbedding: tokenAndPositionEmbeddingKernel,
  multiHeadAttention: multiHeadAttentionKernel,
  sparseSoftmaxCrossEntropy: sparseSoftmaxCrossEntropyKernel,
  softmaxCrossEntropy: softmaxCrossEntropyKernel,
  sigmoidCrossEntropy: sigmoidCrossEntropyKernel,
  meanSquaredError: meanSquaredErrorKernel,
};

/**
 * The kernel of a node's op.
 * @throws KernelError naming the node when the op has no kernel.
 */
export function kernelFor<K extends OpName>(node: GraphNode<K>): OpKernel<K> {
  const k = (KERNELS as Record<string, OpKernel<any> | undefined>)[node.op];
  if (!k) throw new KernelError(node, `no kernel for op '${node.op}' (known ops: ${Object.keys(KERNELS).join(', ')})`);
  return k as OpKernel<K>;
}
