/**
 * The checkpoint saver (tf.train.CheckpointSaverHook): saves the wafer's parameters and optimizer slots
 * every `save_checkpoints_steps` steps and at the end of training, keeping the newest `keep_checkpoint_max`.
 */
import { saveCheckpoint, type Checkpoint, type StoredTensor } from '../../runtime/checkpoint.ts';
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
}

/**
 * Saves checkpoints during training and, in `end`, the final one (when a step ran), logging
 * `Finished training at step N` (or `Interrupted at`).
 */
export class CheckpointSaverHook implements SessionRunHook {
  constructor(private readonly opts: CheckpointSaverOptions) {}

  private async save(s: Session, step: number): Promise<string> {
    const ckpt = checkpointOf(await s.wafer.getState(), s.wafer.graph, step);
    Object.assign(ckpt.metadata!, this.opts.metadata ?? {});
    s.lastCheckpoint = saveCheckpoint(s.out.root, ckpt, this.opts.keepMax);
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
    const file = await this.save(s, s.globalStep);
    s.log(`${s.interrupted ? 'Interrupted at' : 'Finished training at'} step ${s.globalStep}: saved checkpoint ${file}`);
  }
}
