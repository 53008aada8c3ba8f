/**
 * Initializer factories (Keras `initializers.*`), passed as `kernelInitializer` etc. Strings such as
 * `'heNormal'` or `'he_normal'` work too. Seeds are not taken from here: every parameter's seed derives
 * from `runconfig.seed` and its name, so runs are reproducible.
 */
import type { InitializerArg } from '../layers/base.ts';

type Cfg = Record<string, number>;
const make = (name: string) => (config: Cfg = {}): InitializerArg => ({ name, config });

/** U(−l, l), l = √(6 / (fanIn + fanOut)). */
export const glorotUniform = make('glorotUniform');
/** Truncated N(0, 2 / (fanIn + fanOut)). */
export const glorotNormal = make('glorotNormal');
/** Truncated N(0, 2 / fanIn). */
export const heNormal = make('heNormal');
/** U(−l, l), l = √(6 / fanIn). */
export const heUniform = make('heUniform');
/** Truncated N(0, 1 / fanIn). */
export const lecunNormal = make('lecunNormal');
/** U(−l, l), l = √(3 / fanIn). */
export const lecunUniform = make('lecunUniform');
/** N(mean, stddev²); config `{ mean = 0, stddev = 0.05 }`. */
export const randomNormal = make('randomNormal');
/** U(minval, maxval); config `{ minval = -0.05, maxval = 0.05 }`. */
export const randomUniform = make('randomUniform');
/** N(mean, stddev²) re-drawn beyond 2 stddev; config `{ mean = 0, stddev = 0.05 }`. */
export const truncatedNormal = make('truncatedNormal');
/** All zeros. */
export const zeros = make('zeros');
/** All ones. */
export const ones = make('ones');
/** All `value`; config `{ value }`. */
export const constant = (value: number): InitializerArg => ({ name: 'constant', config: { value } });
