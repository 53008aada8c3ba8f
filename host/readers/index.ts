/**
 * File readers of the input pipeline: MNIST IDX, TFRecord (framing, reader, writer), tf.train.Example
 * (encode, decode, parseSingleExample) and CSV. See each module for its format's source.
 */
export * from './idx.ts';
export * from './mnist.ts';
export * from './example.ts';
export * from './tfrecord.ts';
export * from './csv.ts';
