/** sqrt (tf.sqrt): `y = √x` element-wise. Backward: `dx = dy · 0.5 / y` (d√x/dx = 1/(2√x)). No params. */
import * as tf from '@tensorflow/tfjs-core';
import { unaryKernel } from './unary_util.ts';

/** The sqrt kernel. @throws KernelError for a non-float input. */
export const sqrtKernel = unaryKernel('sqrt', (x) => tf.sqrt(x), (dy, y) => tf.div(tf.mul(dy, 0.5), y));
