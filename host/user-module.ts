/**
 * Loading the user's TypeScript/JavaScript modules (model.ts, data.ts) and describing the errors they throw:
 * one line with the message and the user's source location, never a csrun stack trace.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { UserError } from '../runtime/errors.ts';
import type { ModelFn } from '../runtime/api/estimator.ts';

/** `path` relative to the working directory when it is inside it, else absolute (for messages). */
export function displayPath(file: string): string {
  const rel = path.relative(process.cwd(), file);
  return rel && !rel.startsWith('..') && !path.isAbsolute(rel) ? rel : file;
}

/**
 * One line describing an error thrown by user code: its message plus the first stack frame inside `file`
 * (or the first frame outside node_modules and node internals), e.g. `Error: boom (at data.ts:12:9)`.
 */
export function errorSummary(e: unknown, file?: string): string {
  if (!(e instanceof Error) && !(typeof e === 'object' && e && 'message' in e)) return String(e);
  const err = e as Error;
  const head = err.name && err.name !== 'Error' && err.name !== 'UserError' ? `${err.name}: ${err.message}` : err.message;
  const frames = (err.stack ?? '').split('\n').slice(1).map((l) => l.trim());
  const base = file ? path.basename(file) : undefined;
  const frame =
    (base && frames.find((l) => l.includes(base))) ?? frames.find((l) => l.startsWith('at ') && !l.includes('node_modules') && !l.includes('node:'));
  if (!frame || err.name === 'UserError') return head;
  const m = /((?:file:\/\/)?\/[^()\s]*?):(\d+):(\d+)\)?$/.exec(frame);
  if (!m) return head;
  const p = m[1].startsWith('file:') ? fileURLToPath(m[1]) : m[1];
  return `${head} (at ${displayPath(p)}:${m[2]}:${m[3]})`;
}

/**
 * Imports a user module (tsx must be registered for TypeScript, as the CLI, vitest and the worker bootstraps do).
 * @param file  absolute path.
 * @param what  how to name it when it is missing (e.g. 'data module').
 * @throws UserError naming the file when it is missing or fails to load (message and location), or
 *   re-prefixing a UserError thrown while it loads.
 */
export async function importUserModule(file: string, what = 'module'): Promise<Record<string, unknown>> {
  if (!fs.existsSync(file)) throw new UserError(`${displayPath(file)}: ${what} not found`);
  try {
    return (await import(pathToFileURL(file).href)) as Record<string, unknown>;
  } catch (e) {
    if (e instanceof UserError || (e as Error)?.name === 'UserError') throw new UserError(`${displayPath(file)}: ${(e as Error).message}`, { cause: e });
    throw new UserError(`${displayPath(file)}: failed to load: ${errorSummary(e, file)}`, { cause: e });
  }
}

/**
 * A model-file convention besides csrun's own `modelFn` export (e.g. an ElasticDL model file,
 * host/input/elasticdl.ts); the list is host/input/conventions.ts.
 */
export interface ModelFnAdapter {
  /** `ModelDir.convention` of a directory loaded through this adapter, e.g. 'elasticdl'. */
  convention: string;
  /** What it looks for, for the "exports no modelFn" error, e.g. "an ElasticDL 'model'". */
  describe: string;
  /** True when the module's exports follow the convention. */
  matches(mod: Record<string, unknown>): boolean;
  /**
   * The modelFn of such a module (`file`: its absolute path, for messages).
   * @throws UserError naming the file when an export the convention requires is missing.
   */
  adapt(mod: Record<string, unknown>, file: string): ModelFn;
}
