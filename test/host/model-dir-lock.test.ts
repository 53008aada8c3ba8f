/**
 * One owner per model_dir (host/model-dir-lock.ts): in-process acquire/refuse/take-over/release, and two
 * concurrent `csrun train` runs on one model_dir through the real CLI.
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ModelDirLock } from '../../host/model-dir-lock.ts';
import { ModelDirLayout } from '../../host/model-dir.ts';
import { UserError } from '../../runtime/errors.ts';

const ROOT = path.resolve(__dirname, '../..');
const CSRUN = path.join(ROOT, 'bin/csrun.js');

/** A pid that ran and has exited (so it is dead on this host). */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', '0']);
  return r.pid!;
}

const tmpLayout = () => new ModelDirLayout(path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'csrun-lock-')), 'out'));

describe('ModelDirLock', () => {
  it('writes the owner record, refuses a second owner while held, and removes the file on release', () => {
    const out = tmpLayout();
    const a = ModelDirLock.acquire(out, { command: 'csrun train a' });
    const rec = JSON.parse(fs.readFileSync(out.lock, 'utf8'));
    expect(rec).toMatchObject({ pid: process.pid, host: os.hostname(), command: 'csrun train a' });
    expect(Date.parse(rec.started)).not.toBeNaN();
    let err: unknown;
    try {
      ModelDirLock.acquire(out, { command: 'csrun train b' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(UserError);
    expect((err as Error).message).toMatch(new RegExp(`model_dir .*out is in use by pid ${process.pid} since ${rec.started.replace(/[.]/g, '\\.')} \\(csrun train a\\)`));
    a.release();
    expect(fs.existsSync(out.lock)).toBe(false);
    ModelDirLock.acquire(out).release(); // free again
    expect(fs.readdirSync(out.root)).toEqual([]); // no temp file left
  });

  it('takes over a stale lock (dead pid on this host) with a warning naming it', () => {
    const out = tmpLayout();
    fs.mkdirSync(out.root, { recursive: true });
    const pid = deadPid();
    fs.writeFileSync(out.lock, JSON.stringify({ pid, host: os.hostname(), started: '2026-01-01T00:00:00.000Z', command: 'csrun train old' }));
    const warnings: string[] = [];
    const lock = ModelDirLock.acquire(out, { warn: (l) => warnings.push(l) });
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(new RegExp(`took over the lock of pid ${pid} since 2026-01-01T00:00:00.000Z \\(csrun train old\\), which no longer runs`));
    expect(JSON.parse(fs.readFileSync(out.lock, 'utf8')).pid).toBe(process.pid);
    lock.release();
    expect(fs.readdirSync(out.root)).toEqual([]);
  });

  it('never takes over the lock of another host, and names a malformed lock file', () => {
    const out = tmpLayout();
    fs.mkdirSync(out.root, { recursive: true });
    fs.writeFileSync(out.lock, JSON.stringify({ pid: deadPid(), host: 'elsewhere', started: 'T', command: '' }));
    expect(() => ModelDirLock.acquire(out)).toThrow(/in use by pid \d+ on host elsewhere since T; .*if no csrun run is on host elsewhere, remove .*csrun\.lock/);
    fs.writeFileSync(out.lock, 'garbage');
    expect(() => ModelDirLock.acquire(out)).toThrow(/csrun\.lock: not a csrun lock file/);
  });

  it('does not remove a lock that another process took after this one lost it', () => {
    const out = tmpLayout();
    const a = ModelDirLock.acquire(out);
    const other = { pid: process.pid, host: os.hostname(), started: 'later', command: 'x' };
    fs.writeFileSync(out.lock, JSON.stringify(other));
    a.release();
    expect(JSON.parse(fs.readFileSync(out.lock, 'utf8'))).toEqual(other);
  });
});

/** A copy of the tiny model dir outside the repository, csrun linked into its node_modules. */
function modelDir(): { dir: string; out: string } {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'csrun-lock-cli-'));
  fs.mkdirSync(path.join(base, 'node_modules'));
  fs.symlinkSync(ROOT, path.join(base, 'node_modules', 'csrun'), 'dir');
  const dir = path.join(base, 'model');
  fs.cpSync(path.join(ROOT, 'test/fixtures/estimator-tiny'), dir, { recursive: true, filter: (f) => !f.includes('model_dir') });
  return { dir, out: path.join(base, 'out') };
}

describe('csrun train: one owner per model_dir', () => {
  it('refuses a second concurrent train on the same model_dir, naming the owner pid; the first is unaffected', async () => {
    const { dir, out } = modelDir();
    const a = spawn(process.execPath, [CSRUN, 'train', dir, '--max-steps', '100000', '--model-dir', out, '--no-progress'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    await new Promise<void>((resolve, reject) => {
      a.stdout.on('data', (d) => (stdout += d) && /Training from step/.test(stdout) && resolve());
      a.on('close', () => reject(new Error(`first run ended early: ${stdout}`)));
    });
    const b = spawnSync(process.execPath, [CSRUN, 'train', dir, '--max-steps', '5', '--model-dir', out], { encoding: 'utf8', timeout: 60_000 });
    a.kill('SIGINT');
    const codeA = await new Promise<number | null>((r) => a.on('close', r));
    expect(b.status).toBe(1);
    const lines = b.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(new RegExp(`^csrun: error: model_dir ${out} is in use by pid ${a.pid} since \\S+ \\(csrun train ${dir} --max-steps 100000`));
    expect(b.stdout).not.toMatch(/Training from step|Saved checkpoint/);
    expect(codeA).toBe(130);
    expect(fs.existsSync(path.join(out, 'csrun.lock'))).toBe(false);
  });

  it('takes over the lock of a killed run with a warning, and trains', () => {
    const { dir, out } = modelDir();
    fs.mkdirSync(out);
    const pid = deadPid();
    fs.writeFileSync(path.join(out, 'csrun.lock'), JSON.stringify({ pid, host: os.hostname(), started: '2026-01-01T00:00:00.000Z', command: 'csrun train' }));
    const r = spawnSync(process.execPath, [CSRUN, 'train', dir, '--max-steps', '2', '--model-dir', out], { encoding: 'utf8', timeout: 60_000 });
    expect(r.status).toBe(0);
    expect(r.stderr).toMatch(new RegExp(`^csrun: warning: model_dir ${out}: took over the lock of pid ${pid} since 2026-01-01T00:00:00.000Z \\(csrun train\\), which no longer runs`));
    expect(r.stdout).toMatch(/Finished training at step 2/);
    expect(fs.existsSync(path.join(out, 'csrun.lock'))).toBe(false);
  });
});
