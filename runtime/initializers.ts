/**
 * Parameter initializers (Keras names and defaults), deterministic in `spec.seed`.
 *
 * Fan rules are Keras' `_compute_fans` (keras/src/initializers/random_initializers.py), also used by
 * tfjs-layers (`computeFans`, channels-last):
 *   rank 0: fanIn = fanOut = 1;  rank 1: fanIn = fanOut = shape[0];  rank 2 `[in, out]`: fanIn = in, fanOut = out;
 *   rank ≥ 3 (conv kernel `[kh, kw, …, cin, cout]`): receptive = ∏ shape[0..−3]; fanIn = cin · receptive,
 *   fanOut = cout · receptive.
 * Variance scaling (Keras `VarianceScaling`): n = fanIn, fanOut or (fanIn + fanOut)/2 by mode;
 *   uniform: U(−√(3·scale/n), √(3·scale/n));
 *   truncated normal: stddev = √(scale/n) / 0.87962566103423978 (the stddev of a unit normal truncated to
 *   ±2, so the result has variance scale/n), redrawn outside ±2 stddev.
 * The random values come from `./random.ts`: element i of a parameter with seed s uses counter i
 * of stream `streamKey(s)`, so the same spec and shape always give the same array (the values are not those
 * of Keras' or tfjs' generators — no two frameworks share one).
 */
import type { InitializerSpec } from './graph.ts';
import { fillNormal, fillTruncatedNormal, fillUniform, streamKey } from './random.ts';

/** Names accepted by {@link initialize}. */
export const INITIALIZERS = [
  'glorotUniform',
  'glorotNormal',
  'heNormal',
  'heUniform',
  'lecunNormal',
  'lecunUniform',
  'randomNormal',
  'randomUniform',
  'truncatedNormal',
  'zeros',
  'ones',
  'constant',
] as const;

/** Keras' truncation correction: stddev of N(0,1) truncated to [−2, 2]. */
const TRUNCATED_STDDEV = 0.87962566103423978;

/**
 * Fan-in and fan-out of a weight shape (Keras `_compute_fans`, see the module comment).
 * @param shape static parameter shape, e.g. `[kh, kw, cin, cout]` or `[in, units]`.
 */
export function computeFans(shape: readonly number[]): { fanIn: number; fanOut: number } {
  if (shape.length === 0) return { fanIn: 1, fanOut: 1 };
  if (shape.length === 1) return { fanIn: shape[0], fanOut: shape[0] };
  if (shape.length === 2) return { fanIn: shape[0], fanOut: shape[1] };
  let receptive = 1;
  for (let i = 0; i < shape.length - 2; i++) receptive *= shape[i];
  return { fanIn: shape[shape.length - 2] * receptive, fanOut: shape[shape.length - 1] * receptive };
}

function num(spec: InitializerSpec, key: string, dflt: number): number {
  const v = spec.config?.[key];
  if (v === undefined) return dflt;
  if (typeof v !== 'number' || !Number.isFinite(v)) {
    throw new Error(`initializer '${spec.name}': config.${key} must be a finite number, got ${String(v)}`);
  }
  return v;
}

function varianceScaling(
  spec: InitializerSpec,
  shape: readonly number[],
  out: Float32Array,
  scale: number,
  mode: 'fanIn' | 'fanOut' | 'fanAvg',
  distribution: 'uniform' | 'truncatedNormal',
): Float32Array {
  const { fanIn, fanOut } = computeFans(shape);
  const n = Math.max(1, mode === 'fanIn' ? fanIn : mode === 'fanOut' ? fanOut : (fanIn + fanOut) / 2);
  const key = streamKey(spec.seed);
  if (distribution === 'uniform') {
    const limit = Math.sqrt((3 * scale) / n);
    return fillUniform(key, out, -limit, limit);
  }
  return fillTruncatedNormal(key, out, 0, Math.sqrt(scale / n) / TRUNCATED_STDDEV);
}

/**
 * Initial values of a parameter.
 *
 * | name | values (Keras defaults) |
 * | --- | --- |
 * | glorotUniform | U(±√(6/(fanIn+fanOut))) |
 * | glorotNormal | truncated N(0, 2/(fanIn+fanOut)) |
 * | heNormal / heUniform | truncated N(0, 2/fanIn) / U(±√(6/fanIn)) |
 * | lecunNormal / lecunUniform | truncated N(0, 1/fanIn) / U(±√(3/fanIn)) |
 * | randomNormal | N(mean = 0, stddev = 0.05) |
 * | randomUniform | U(minval = −0.05, maxval = 0.05) |
 * | truncatedNormal | N(mean = 0, stddev = 0.05) truncated to ±2 stddev |
 * | zeros / ones / constant | 0 / 1 / `value` (default 0) |
 *
 * @param spec  initializer name, seed and config (`mean`, `stddev`, `minval`, `maxval`, `value`).
 * @param shape static shape; the result has ∏shape elements in row-major order.
 * @returns a new Float32Array.
 * @throws Error naming the initializer if the name is unknown, a config value is not a finite number or
 *   the shape has a negative or non-integer dimension.
 */
export function initialize(spec: InitializerSpec, shape: readonly number[]): Float32Array {
  let size = 1;
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) throw new Error(`initializer '${spec.name}': bad shape [${shape.join(', ')}]`);
    size *= d;
  }
  const out = new Float32Array(size);
  switch (spec.name) {
    case 'zeros':
      return out;
    case 'ones':
      return out.fill(1);
    case 'constant':
      return out.fill(num(spec, 'value', 0));
    case 'glorotUniform':
      return varianceScaling(spec, shape, out, 1, 'fanAvg', 'uniform');
    case 'glorotNormal':
      return varianceScaling(spec, shape, out, 1, 'fanAvg', 'truncatedNormal');
    case 'heNormal':
      return varianceScaling(spec, shape, out, 2, 'fanIn', 'truncatedNormal');
    case 'heUniform':
      return varianceScaling(spec, shape, out, 2, 'fanIn', 'uniform');
    case 'lecunNormal':
      return varianceScaling(spec, shape, out, 1, 'fanIn', 'truncatedNormal');
    case 'lecunUniform':
      return varianceScaling(spec, shape, out, 1, 'fanIn', 'uniform');
    case 'randomNormal':
      return fillNormal(streamKey(spec.seed), out, num(spec, 'mean', 0), num(spec, 'stddev', 0.05));
    case 'randomUniform': {
      const lo = num(spec, 'minval', -0.05);
      const hi = num(spec, 'maxval', 0.05);
      if (!(hi >= lo)) throw new Error(`initializer 'randomUniform': maxval ${hi} < minval ${lo}`);
      return fillUniform(streamKey(spec.seed), out, lo, hi);
    }
    case 'truncatedNormal':
      return fillTruncatedNormal(streamKey(spec.seed), out, num(spec, 'mean', 0), num(spec, 'stddev', 0.05));
    default:
      throw new Error(`unknown initializer '${spec.name}' (expected one of ${INITIALIZERS.join(', ')})`);
  }
}
