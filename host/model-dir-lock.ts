/**
 * One owner per model_dir (docs/design.md §5): a run that writes checkpoints (`train`, `train_and_eval`)
 * holds the lock file `model_dir/csrun.lock` (ModelDirLayout.lock), a JSON object
 * `{ pid, host, started, command }`, from before it reads the checkpoint index until it exits.
 *
 * - Taking it is atomic: the owner record is written to a private temp file and hard-linked to the lock's
 *   name (link(2) fails with EEXIST when the name exists), so the lock file is always complete. On a file
 *   system without hard links it is created with O_EXCL instead.
 * - A second writer is refused with one UserError naming the owner's pid, host, start time and command.
 * - A stale lock, whose pid no longer runs on this host (a run killed with SIGKILL), is taken over with a
 *   warning. A lock of another host cannot be checked and is never taken over.
 * - It is released when the run ends, on every path (also `process.exit`, e.g. a second Ctrl-C).
 *
 * Readers (`eval`, `eval_all`, `predict`, `report`) do not take it: as tf.estimator's continuous evaluator,
 * they may run beside a training run, reading the checkpoints it has finished (writes are atomic).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { UserError } from '../runtime/errors.ts';
import { ensureDir, fsError, pidAlive, withFsErrors } from '../runtime/fs.ts';
import type { ModelDirLayout } from './model-dir.ts';

/** The record in the lock file. */
export interface LockOwner {
  /** Process id of the owner. */
  pid: number;
  /** `os.hostname()` of the owner's machine. */
  host: string;
  /** When the owner took the lock (ISO 8601, UTC). */
  started: string;
  /** The owner's command line (e.g. `csrun train model --max-steps 100`). */
  command: string;
}

/** Reads a lock file; undefined when it does not exist. @throws UserError naming it when it is not a lock record. */
function readOwner(file: string): LockOwner | undefined {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw fsError(e, file, 'reading the model_dir lock');
  }
  try {
    const o = JSON.parse(text) as LockOwner;
    if (Number.isInteger(o.pid) && typeof o.host === 'string') return o;
  } catch {
    // fall through
  }
  throw new UserError(`${file}: not a csrun lock file ({ pid, host, started, command }); remove it if no csrun run uses this model_dir`);
}

/** "pid 123 on host h since 2026-…Z (csrun train …)". */
function describe(o: LockOwner): string {
  return `pid ${o.pid}${o.host === os.hostname() ? '' : ` on host ${o.host}`} since ${o.started}${o.command ? ` (${o.command})` : ''}`;
}

/** The lock of one model_dir held by this process ({@link ModelDirLock.acquire}). */
export class ModelDirLock {
  private released = false;
  private readonly onExit = () => this.release();

  private constructor(
    /** Absolute path of the lock file. */
    readonly file: string,
    /** This process's record in it. */
    readonly owner: LockOwner,
  ) {
    process.once('exit', this.onExit);
  }

  /**
   * Takes the lock of a model_dir, creating the directory if needed.
   * @param out      the model_dir's layout (the lock is `out.lock`).
   * @param opts.command  the command line recorded for a refused second writer (default: process.argv).
   * @param opts.warn     where the take-over warning of a stale lock goes (default: stderr).
   * @throws UserError "model_dir D is in use by pid N since T (command)" when a live process (or one on
   *   another host) holds it; UserError for a lock file that is not a lock record, or a model_dir that
   *   cannot be written.
   */
  static acquire(out: ModelDirLayout, opts: { command?: string; warn?: (line: string) => void } = {}): ModelDirLock {
    const warn = opts.warn ?? ((l: string) => process.stderr.write(`csrun: warning: ${l}\n`));
    const file = out.lock;
    ensureDir(out.root, 'creating model_dir');
    const owner: LockOwner = {
      pid: process.pid,
      host: os.hostname(),
      started: new Date().toISOString(),
      command: opts.command ?? ['csrun', ...process.argv.slice(2)].join(' '),
    };
    const json = JSON.stringify(owner) + '\n';
    // A temp name removeStaleTemps (runtime/fs.ts) recognises, in case this process dies before the link.
    const tmp = path.join(out.root, `.${path.basename(file)}.tmp-${process.pid}-0`);
    withFsErrors(tmp, 'taking the model_dir lock', () => fs.writeFileSync(tmp, json));
    try {
      for (let attempt = 0; ; attempt++) {
        if (tryCreate(tmp, file, json)) return new ModelDirLock(file, owner);
        const held = readOwner(file);
        if (!held) continue; // released between our attempt and the read: try again
        const inUse = () => new UserError(`model_dir ${out.root} is in use by ${describe(held)}; wait for it to end or choose another --model-dir (if no csrun run is ${held.host === os.hostname() ? `pid ${held.pid}` : `on host ${held.host}`}, remove ${file})`);
        if (held.host !== os.hostname() || pidAlive(held.pid) || attempt >= 3) throw inUse();
        // Stale: move it aside under a name of ours (atomic, so only one of several racing takers gets
        // this file), check that what we moved is still the dead owner's, and drop it.
        const aside = path.join(out.root, `.${path.basename(file)}.tmp-${process.pid}-1`); // removeStaleTemps-recognisable too
        try {
          fs.renameSync(file, aside);
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue;
          throw fsError(e, file, 'taking over the stale model_dir lock');
        }
        const moved = readOwner(aside);
        if (moved && moved.pid !== held.pid && pidAlive(moved.pid)) {
          // Another taker won the race and we moved its fresh lock: put it back and give way.
          tryCreate(aside, file, '');
          fs.rmSync(aside, { force: true });
          throw new UserError(`model_dir ${out.root} is in use by ${describe(moved)}; wait for it to end or choose another --model-dir`);
        }
        fs.rmSync(aside, { force: true });
        warn(`model_dir ${out.root}: took over the lock of ${describe(held)}, which no longer runs (it was killed)`);
      }
    } finally {
      fs.rmSync(tmp, { force: true });
    }
  }

  /** Removes the lock file if it is still this process's. Idempotent; also run at process exit. */
  release(): void {
    if (this.released) return;
    this.released = true;
    process.off('exit', this.onExit);
    try {
      const o = readOwner(this.file);
      if (o && o.pid === this.owner.pid && o.host === this.owner.host && o.started === this.owner.started) fs.rmSync(this.file, { force: true });
    } catch {
      // A lock that cannot be read any more is not ours to remove.
    }
  }
}

/**
 * Creates `file` as a hard link of `tmp` (atomic, complete content); where hard links are not supported,
 * writes `json` with O_EXCL. @returns false when `file` exists. @throws UserError for other faults.
 */
function tryCreate(tmp: string, file: string, json: string): boolean {
  try {
    fs.linkSync(tmp, file);
    return true;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return false;
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP') throw fsError(e, file, 'taking the model_dir lock');
  }
  try {
    fs.writeFileSync(file, json || fs.readFileSync(tmp), { flag: 'wx' });
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw fsError(e, file, 'taking the model_dir lock');
  }
}
