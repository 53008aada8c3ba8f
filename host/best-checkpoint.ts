/**
 * keep_best_checkpoint (tf.estimator's BestExporter, applied to checkpoints; docs/design.md §5):
 * `runconfig.keep_best_checkpoint: {metric, mode}` makes every evaluation of a checkpoint in model_dir
 * compare its `metric` with the best so far; a strictly better one becomes the best, recorded in
 * `model_dir/best_checkpoint.json`, and the checkpoint saver never deletes the best checkpoint when it
 * rotates checkpoints beyond `keep_checkpoint_max` (it stays in the `checkpoint` index too). A new best
 * releases the previous one to rotation.
 */
import fs from 'node:fs';
import path from 'node:path';
import { UserError } from '../runtime/errors.ts';
import { writeJsonAtomic } from '../runtime/fs.ts';
import type { RunConfig } from '../runtime/params.ts';
import { evalMetric, improves, type MetricMode } from './hooks/early-stopping.ts';
import type { ModelDirLayout } from './model-dir.ts';

/** `best_checkpoint.json`. */
export interface BestCheckpoint {
  /** File name of the checkpoint in model_dir (`model.ckpt-<step>.safetensors`). */
  checkpoint: string;
  global_step: number;
  metric: string;
  mode: MetricMode;
  /** The checkpoint's value of `metric`. */
  value: number;
  /** Its whole evaluation (as eval/results-<step>.json). */
  results: Record<string, number>;
}

/**
 * The recorded best checkpoint, if any.
 * @throws UserError naming the file when it is not JSON.
 */
export function readBestCheckpoint(out: ModelDirLayout): BestCheckpoint | undefined {
  if (!fs.existsSync(out.bestCheckpoint)) return undefined;
  try {
    return JSON.parse(fs.readFileSync(out.bestCheckpoint, 'utf8')) as BestCheckpoint;
  } catch (e: any) {
    throw new UserError(`${out.bestCheckpoint}: malformed (${e.message}); delete it to start a new record`);
  }
}

/**
 * The checkpoint names rotation must keep: the recorded best when `runconfig.keep_best_checkpoint` is set
 * (and recorded for the same metric and mode), else none.
 */
export function protectedCheckpoints(out: ModelDirLayout, rc: RunConfig): string[] {
  const cfg = rc.keep_best_checkpoint;
  const best = cfg && readBestCheckpoint(out);
  return best && best.metric === cfg.metric && best.mode === cfg.mode ? [best.checkpoint] : [];
}

/**
 * Records an evaluation for keep_best_checkpoint: when it is set, `file` is a checkpoint of model_dir and its
 * `metric` improves on the recorded best (or there is none, it is for another metric or mode, or its file is
 * gone, or it is the same checkpoint), writes best_checkpoint.json.
 * @returns true when the evaluated checkpoint is now the best.
 * @throws UserError naming `runconfig.keep_best_checkpoint` when the results lack the metric.
 */
export function recordEvaluation(out: ModelDirLayout, rc: RunConfig, results: { global_step: number; [k: string]: number }, file: string, log: (line: string) => void): boolean {
  const cfg = rc.keep_best_checkpoint;
  if (!cfg || path.dirname(path.resolve(file)) !== path.resolve(out.root)) return false;
  const value = evalMetric(results, cfg.metric, 'runconfig.keep_best_checkpoint');
  const prev = readBestCheckpoint(out);
  const current = prev && prev.metric === cfg.metric && prev.mode === cfg.mode && prev.checkpoint !== path.basename(file) && fs.existsSync(path.join(out.root, prev.checkpoint)) ? prev : undefined;
  if (!improves(cfg.mode, value, current?.value)) return false;
  const best: BestCheckpoint = { checkpoint: path.basename(file), global_step: results.global_step, metric: cfg.metric, mode: cfg.mode, value, results };
  writeJsonAtomic(out.bestCheckpoint, best);
  log(`Best checkpoint: ${best.checkpoint} (${cfg.metric} = ${value}${current ? `, was ${current.value} at step ${current.global_step}` : ''}) → ${out.bestCheckpoint}`);
  return true;
}
