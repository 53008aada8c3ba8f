/**
 * The one error type for mistakes in user input (model code, params, data, command line). The CLI prints
 * its message alone on stderr and exits with a non-zero code; any other error is a bug in csrun and is
 * printed with its stack.
 */
export class UserError extends Error {
  override name = 'UserError';
  /** @param message one sentence naming the file, key, layer or shape at fault and what was expected. */
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** Levenshtein distance between two short strings (used for "did you mean" hints). */
export function editDistance(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0];
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = prev[j];
      prev[j] = Math.min(prev[j] + 1, prev[j - 1] + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = tmp;
    }
  }
  return prev[b.length];
}

/** The closest candidate to `word` within edit distance 3 (or a third of its length), if any. */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = Math.max(3, Math.floor(word.length / 3)) + 1;
  for (const c of candidates) {
    const d = editDistance(word.toLowerCase(), c.toLowerCase());
    if (d < bestD) {
      best = c;
      bestD = d;
    }
  }
  return best;
}
