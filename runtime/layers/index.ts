/** The `layers` namespace (Keras / tfjs-layers names): `layers.conv2d({ filters: 32, kernelSize: 3 })`. */
export { input, type InputArgs } from './input.ts';
export { conv2d, Conv2D, conv2dTranspose, Conv2DTranspose, type Conv2DArgs, type Conv2DTransposeArgs } from './conv2d.ts';
export { dense, Dense, type DenseArgs } from './dense.ts';
export {
  maxPooling2d, averagePooling2d, globalAveragePooling2d, upSampling2d, MaxPooling2D, AveragePooling2D, GlobalAveragePooling2D, UpSampling2D, type Pooling2DArgs, type GlobalPooling2DArgs, type UpSampling2DArgs,
} from './pooling.ts';
export { batchNormalization, layerNormalization, BatchNormalization, LayerNormalization, type BatchNormalizationArgs, type LayerNormalizationArgs } from './normalization.ts';
export {
  dropout, flatten, reshape, activation, add, concatenate, Dropout, Flatten, Reshape, Activation, Add, Concatenate,
  type DropoutArgs, type ReshapeArgs, type ActivationArgs, type ConcatenateArgs,
} from './core.ts';
export { embedding, Embedding, tokenAndPositionEmbedding, TokenAndPositionEmbedding, type EmbeddingArgs, type TokenAndPositionEmbeddingArgs } from './embedding.ts';
export { multiHeadAttention, MultiHeadAttention, type MultiHeadAttentionArgs, type MultiHeadAttentionCallOptions } from './attention.ts';
export { Layer, DATA_FORMATS, type LayerArgs, type DataFormat } from './base.ts';
