/** Weight regularizers (Keras `regularizers.l1/l2/l1l2`), passed as `kernelRegularizer`. */
import type { RegularizerSpec } from '../graph.ts';
import { UserError } from '../errors.ts';

function factor(name: string, x: number): number {
  if (typeof x !== 'number' || !(x >= 0)) throw new UserError(`regularizers.${name}: factor must be a non-negative number, got ${JSON.stringify(x)}`);
  return x;
}

/** Adds `l2 · Σ w²` to the loss (Keras default factor 0.01). */
export function l2(l2 = 0.01): RegularizerSpec {
  return { l2: factor('l2', l2) };
}

/** Adds `l1 · Σ |w|` to the loss (Keras default factor 0.01). */
export function l1(l1 = 0.01): RegularizerSpec {
  return { l1: factor('l1', l1) };
}

/** Adds both penalties. */
export function l1l2(args: { l1?: number; l2?: number } = {}): RegularizerSpec {
  return { l1: factor('l1l2', args.l1 ?? 0), l2: factor('l1l2', args.l2 ?? 0) };
}
