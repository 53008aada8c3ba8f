/**
 * Cerebras modelzoo `run.py` compatibility:
 *
 *     csrun run MODEL_DIR --mode train|eval|eval_all|train_and_eval|predict [-p PARAMS] [-o MODEL_DIR_OUT]
 *                         [--validate_only | --compile_only] [--checkpoint_path F] [--steps N] [--max_steps N]
 *
 * maps onto the subcommands (`--mode train_and_eval` → `csrun train_and_eval`, `--validate_only` →
 * `csrun compile --validate-only`, `--compile_only` → `csrun compile`). Every command also takes the
 * snake_case spelling of its flags (`--model_dir`, `--max_steps`, …; {@link normalizeFlags}), so that modelzoo
 * shell history works. run.py flags for Cerebras hardware that csrun cannot honour ({@link IGNORED_FLAGS}) get
 * one warning each and are dropped.
 */
import { UserError } from '../../runtime/errors.ts';

/** run.py modes and the csrun command each maps onto. */
export const RUN_MODES: Record<string, string> = {
  train: 'train',
  eval: 'eval',
  eval_all: 'eval_all',
  train_and_eval: 'train_and_eval',
  predict: 'predict',
};

/** run.py flags csrun accepts and ignores (one warning each): hardware and cluster settings. The value says
 * whether the flag takes a value. */
export const IGNORED_FLAGS: Record<string, boolean> = {
  '--cs_ip': true,
  '--cs-ip': true,
  '--multireplica': false,
  '--device': true,
  '--mount_dirs': true,
  '--python_paths': true,
  '--num_csx': true,
  '--num_workers_per_csx': true,
  '--job_labels': true,
  '--mgmt_address': true,
  '--credentials_path': true,
  '--compile_dir': true,
};

/**
 * `--a_b` → `--a-b` for every long flag (the part before `=`), leaving values and short flags alone;
 * stops at `--`.
 */
export function normalizeFlags(args: readonly string[]): string[] {
  const out: string[] = [];
  let rest = false;
  for (const a of args) {
    if (rest || !a.startsWith('--') || a === '--') {
      if (a === '--') rest = true;
      out.push(a);
      continue;
    }
    const eq = a.indexOf('=');
    const name = eq < 0 ? a : a.slice(0, eq);
    out.push(name.slice(0, 2) + name.slice(2).replace(/_/g, '-') + (eq < 0 ? '' : a.slice(eq)));
  }
  return out;
}

/**
 * Rewrites the arguments after `run` into a csrun command line.
 * @param args the arguments after `run` (MODEL_DIR and run.py flags).
 * @param warn receives one message per ignored flag.
 * @returns the csrun arguments (command first), snake_case flags normalised.
 * @throws UserError without `--mode`, for an unknown mode, or for `--validate_only` with `--compile_only`.
 */
export function runPyToCsrun(args: readonly string[], warn: (msg: string) => void): string[] {
  let mode: string | undefined;
  let validateOnly = false;
  let compileOnly = false;
  const rest: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    const [name, inline] = a.startsWith('--') && a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a, undefined];
    const value = () => inline ?? args[++i];
    if (name === '--mode' || name === '-m') mode = value();
    else if (name === '-p') rest.push('--params', value());
    else if (name === '-o') rest.push('--model-dir', value());
    else if (name === '--validate_only' || name === '--validate-only') validateOnly = true;
    else if (name === '--compile_only' || name === '--compile-only') compileOnly = true;
    else if (name in IGNORED_FLAGS) {
      warn(`run.py flag ${name} is a Cerebras system setting; csrun ignores it`);
      if (IGNORED_FLAGS[name] && inline === undefined) i++;
    } else rest.push(a);
  }
  if (validateOnly && compileOnly) throw new UserError('csrun run: --validate_only and --compile_only exclude each other');
  if (validateOnly || compileOnly) {
    const m = mode === undefined || mode === 'train_and_eval' ? 'train' : mode === 'eval_all' ? 'eval' : mode;
    return normalizeFlags(['compile', ...rest, '--mode', m, ...(validateOnly ? ['--validate-only'] : [])]);
  }
  if (mode === undefined) throw new UserError(`csrun run: --mode is required (${Object.keys(RUN_MODES).join(', ')}), as for the modelzoo's run.py`);
  const cmd = RUN_MODES[mode];
  if (!cmd) throw new UserError(`csrun run: --mode '${mode}' is not one of ${Object.keys(RUN_MODES).join(', ')}`);
  return normalizeFlags([cmd, ...rest]);
}

/** The help text of `csrun run`, listed after the commands in `csrun --help`. */
export const RUN_HELP = `
Cerebras modelzoo run.py command line (rewritten onto the commands above):
  csrun run MODEL_DIR --mode train|eval|eval_all|train_and_eval|predict [-p PARAMS] [-o MODEL_DIR_OUT]
                      [--validate_only | --compile_only] [--checkpoint_path F] [--steps N] [--max_steps N]
Every flag may also be spelt snake_case (--model_dir, --max_steps, --checkpoint_path, ...).
`;
