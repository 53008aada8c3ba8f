import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ensureDir, fsError, removeStaleTemps, writeFileAtomic, writeJsonAtomic } from '../../runtime/fs.ts';
import { UserError } from '../../runtime/errors.ts';
import { readIndex, saveCheckpoint, readCheckpoint, latestCheckpoint, type Checkpoint } from '../../runtime/checkpoint.ts';
import { userErrorMessage } from '../helpers/errors.ts';

const tmpdir = () => fs.mkdtempSync(path.join(os.tmpdir(), 'csrun-fs-'));
const errno = (code: string, syscall: string) => Object.assign(new Error(`${code}: fake`), { code, syscall });
/** The message of the UserError `f` throws (fails the test if it throws anything else or nothing). */
function userError(f: () => unknown): string {
  const message = userErrorMessage(f);
  expect(message).not.toContain('\n');
  return message;
}
const temps = (dir: string) => fs.readdirSync(dir).filter((n) => n.includes('.tmp-'));

afterEach(() => vi.restoreAllMocks());

describe('writeFileAtomic', () => {
  it('writes every byte even when the OS takes them in small chunks', () => {
    const dir = tmpdir();
    const real = fs.writeSync.bind(fs) as (fd: number, b: Uint8Array, off: number, len: number) => number;
    vi.spyOn(fs, 'writeSync').mockImplementation(((fd: number, b: Uint8Array, off: number, len: number) => real(fd, b, off, Math.min(len, 3))) as typeof fs.writeSync);
    writeFileAtomic(path.join(dir, 'a.txt'), 'hello, atomic world');
    expect(fs.readFileSync(path.join(dir, 'a.txt'), 'utf8')).toBe('hello, atomic world');
    expect(temps(dir)).toEqual([]);
  });

  it('a short write (no progress) fails with one line; the old file stays and the temp file is removed', () => {
    const dir = tmpdir();
    const f = path.join(dir, 'a.txt');
    fs.writeFileSync(f, 'old');
    const real = fs.writeSync.bind(fs) as (fd: number, b: Uint8Array, off: number, len: number) => number;
    let calls = 0;
    vi.spyOn(fs, 'writeSync').mockImplementation(((fd: number, b: Uint8Array, off: number, len: number) => (calls++ === 0 ? real(fd, b, off, 4) : 0)) as typeof fs.writeSync);
    expect(userError(() => writeFileAtomic(f, 'a much longer new content', 'writing checkpoint'))).toMatch(/^writing checkpoint '.*a\.txt': short write \(4 of 25 bytes/);
    expect(fs.readFileSync(f, 'utf8')).toBe('old');
    expect(temps(dir)).toEqual([]);
  });

  it('ENOSPC during the write names the path and the free space; the old file stays', () => {
    const dir = tmpdir();
    const f = path.join(dir, 'a.txt');
    fs.writeFileSync(f, 'old');
    vi.spyOn(fs, 'writeSync').mockImplementation(() => {
      throw errno('ENOSPC', 'write');
    });
    expect(userError(() => writeFileAtomic(f, 'new'))).toMatch(/^writing '.*a\.txt': no space left on the device \(\d+\.\d MB free\)/);
    expect(fs.readFileSync(f, 'utf8')).toBe('old');
    expect(temps(dir)).toEqual([]);
  });

  it('fsyncs the file before the rename', () => {
    const dir = tmpdir();
    const order: string[] = [];
    const fsync = fs.fsyncSync.bind(fs);
    const rename = fs.renameSync.bind(fs);
    vi.spyOn(fs, 'fsyncSync').mockImplementation((fd) => (order.push('fsync'), fsync(fd)));
    vi.spyOn(fs, 'renameSync').mockImplementation((a, b) => (order.push('rename'), rename(a, b)));
    writeFileAtomic(path.join(dir, 'a'), 'x');
    expect(order).toEqual(['fsync', 'rename', 'fsync']); // file, rename, directory
  });

  it('a read-only directory is one line naming the path', () => {
    const dir = tmpdir();
    if (process.getuid?.() !== 0) {
      fs.chmodSync(dir, 0o555);
      expect(userError(() => writeFileAtomic(path.join(dir, 'a'), 'x'))).toMatch(/permission denied/);
      fs.chmodSync(dir, 0o755);
    }
    // As root permissions are not enforced: inject the error a read-only mount gives.
    vi.spyOn(fs, 'openSync').mockImplementation(() => {
      throw errno('EROFS', 'open');
    });
    expect(userError(() => writeFileAtomic(path.join(dir, 'a'), 'x'))).toMatch(new RegExp(`^writing '${dir}/a': permission denied \\(the directory is read-only`));
  });

  it('a file where a directory should be is one line naming the file', () => {
    const dir = tmpdir();
    fs.writeFileSync(path.join(dir, 'file'), '');
    expect(userError(() => writeFileAtomic(path.join(dir, 'file', 'a.json'), 'x'))).toMatch(new RegExp(`'${dir}/file' is a file, not a directory`));
    expect(userError(() => writeJsonAtomic(path.join(dir, 'file', 'sub', 'a.json'), {}))).toMatch(new RegExp(`'${dir}/file' is a file, not a directory`));
  });
});

describe('ensureDir', () => {
  it('creates nested directories and accepts existing ones', () => {
    const dir = path.join(tmpdir(), 'a', 'b', 'c');
    ensureDir(dir);
    ensureDir(dir);
    expect(fs.statSync(dir).isDirectory()).toBe(true);
  });

  it('a path that is a file, or lies under one, is one line', () => {
    const dir = tmpdir();
    const file = path.join(dir, 'model_dir');
    fs.writeFileSync(file, 'x');
    expect(userError(() => ensureDir(file, 'creating model_dir'))).toMatch(/^creating model_dir '.*model_dir': it is a file, not a directory/);
    expect(userError(() => ensureDir(path.join(file, 'x')))).toMatch(/model_dir' is a file, not a directory/);
    expect(fs.readFileSync(file, 'utf8')).toBe('x');
  });

  it.runIf(process.platform === 'linux')('/proc/x fails at once (Node recursive mkdir loops forever there)', () => {
    expect(userError(() => ensureDir('/proc/csrun-x/y', 'creating model_dir'))).toMatch(/^creating model_dir '\/proc\/csrun-x\/y': '\/proc\/csrun-x' cannot be created in '\/proc'/);
  });
});

describe('fsError', () => {
  it('leaves errors that are not environment faults alone', () => {
    const e = new TypeError('x');
    expect(fsError(e)).toBe(e);
    expect(fsError(errno('EBADF', 'write'))).not.toBeInstanceOf(UserError);
  });
});

describe('removeStaleTemps', () => {
  it('removes temp files of dead writers only', () => {
    const dir = tmpdir();
    const dead = spawnSync(process.execPath, ['-e', '0']).pid!;
    fs.writeFileSync(path.join(dir, `.model.ckpt-5.safetensors.tmp-${dead}-0`), 'partial');
    fs.writeFileSync(path.join(dir, `.checkpoint.tmp-${process.pid}-7`), 'mine');
    fs.writeFileSync(path.join(dir, 'checkpoint'), '{}');
    expect(removeStaleTemps(dir)).toEqual([`.model.ckpt-5.safetensors.tmp-${dead}-0`]);
    expect(fs.readdirSync(dir).sort()).toEqual([`.checkpoint.tmp-${process.pid}-7`, 'checkpoint']);
  });

  it('looks into subdirectories (compile/, sim/, eval/)', () => {
    const dir = tmpdir();
    const dead = spawnSync(process.execPath, ['-e', '0']).pid!;
    fs.mkdirSync(path.join(dir, 'sim', 'eval'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'sim', 'eval', `.trace.json.tmp-${dead}-3`), 'partial');
    fs.writeFileSync(path.join(dir, 'sim', 'trace.json'), '{}');
    expect(removeStaleTemps(dir)).toEqual([path.join('sim', 'eval', `.trace.json.tmp-${dead}-3`)]);
    expect(fs.readdirSync(path.join(dir, 'sim', 'eval'))).toEqual([]);
  });
});

describe('checkpoints on a full disk', () => {
  const ckpt = (step: number): Checkpoint => ({ globalStep: step, tensors: { w: { dtype: 'F32', shape: [4], data: new Float32Array(4).fill(step) } } });

  it('a failed checkpoint write is one line; the previous checkpoint and index are intact', () => {
    const dir = tmpdir();
    saveCheckpoint(dir, ckpt(1), 1);
    const before = fs.readdirSync(dir).sort();
    const index = readIndex(dir);
    vi.spyOn(fs, 'writeSync').mockImplementation(() => {
      throw errno('ENOSPC', 'write');
    });
    expect(userError(() => saveCheckpoint(dir, ckpt(2), 1))).toMatch(/^writing checkpoint '.*model\.ckpt-2\.safetensors': no space left/);
    vi.restoreAllMocks();
    expect(fs.readdirSync(dir).sort()).toEqual(before);
    expect(readIndex(dir)).toEqual(index);
    expect(readCheckpoint(latestCheckpoint(dir)!).globalStep).toBe(1);
  });
});
