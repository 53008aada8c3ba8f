/**
 * Command-line options shared by the csrun commands, defined and parsed once: the MODEL_DIR argument with
 * `--params` / `--model-dir`, `--machine`, `--mode`, and integer options.
 */
import type { Command } from 'commander';
import { DEFAULT_MACHINE, loadMachine, type Machine } from '../../compiler/machine.ts';
import { UserError } from '../../runtime/errors.ts';
import type { Mode } from '../../runtime/graph.ts';
import type { Params } from '../../runtime/params.ts';

const MODES = ['train', 'eval', 'infer'] as const;

/**
 * The mode of a `--mode` option, accepting Cerebras and tf.estimator spellings (predict, inference → infer).
 * @throws UserError for anything else.
 */
export function parseMode(m: string | undefined): Mode {
  const s = (m ?? 'train').toLowerCase();
  const alias: Record<string, Mode> = { train: 'train', eval: 'eval', infer: 'infer', predict: 'infer', inference: 'infer' };
  const mode = alias[s];
  if (!mode) throw new UserError(`--mode '${m}' is not one of ${MODES.join(', ')} (or predict)`);
  return mode;
}

/**
 * Parses an integer option `--<name>`; undefined stays undefined.
 * @param min the smallest value allowed.
 * @throws UserError naming the option when `v` is not an integer ≥ `min`.
 */
export function intOption(name: string, v: string | undefined, min: number): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new UserError(`--${name} must be an integer ≥ ${min}, got '${v}'`);
  return n;
}

/** Adds the `<model_dir>` argument and `--params FILE`, `--model-dir DIR`. */
export function modelDirArguments(cmd: Command): Command {
  return cmd
    .argument('<model_dir>', 'model directory (model.ts, data.ts, configs/params.yaml)')
    .option('--params <file>', 'params file (default MODEL_DIR/configs/params.yaml)')
    .option('--model-dir <dir>', 'output directory (overrides runconfig.model_dir)');
}

/** Adds `--machine NAME|PATH`. */
export function machineOption(cmd: Command): Command {
  return cmd.option('--machine <name|path>', `machine: wse1, wse2, wse3 or a machine YAML (default: runconfig.machine or ${DEFAULT_MACHINE})`);
}

/**
 * The machine of a run: `--machine` (a path resolves against the working directory), else
 * `runconfig.machine` (a path resolves against the model directory `dir`), else the default machine.
 * @throws UserError as loadMachine for an unknown name or a bad machine file.
 */
export function resolveMachine(cli: string | undefined, md: { params: Params; dir: string }): Machine {
  return loadMachine(cli ?? md.params.runconfig.machine ?? DEFAULT_MACHINE, cli ? process.cwd() : md.dir);
}
