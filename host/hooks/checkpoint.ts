/**
 * Checkpoints in the session loop: the checkpoint saver (tf.train.CheckpointSaverHook), which saves the
 * wafer's parameters and optimizer slots every `save_checkpoints_steps` steps and at the end of training,
 * keeping the newest `keep_checkpoint_max`; and finding and restoring the checkpoint a run starts from.
 */
import fs from 'node:fs';
import path from 'node:path';
import { latestCheckpoint, readCheckpoint, saveCheckpoint, type Checkpoint, type StoredTensor } from '../../runtime/checkpoint.ts';
import { UserError } from '../../runtime/errors.ts';
import type { Wafer } from '../../wafer-sim/wafer.ts';
import type { ModelDirLayout } from '../model-dir.ts';
import type { NamedArray } from '../../runtime/exec/store.ts';
import type { Graph } from '../../runtime/graph.ts';
import type { RunContext, RunValues, Session, SessionRunHook } from './session.ts';

/**
 * The checkpoint of a wafer's state: every parameter by name and every optimizer slot as `<param>/<slot>`
 * (F32), at global step `step`.
 */
export function checkpointOf(state: { params: NamedArray[]; slots: NamedArray[] }, graph: Graph, step: number): Checkpoint {
  const tensors: Record<string, StoredTensor> = {};
  for (const a of [...state.params, ...state.slots]) tensors[a.name] = { dtype: 'F32', shape: a.shape, data: a.data };
  return { globalStep: step, tensors, metadata: { optimizer: graph.optimizer?.name ?? '', seed: String(graph.seed) } };
}

/**
 * The checkpoint to start from: `checkpointPath` (`--checkpoint-path`), else the latest in model_dir, else none.
 * @throws UserError when `checkpointPath` does not exist or the index names a missing file.
 */
export function findCheckpoint(out: ModelDirLayout, checkpointPath?: string): string | undefined {
  if (checkpointPath) {
    const f = path.resolve(checkpointPath);
    if (!fs.existsSync(f)) throw new UserError(`--checkpoint-path ${checkpointPath}: no such checkpoint file`);
    return f;
  }
  const latest = latestCheckpoint(out.root);
  if (latest && !fs.existsSync(latest)) throw new UserError(`${out.checkpointIndex}: the latest checkpoint ${latest} is missing`);
  return latest;
}

/**
 * The checkpoint evaluation and prediction use, read ({@link findCheckpoint}).
 * @throws UserError when there is none (tf.estimator: "Could not find trained model in model_dir"), or as
 *   readCheckpoint for a corrupted file.
 */
export function requireCheckpoint(out: ModelDirLayout, checkpointPath?: string): { file: string; ckpt: Checkpoint } {
  const file = findCheckpoint(out, checkpointPath);
  if (!file) throw new UserError(`no checkpoint in model_dir ${out.root}: train first (csrun train) or pass --checkpoint-path`);
  return { file, ckpt: readCheckpoint(file) };
}

/**
 * Loads a checkpoint into a wafer: every parameter of the graph (and, when `withSlots`, every optimizer
 * slot) must be present with the right shape.
 * @throws UserError naming the checkpoint file and the tensor.
 */
export async function restoreCheckpoint(wafer: Wafer, file: string, ckpt: Checkpoint, withSlots: boolean): Promise<void> {
  const state = await wafer.getState();
  const take = (want: NamedArray[], what: string): NamedArray[] =>
    want.map((w) => {
      const t = ckpt.tensors[w.name];
      if (!t) throw new UserError(`${file}: has no ${what} '${w.name}' (was it written by another model or optimizer?)`);
      if (JSON.stringify(t.shape) !== JSON.stringify(w.shape)) throw new UserError(`${file}: ${what} '${w.name}' has shape [${t.shape}], the model needs [${w.shape}]`);
      return { name: w.name, shape: w.shape, data: t.data as Float32Array };
    });
  await wafer.setState({ params: take(state.params, 'parameter'), ...(withSlots ? { slots: take(state.slots, 'optimizer slot') } : {}) });
}

/**
 * The numerics guard on state, run before every checkpoint: one pass over every weight and optimizer slot.
 * A diverged run (NaN or ±Inf that the loss does not show, e.g. behind a ReLU) is stopped before its
 * checkpoint is written, so that rotation (keep_checkpoint_max) never deletes the last good checkpoints.
 * @param lastGood the latest checkpoint written, named in the error.
 * @throws UserError naming the tensor, the element, the value and the step.
 */
export function checkFiniteState(state: { params: NamedArray[]; slots: NamedArray[] }, step: number, lastGood?: string): void {
  for (const [what, arrays] of [['parameter', state.params], ['optimizer slot', state.slots]] as const) {
    for (const a of arrays) {
      const d = a.data;
      for (let i = 0; i < d.length; i++) {
        if (d[i] - d[i] === 0) continue; // NaN and ±Inf only (x - x is NaN for them)
        throw new UserError(
          `${what} '${a.name}' element ${i} is ${d[i]} at step ${step}: training diverged and no checkpoint was written; the latest checkpoint${lastGood ? ` ${path.basename(lastGood)}` : ''} is from before the divergence (lower the learning rate, or check the input)`,
        );
      }
    }
  }
}

/** Called after a checkpoint written during training (tf.train.CheckpointSaverListener.after_save). */
export type CheckpointListener = (file: string, step: number) => Promise<void> | void;

/** Options of {@link CheckpointSaverHook}. */
export interface CheckpointSaverOptions {
  /** Save every this many steps (0: only at the end). */
  saveSteps: number;
  /** Checkpoints kept, newest first (0: all). */
  keepMax: number;
  /** Extra checkpoint metadata (e.g. `input_workers`, which resuming needs to keep the input order). */
  metadata?: Record<string, string>;
  /** Called after each checkpoint written before the last step (train_and_evaluate evaluates there). */
  listeners?: CheckpointListener[];
  /** Checkpoint file names rotation must not delete, asked at each save (keep_best_checkpoint's best). */
  keep?: () => readonly string[];
}

/**
 * Saves checkpoints during training and, in `end`, the final one (when a step ran), logging
 * `Finished training at step N` (or `Interrupted at`).
 */
export class CheckpointSaverHook implements SessionRunHook {
  /** Global step of the last checkpoint this hook wrote. */
  private savedStep?: number;

  constructor(private readonly opts: CheckpointSaverOptions) {}

  private async save(s: Session, step: number): Promise<string> {
    const state = await s.wafer.getState();
    checkFiniteState(state, step, s.lastCheckpoint);
    const ckpt = checkpointOf(state, s.wafer.graph, step);
    Object.assign(ckpt.metadata!, this.opts.metadata ?? {});
    s.lastCheckpoint = saveCheckpoint(s.out.root, ckpt, this.opts.keepMax, this.opts.keep?.() ?? []);
    this.savedStep = step;
    return s.lastCheckpoint;
  }

  async afterRun(ctx: RunContext, v: RunValues): Promise<void> {
    const s = ctx.session;
    if (this.opts.saveSteps <= 0 || v.step % this.opts.saveSteps !== 0 || (s.lastStep !== undefined && v.step >= s.lastStep)) return;
    const file = await this.save(s, v.step);
    s.log(`Saved checkpoint ${file}`);
    for (const l of this.opts.listeners ?? []) await l(file, v.step);
  }

  async end(s: Session): Promise<void> {
    if (s.globalStep <= s.startStep) return;
    // a stop requested at a checkpoint step (early stopping) has its checkpoint already
    const file = this.savedStep === s.globalStep ? s.lastCheckpoint! : await this.save(s, s.globalStep);
    s.log(`${s.interrupted ? 'Interrupted at' : 'Finished training at'} step ${s.globalStep}: saved checkpoint ${file}`);
  }
}
