/**
 * Initializer factories (Keras `initializers.*`), passed as `kernelInitializer` etc. Strings such as
 * `'heNormal'` or `'he_normal'` work too. Seeds are not taken from here: every parameter's seed derives
 * from `runconfig.seed` and its name, so runs are reproducible.
 */
import { UserError } from '../errors.ts';
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

/**
 * A Cerebras modelzoo initializer entry as an initializer argument: a name (`"glorot_uniform"`), a mapping
 * `{ name, …numbers }` (e.g. `{ name: truncated_normal, mean: 0.0, stddev: 0.02 }`; PyTorch-style `std` is read as
 * `stddev`; `seed` is dropped: csrun derives every parameter's seed from `runconfig.seed`), or a list of one such
 * entry. Absent (undefined / null): `fallback`.
 * @param key where the value came from, for messages (e.g. `model.initializer`).
 * @throws UserError naming the key for a list of several entries or a malformed entry.
 */
export function fromParams(value: unknown, key: string, fallback: InitializerArg): InitializerArg {
  let v = value;
  if (v === undefined || v === null) return fallback;
  if (Array.isArray(v)) {
    if (v.length !== 1) throw new UserError(`${key}: csrun takes one initializer (a mapping or a list of one mapping), got a list of ${v.length}`);
    v = v[0];
  }
  if (typeof v === 'string') return v;
  if (!v || typeof v !== 'object' || typeof (v as { name?: unknown }).name !== 'string') {
    throw new UserError(`${key}: expected { name: <initializer>, …numbers } (e.g. { name: truncated_normal, mean: 0.0, stddev: 0.02 }), got ${JSON.stringify(v)}`);
  }
  const { name, std, seed: _seed, ...rest } = v as Record<string, unknown>;
  const config: Record<string, number> = {};
  for (const [k, x] of Object.entries({ ...rest, ...(std !== undefined ? { stddev: std } : {}) })) {
    if (typeof x !== 'number') throw new UserError(`${key}.${k}: expected a number, got ${JSON.stringify(x)}`);
    config[k] = x;
  }
  return { name: name as string, config };
}
