/**
 * Crash-safe file writes, the one home for them: a reader (or a crash at any moment) sees the old file or
 * the new one, never a partial write. Used for checkpoints (runtime/checkpoint.ts) and everything the host
 * writes into model_dir.
 */
import fs from 'node:fs';
import path from 'node:path';

/**
 * Writes `data` to `file` atomically: temp file in the same directory, fsync, rename, fsync of the
 * directory (skipped where the platform does not support it; the rename is still atomic).
 * The directory must exist.
 */
export function writeFileAtomic(file: string, data: Uint8Array | string): void {
  const dir = path.dirname(file);
  const tmp = path.join(dir, `.${path.basename(file)}.tmp-${process.pid}-${Date.now()}`);
  const fd = fs.openSync(tmp, 'w');
  try {
    fs.writeSync(fd, typeof data === 'string' ? Buffer.from(data) : data);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, file);
  try {
    const dfd = fs.openSync(dir, 'r');
    fs.fsyncSync(dfd);
    fs.closeSync(dfd);
  } catch {
    // Directory fsync is not supported everywhere; the rename is still atomic.
  }
}

/**
 * Writes `value` as JSON (2-space indented unless `compact`, newline-terminated) to `file` atomically,
 * creating the directory if needed.
 */
export function writeJsonAtomic(file: string, value: unknown, opts: { compact?: boolean } = {}): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  writeFileAtomic(file, (opts.compact ? JSON.stringify(value) : JSON.stringify(value, null, 2)) + '\n');
}
