/**
 * The global seed of input pipelines (tf.random.set_seed): ops created without an explicit seed
 * (`shuffle()` without `{ seed }`) derive theirs from it and their creation index. The support server
 * sets it in every input worker before calling `inputFn`, so that pipelines are reproducible.
 */
import { UserError } from '../../runtime/errors.ts';
import { mixSeeds } from '../../runtime/random.ts';

let globalSeed: number | undefined;
let opSeedCounter = 0;

/**
 * tf.random.set_seed: sets the global seed from which ops created afterwards without an explicit seed
 * derive theirs, deterministically from the op's creation index (counted from this call).
 * `undefined` clears it (ops without a seed are then seeded randomly).
 * @throws UserError if `seed` is not a finite number.
 */
export function setRandomSeed(seed: number | undefined): void {
  if (seed !== undefined && !Number.isFinite(seed)) throw new UserError(`setRandomSeed: seed must be a finite number (got ${seed})`);
  globalSeed = seed;
  opSeedCounter = 0;
}

/**
 * The seed of a new op that was given none: `mixSeeds(globalSeed, creation index)` under a global seed,
 * else a random 32-bit integer.
 */
export function nextOpSeed(): number {
  return globalSeed !== undefined ? mixSeeds(globalSeed, opSeedCounter++) : Math.floor(Math.random() * 4294967296);
}
