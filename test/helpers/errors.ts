/**
 * The message of the UserError that `f` throws; fails the test if `f` returns or throws anything else.
 */
import { expect } from 'vitest';
import { UserError } from '../../runtime/errors.ts';

export function userErrorMessage(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(UserError);
    return (e as Error).message;
  }
  throw new Error('expected a UserError');
}
