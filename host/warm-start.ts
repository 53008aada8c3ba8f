/**
 * Warm start (tf.estimator `warm_start_from` / tf.estimator.WarmStartSettings, docs/design.md §5): a training
 * run with no checkpoint in its model_dir takes some of its initial weights from another run's checkpoint.
 *
 * Semantics kept from TF (`tf.compat.v1.train.warm_start`):
 * - `ckptToInitializeFrom` is a checkpoint file or a directory (its latest checkpoint);
 * - `varsToWarmStart` as one regex selects among the trainable parameters only (batch-norm moving statistics
 *   and optimizer slots keep their fresh values); as a list of regexes it selects among every parameter and
 *   optimizer slot (`<param>/<slot>`). Each regex is matched from the start of the name, as Python's
 *   `re.match`: `'conv2d'` selects `conv2d/kernel` and `conv2d_1/bias`, `'^(?!dense)'` everything but
 *   the dense layers. Default `'.*'`;
 * - a selected variable must be in the checkpoint with the same shape (TF: "Shape of variable … doesn't
 *   match"); variables not selected keep their initializers' values;
 * - only a run that starts without a checkpoint is warm-started: once model_dir has one, training resumes
 *   from it and the settings are ignored.
 */
import fs from 'node:fs';
import path from 'node:path';
import { latestCheckpoint, readCheckpoint } from '../runtime/checkpoint.ts';
import { UserError } from '../runtime/errors.ts';
import type { NamedArray } from '../runtime/exec/store.ts';
import type { Wafer } from '../wafer-sim/wafer.ts';
import type { ModelDir } from './model-dir.ts';
import type { Session, SessionRunHook } from './hooks/session.ts';

/** tf.estimator.WarmStartSettings (camelCase); see the module comment for the semantics. */
export interface WarmStartSettings {
  /** A checkpoint file, or a model_dir whose latest checkpoint is used. */
  ckptToInitializeFrom: string;
  /** One regex (trainable parameters) or a list of regexes (every parameter and slot); default `'.*'`. */
  varsToWarmStart?: string | readonly string[];
}

/** Settings with their origin, named in errors (`runconfig.warm_start_from`, which `--warm-start-from` sets, or the
 * Estimator option `warmStartFrom`). */
export interface ResolvedWarmStart extends Required<WarmStartSettings> {
  where: string;
}

/**
 * The warm-start settings of a run: the Estimator option `warmStartFrom` (a path, relative to the working
 * directory, which warm-starts every trainable parameter as TF's string form does, or {@link WarmStartSettings}), else `runconfig.warm_start_from` / `vars_to_warm_start` of the
 * params (a relative path resolves against the model directory).
 * @returns undefined when neither is set.
 * @throws UserError naming the key for a regex that does not compile.
 */
export function warmStartSettings(md: ModelDir, option?: string | WarmStartSettings): ResolvedWarmStart | undefined {
  const rc = md.params.runconfig;
  const s: WarmStartSettings | undefined =
    typeof option === 'string' ? { ckptToInitializeFrom: option } : option ?? (rc.warm_start_from ? { ckptToInitializeFrom: path.resolve(md.dir, rc.warm_start_from), varsToWarmStart: rc.vars_to_warm_start } : undefined);
  if (!s) return undefined;
  const where = option ? 'warmStartFrom' : 'runconfig.warm_start_from';
  const vars = s.varsToWarmStart ?? (option ? '.*' : rc.vars_to_warm_start ?? '.*');
  for (const r of typeof vars === 'string' ? [vars] : vars) {
    try {
      new RegExp(r);
    } catch (e: any) {
      throw new UserError(`${where}: vars_to_warm_start regex '${r}' is invalid (${e.message})`);
    }
  }
  return { ckptToInitializeFrom: path.resolve(s.ckptToInitializeFrom), varsToWarmStart: vars, where };
}

/**
 * The checkpoint file a warm start reads: the path itself, or a directory's latest checkpoint.
 * @throws UserError naming the path when it does not exist or the directory has no checkpoint.
 */
export function warmStartCheckpoint(s: ResolvedWarmStart): string {
  const p = s.ckptToInitializeFrom;
  if (!fs.existsSync(p)) throw new UserError(`${s.where}: ${p} does not exist (a checkpoint file or a model_dir)`);
  if (!fs.statSync(p).isDirectory()) return p;
  const latest = latestCheckpoint(p);
  if (!latest) throw new UserError(`${s.where}: ${p} has no checkpoint index (train that run first, or name a .safetensors checkpoint)`);
  return latest;
}

/**
 * Names selected by `varsToWarmStart` (module comment): one regex among the trainable `params`, a list among
 * every name of `params` and `slots`. Regexes match from the start of the name (Python `re.match`).
 */
export function selectWarmStartVars(vars: string | readonly string[], params: readonly { name: string; trainable: boolean }[], slots: readonly string[]): string[] {
  const res = (typeof vars === 'string' ? [vars] : vars).map((r) => new RegExp(`^(?:${r})`));
  const pool = typeof vars === 'string' ? params.filter((p) => p.trainable).map((p) => p.name) : [...params.map((p) => p.name), ...slots];
  return pool.filter((n) => res.some((r) => r.test(n)));
}

/**
 * Warm-starts a loaded wafer: the selected parameters and slots take the checkpoint's values.
 * @returns the checkpoint read, the names warm-started (parameters and slots) and the parameters left at their
 *   fresh values.
 * @throws UserError naming the checkpoint and the variable when a selected one is missing from it or has
 *   another shape there (both shapes named), as readCheckpoint for a corrupted file.
 */
export async function warmStart(wafer: Wafer, s: ResolvedWarmStart): Promise<{ file: string; warmed: string[]; fresh: string[] }> {
  const file = warmStartCheckpoint(s);
  const ckpt = readCheckpoint(file);
  const state = await wafer.getState();
  const chosen = new Set(selectWarmStartVars(s.varsToWarmStart, wafer.graph.params, state.slots.map((a) => a.name)));
  const take = (arrays: NamedArray[]): NamedArray[] =>
    arrays
      .filter((a) => chosen.has(a.name))
      .map((a) => {
        const t = ckpt.tensors[a.name];
        if (!t) throw new UserError(`${s.where}: variable '${a.name}' is selected by vars_to_warm_start (${JSON.stringify(s.varsToWarmStart)}) but ${file} has no tensor of that name; exclude it from vars_to_warm_start`);
        if (JSON.stringify(t.shape) !== JSON.stringify(a.shape) || t.dtype !== 'F32') {
          throw new UserError(`${s.where}: variable '${a.name}' has shape [${a.shape}] in the model but [${t.shape}]${t.dtype !== 'F32' ? ` (${t.dtype})` : ''} in ${file}; exclude it from vars_to_warm_start`);
        }
        return { name: a.name, shape: a.shape, data: t.data as Float32Array };
      });
  const params = take(state.params);
  const slots = take(state.slots);
  await wafer.setState({ params, ...(slots.length ? { slots } : {}) });
  return { file, warmed: [...params, ...slots].map((a) => a.name), fresh: state.params.filter((a) => !chosen.has(a.name)).map((a) => a.name) };
}

/**
 * Warm-starts the training session when it restored no checkpoint (the Estimator puts it first among the
 * training hooks); with a checkpoint in model_dir it logs that the settings are ignored.
 */
export class WarmStartHook implements SessionRunHook {
  constructor(private readonly settings: ResolvedWarmStart) {}

  async afterCreateSession(s: Session): Promise<void> {
    if (s.lastCheckpoint) {
      s.log(`Warm start skipped: resuming from ${path.basename(s.lastCheckpoint)} in model_dir (${this.settings.where} applies only to a run without a checkpoint)`);
      return;
    }
    const r = await warmStart(s.wafer, this.settings);
    s.log(`Warm-started ${r.warmed.length} variable(s) from ${r.file}${r.fresh.length ? `; parameters freshly initialised: ${r.fresh.join(', ')}` : ''}`);
  }
}

/** The warm-start hook of a run ({@link warmStartSettings}), or none. */
export function warmStartHooks(md: ModelDir, option?: string | WarmStartSettings): SessionRunHook[] {
  const s = warmStartSettings(md, option);
  return s ? [new WarmStartHook(s)] : [];
}
