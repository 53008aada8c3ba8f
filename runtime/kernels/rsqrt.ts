/** rsqrt (tf.rsqrt): `y = 1/√x` element-wise. Backward: `dx = −0.5 · dy · y³` (d x^(−1/2)/dx = −x^(−3/2)/2). No params. */
import * as tf from '@tensorflow/tfjs-core';
import { unaryKernel } from './unary_util.ts';

/** The rsqrt kernel. @throws KernelError for a non-float input. */
export const rsqrtKernel = unaryKernel('rsqrt', (x) => tf.rsqrt(x), (dy, y) => tf.mul(tf.mul(dy, -0.5), tf.mul(y, tf.square(y))));
