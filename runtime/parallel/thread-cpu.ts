/**
 * CPU time of the calling thread (main thread or worker thread), in milliseconds: what a pipeline costs,
 * independently of other threads and processes competing for the cores (a wall-clock or event-loop
 * measurement counts the time a thread waits on the run queue too).
 *
 * Linux: the first field of `/proc/thread-self/schedstat`, nanoseconds the thread has run on a CPU (the
 * kernel's scheduler statistics, `Documentation/scheduler/sched-stats.rst`). Elsewhere, or where /proc is
 * not readable: the event loop's busy time (`performance.eventLoopUtilization().active`), which equals CPU
 * time on an idle machine.
 */
import fs from 'node:fs';
import { performance } from 'node:perf_hooks';

let procReadable: boolean | undefined;

/** Milliseconds of CPU this thread has used since it started (see the module comment for the source). */
export function threadCpuMs(): number {
  if (procReadable !== false) {
    try {
      const ns = Number(fs.readFileSync('/proc/thread-self/schedstat', 'utf8').split(' ')[0]);
      if (Number.isFinite(ns)) {
        procReadable = true;
        return ns / 1e6;
      }
    } catch {
      // not Linux, or /proc hidden
    }
    procReadable = false;
  }
  return performance.eventLoopUtilization().active;
}
