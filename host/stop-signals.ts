/**
 * SIGINT (Ctrl-C) and SIGTERM (what schedulers, `kill` and `docker stop` send) during training
 * (docs/design.md §4): the first one lets the current step finish, the checkpoint saver writes a checkpoint
 * at that step, and csrun exits with 128 + the signal number (130 for SIGINT, 143 for SIGTERM, the shell's
 * convention) after a line saying so. A second signal exits at once with its code.
 */
import os from 'node:os';
import path from 'node:path';

/** The signals that stop training. */
export type StopSignal = 'SIGINT' | 'SIGTERM';

/** Exit code after a stop signal: 128 + its number (SIGINT 2 → 130, SIGTERM 15 → 143). */
export function signalExitCode(sig: StopSignal): number {
  return 128 + os.constants.signals[sig];
}

/**
 * The stop request of one training run: listens for SIGINT and SIGTERM from {@link StopSignals.install}
 * until `uninstall()`.
 */
export class StopSignals {
  /** The first stop signal received, if any. */
  received?: StopSignal;
  private readonly handlers = new Map<StopSignal, () => void>();

  /**
   * Installs the handlers (replacing Node's default of exiting at once).
   * @param log where the "finishing the current step" line goes.
   */
  static install(log: (line: string) => void): StopSignals {
    const s = new StopSignals();
    for (const sig of ['SIGINT', 'SIGTERM'] as const) {
      const h = () => {
        if (s.received) {
          process.stderr.write(`csrun: ${sig} again: exiting at once (${signalExitCode(sig)}) without a checkpoint\n`);
          process.exit(signalExitCode(sig));
        }
        s.received = sig;
        log(`${sig}: finishing the current step and saving a checkpoint (send it again to exit at once)`);
      };
      s.handlers.set(sig, h);
      process.on(sig, h);
    }
    return s;
  }

  /** Removes the handlers (Node's default behaviour returns). */
  uninstall(): void {
    for (const [sig, h] of this.handlers) process.off(sig, h);
    this.handlers.clear();
  }
}

/**
 * Thrown by a command after training stopped for a signal: the CLI prints its message on stderr and exits
 * with `exitCode` (host/cli.ts).
 */
export class StoppedBySignal extends Error {
  readonly exitCode: number;
  /**
   * @param sig        the signal received.
   * @param step       the global step reached.
   * @param checkpoint the checkpoint of that step (written on the signal, or the one resumed from).
   */
  constructor(
    readonly signal: StopSignal,
    step: number,
    checkpoint?: string,
  ) {
    super(`stopped by ${signal} at step ${step} (${checkpoint ? `checkpoint ${path.basename(checkpoint)}` : 'no checkpoint: no step ran'}); exit ${signalExitCode(signal)}, run the same command to resume`);
    this.exitCode = signalExitCode(signal);
  }
}
