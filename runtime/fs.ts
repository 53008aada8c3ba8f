/**
 * Crash-safe file writes and filesystem errors as one-line UserErrors, the one home for both: a reader (or
 * a crash at any moment) sees the old file or the new one, never a partial write. Used for checkpoints
 * (runtime/checkpoint.ts), compile outputs and everything the host writes into model_dir.
 *
 * Temp files are named `.<name>.tmp-<pid>-<n>` in the target's directory, so that {@link removeStaleTemps}
 * can tell those of dead writers (a `kill -9` between open and rename) from those of live ones.
 */
import fs from 'node:fs';
import path from 'node:path';
import { UserError } from './errors.ts';

/** errno codes that are faults of the user's environment (paths, permissions, disk), not csrun bugs. */
const USER_FS_CODES = new Set(['ENOSPC', 'EDQUOT', 'EACCES', 'EPERM', 'EROFS', 'ENOTDIR', 'EEXIST', 'ENOENT', 'EISDIR', 'ENAMETOOLONG', 'ELOOP', 'EMFILE', 'EBUSY', 'EIO']);

/** True for a Node filesystem error (`code` + `syscall`) whose cause lies with the user's environment. */
export function isUserFsError(e: unknown): e is NodeJS.ErrnoException {
  const c = (e as NodeJS.ErrnoException)?.code;
  return typeof c === 'string' && USER_FS_CODES.has(c) && typeof (e as NodeJS.ErrnoException).syscall === 'string';
}

/** `n` bytes as "12.3 MB". */
function mb(n: number): string {
  return `${(n / 1e6).toFixed(1)} MB`;
}

/** What csrun was doing, by the syscall of the error (for errors caught far from their call). */
const DOING: Record<string, string> = { mkdir: 'creating directory', open: 'opening', write: 'writing', rename: 'renaming to', unlink: 'removing', rm: 'removing', rmdir: 'removing', scandir: 'reading directory', read: 'reading', copyfile: 'copying to', stat: 'reading' };

/** The nearest existing ancestor of `p` (or `p` itself), and whether it is a directory. */
function nearestExisting(p: string): { at: string; isDir: boolean } | undefined {
  for (let q = path.resolve(p); ; q = path.dirname(q)) {
    try {
      return { at: q, isDir: fs.statSync(q).isDirectory() };
    } catch {
      if (path.dirname(q) === q) return undefined;
    }
  }
}

/**
 * A filesystem error as one UserError line: what csrun was doing, the path, the cause in words and the fix.
 * ENOSPC states the free space of the file system (fs.statfsSync).
 * @param e      the error thrown by node:fs.
 * @param target the path csrun was writing or reading (default: the error's own path).
 * @param doing  what csrun was doing, e.g. "writing checkpoint" (default: from the error's syscall).
 * @returns a UserError (with `e` as cause) for the codes of {@link isUserFsError}, else `e` unchanged.
 */
export function fsError(e: unknown, target?: string, doing?: string): unknown {
  if (e instanceof UserError || !isUserFsError(e)) return e;
  const p = target ?? e.path ?? '?';
  const ctx = `${doing ?? DOING[e.syscall!] ?? e.syscall} '${p}'`;
  let why: string;
  switch (e.code) {
    case 'ENOSPC':
    case 'EDQUOT': {
      let free = '';
      try {
        const st = fs.statfsSync(nearestExisting(path.dirname(p))?.at ?? '/');
        free = ` (${mb(st.bavail * st.bsize)} free)`;
      } catch {
        // statfs is unavailable: leave the free space out.
      }
      why = `no space left on the device${free}; free some space or choose another directory (--model-dir)`;
      break;
    }
    case 'EACCES':
    case 'EPERM':
    case 'EROFS':
      why = `permission denied (the directory is read-only or not yours); choose a writable directory`;
      break;
    case 'ENOTDIR':
    case 'EEXIST': {
      const n = nearestExisting(e.code === 'EEXIST' ? (e.path ?? p) : path.dirname(e.path ?? p));
      why = n && !n.isDir ? `'${n.at}' is a file, not a directory; remove it or choose another path` : `${e.code === 'EEXIST' ? 'the path exists and is not a directory' : 'a part of the path is not a directory'}; choose another path`;
      break;
    }
    case 'ENOENT':
      why =
        e.syscall === 'mkdir' && e.path
          ? `'${e.path}' cannot be created in '${path.dirname(e.path)}' (not a writable file system); choose another directory`
          : `'${path.dirname(p)}' does not exist; create it or choose another path`;
      break;
    case 'EISDIR':
      why = 'it is a directory; give a file path';
      break;
    default:
      why = `${e.code} (${e.syscall}); check the path and the device`;
  }
  return new UserError(`${ctx}: ${why}`, { cause: e });
}

/**
 * Runs a filesystem operation, turning its environment faults into one-line UserErrors ({@link fsError}).
 * @throws UserError naming `target` and `doing`; other errors unchanged.
 */
export function withFsErrors<T>(target: string, doing: string, f: () => T): T {
  try {
    return f();
  } catch (e) {
    throw fsError(e, target, doing);
  }
}

/**
 * Creates directory `dir` and its parents (mkdir -p), one component at a time: Node's own
 * `mkdirSync(dir, { recursive: true })` loops forever under /proc (ENOENT on a directory whose parent
 * exists), which hung `--model-dir /proc/x`.
 * @throws UserError naming `dir` when it is a file, lies under a file, is read-only or cannot exist
 *   (e.g. under /proc).
 */
export function ensureDir(dir: string, doing = 'creating directory'): void {
  withFsErrors(dir, doing, () => {
    const missing: string[] = [];
    let q = path.resolve(dir);
    while (!fs.existsSync(q) && path.dirname(q) !== q) {
      missing.push(q);
      q = path.dirname(q);
    }
    if (!missing.length && !fs.statSync(q).isDirectory()) throw new UserError(`${doing} '${dir}': it is a file, not a directory; remove it or choose another path`);
    for (const m of missing.reverse()) {
      try {
        fs.mkdirSync(m);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST' || !fs.statSync(m).isDirectory()) throw e;
      }
    }
  });
}

let tmpCounter = 0;
const TMP = /^\..+\.tmp-(\d+)-\d+$/;

/** A fault of {@link injectedFault}. */
type Fault = { kind: 'enospc' } | { kind: 'slow'; ms: number };

/**
 * Fault injection for tests (docs/design.md §5), read from the environment variable `CSRUN_FS_FAULT` on
 * every {@link writeFileAtomic}: a comma-separated list of
 * - `enospc:<name>`: writing a file whose base name contains `<name>` fails with ENOSPC after half of its
 *   bytes, as on a full disk;
 * - `slow:<ms>[:<name>]`: such a write (every write without `<name>`) pauses `<ms>` ms after half of its
 *   bytes, with the temp file half written: the window in which a kill test stops csrun mid-checkpoint.
 * Unset (the normal case), writes are not touched.
 */
function injectedFault(file: string): Fault | undefined {
  const spec = process.env.CSRUN_FS_FAULT;
  if (!spec) return undefined;
  const name = path.basename(file);
  for (const f of spec.split(',')) {
    const [kind, a, b] = f.split(':');
    if (kind === 'enospc' && a && name.includes(a)) return { kind };
    if (kind === 'slow' && Number(a) > 0 && (!b || name.includes(b))) return { kind, ms: Number(a) };
  }
  return undefined;
}

/**
 * A fresh temp file name beside `file`: `.<name>.tmp-<pid>-<n>`, the pattern {@link removeStaleTemps}
 * recognises, for writers that stream into a temp file and rename it over `file` when done.
 */
export function tempPathFor(file: string): string {
  return path.join(path.dirname(file), `.${path.basename(file)}.tmp-${process.pid}-${tmpCounter++}`);
}

/**
 * Writes `data` to `file` atomically: a temp file in the same directory (opened O_EXCL), every byte written
 * (a write that makes no progress is an error, never a truncated file), fsync, rename, fsync of the
 * directory (skipped where the platform does not support it; the rename is still atomic). On any failure
 * the temp file is removed and `file` keeps its previous content. The directory must exist. Faults can be
 * injected for tests ({@link injectedFault}).
 * @param doing what is being written, for the error (default "writing").
 * @throws UserError naming `file` for a full disk (with the free space), a read-only or missing directory,
 *   a file where a directory should be, or a short write.
 */
export function writeFileAtomic(file: string, data: Uint8Array | string, doing = 'writing'): void {
  const tmp = tempPathFor(file);
  const bytes = typeof data === 'string' ? Buffer.from(data) : data;
  let fd: number | undefined;
  try {
    fd = fs.openSync(tmp, 'wx');
    const write = (from: number, to: number) => {
      for (let off = from; off < to; ) {
        const n = fs.writeSync(fd!, bytes, off, to - off);
        if (!(n > 0)) throw new UserError(`${doing} '${file}': short write (${off} of ${bytes.length} bytes written; is the disk full?); the previous file is unchanged`);
        off += n;
      }
    };
    const fault = injectedFault(file);
    const half = fault ? Math.floor(bytes.length / 2) : bytes.length;
    write(0, half);
    if (fault?.kind === 'enospc') throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC', errno: -28, syscall: 'write', path: tmp });
    if (fault?.kind === 'slow') Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, fault.ms);
    write(half, bytes.length);
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fd = undefined;
    fs.renameSync(tmp, file);
  } catch (e) {
    // Already failing (and the temp file may never have existed): the first error is the one to report.
    try {
      if (fd !== undefined) fs.closeSync(fd);
    } catch {}
    try {
      fs.rmSync(tmp, { force: true });
    } catch {}
    throw fsError(e, file, doing);
  }
  try {
    const dfd = fs.openSync(path.dirname(file), 'r');
    try {
      fs.fsyncSync(dfd);
    } finally {
      fs.closeSync(dfd);
    }
  } catch {
    // Directory fsync is not supported everywhere; the rename is still atomic.
  }
}

/**
 * Writes `value` as JSON (2-space indented unless `compact`, newline-terminated) to `file` atomically,
 * creating the directory if needed.
 * @throws UserError as {@link writeFileAtomic} and {@link ensureDir}.
 */
export function writeJsonAtomic(file: string, value: unknown, opts: { compact?: boolean; doing?: string } = {}): void {
  ensureDir(path.dirname(file));
  writeFileAtomic(file, (opts.compact ? JSON.stringify(value) : JSON.stringify(value, null, 2)) + '\n', opts.doing);
}

/** True when process `pid` is alive on this host (signal 0; EPERM means alive but not ours). */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Removes the temp files that dead writers of {@link writeFileAtomic} left in `dir` and its subdirectories
 * (a kill between open and rename: checkpoints, compile outputs, sim reports); temp files of live
 * processes are kept.
 * @returns the paths removed, relative to `dir`.
 */
export function removeStaleTemps(dir: string): string[] {
  let names: string[];
  try {
    names = fs.readdirSync(dir, { recursive: true }) as string[];
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const n of names) {
    const m = TMP.exec(path.basename(n));
    if (!m || Number(m[1]) === process.pid || pidAlive(Number(m[1]))) continue;
    fs.rmSync(path.join(dir, n), { force: true });
    removed.push(n);
  }
  return removed;
}
