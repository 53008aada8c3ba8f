/**
 * The `csrun` command line (commander). Commands are named after Cerebras run.py modes; each lives in
 * `host/commands/<name>.ts` and exports `register(program)`.
 *
 * `csrun run …` (the modelzoo's run.py flags) and snake_case flag spellings are rewritten first
 * (host/commands/run.ts).
 *
 * Exit codes: 0 success, 1 bad input ({@link UserError}: one line on stderr naming file/key/layer/shape),
 * 2 internal error (stack printed), 130 / 143 training stopped by SIGINT / SIGTERM after a checkpoint
 * (host/stop-signals.ts). `--verbose` prints the stack for every error.
 */
import { Command, CommanderError } from 'commander';
import { UserError } from '../runtime/errors.ts';
import { fsError } from '../runtime/fs.ts';
import { COMMANDS } from './commands/index.ts';
import { StoppedBySignal } from './stop-signals.ts';
import { normalizeFlags, RUN_HELP, runPyToCsrun } from './commands/run.ts';

/** Builds the commander program with every command registered. */
export function buildProgram(): Command {
  const program = new Command('csrun')
    .description('Compile, place and train tf.estimator-style models on a simulated wafer-scale engine')
    .option('--verbose', 'print stack traces and debug output')
    .showSuggestionAfterError(true)
    .exitOverride();
  for (const register of COMMANDS) register(program);
  program.addHelpText('after', RUN_HELP);
  return program;
}

/**
 * Runs the CLI.
 * @param argv full `process.argv` (node, script, args...).
 * @returns the process exit code.
 */
export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  const verbose = argv.includes('--verbose');
  try {
    // run.py spellings: `csrun run MODEL_DIR --mode …` and snake_case flags (host/commands/run.ts).
    const args = argv.slice(2);
    const rewritten = args[0] === 'run' ? runPyToCsrun(args.slice(1), (m) => process.stderr.write(`csrun: warning: ${m}\n`)) : normalizeFlags(args);
    await program.parseAsync([...argv.slice(0, 2), ...rewritten]);
    return 0;
  } catch (caught) {
    // A filesystem fault of the user's environment (full disk, read-only or missing directory) is bad
    // input, wherever it was thrown.
    const e = fsError(caught);
    if (e instanceof CommanderError) {
      // commander already printed its message (unknown option, missing argument, --help, ...).
      return e.exitCode === 0 ? 0 : 1;
    }
    if (e instanceof StoppedBySignal) {
      process.stderr.write(`csrun: ${e.message}\n`);
      return e.exitCode;
    }
    if (e instanceof UserError) {
      process.stderr.write(`csrun: error: ${e.message}\n`);
      if (verbose) process.stderr.write(`${e.stack}\n`);
      return 1;
    }
    process.stderr.write(`csrun: internal error: ${(e as Error)?.stack ?? String(e)}\n`);
    return 2;
  }
}
