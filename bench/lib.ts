/**
 * Helpers shared by the benchmarks: running a peer in its own process while sampling its peak resident
 * memory, and formatting a side-by-side table.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { formatTable } from '../compiler/report.ts';

/** Result of {@link runMeasured}. */
export interface ProcessRun {
  code: number | null;
  stdout: string;
  stderr: string;
  /** Peak resident set size, bytes (VmHWM of /proc/<pid>/status, sampled every 100 ms; 0 if unavailable). */
  peakRssBytes: number;
  wallSeconds: number;
}

function vmHwm(pid: number): number {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/**
 * Runs a command to completion, capturing its output and its peak RSS (threads included: VmHWM covers the
 * whole process).
 */
export function runMeasured(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<ProcessRun> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const p = spawn(cmd, args, { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let peak = 0;
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    const timer = setInterval(() => (peak = Math.max(peak, vmHwm(p.pid!))), 100);
    p.on('error', (e) => {
      clearInterval(timer);
      reject(e);
    });
    p.on('close', (code) => {
      clearInterval(timer);
      resolve({ code, stdout, stderr, peakRssBytes: peak, wallSeconds: (performance.now() - t0) / 1000 });
    });
  });
}

/** A plain text table, first column left-aligned, the others right-aligned. */
export function table(head: string[], rows: string[][]): string {
  return formatTable(head, rows, head.map((_, i) => i > 0));
}

/** Megabytes with one decimal. */
export function mb(bytes: number): string {
  return bytes > 0 ? `${(bytes / 2 ** 20).toFixed(0)} MB` : 'n/a';
}
