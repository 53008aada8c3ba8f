/**
 * Checkpoint files outside the index (docs/design.md §5), settled at the start of every training run while
 * it holds the model_dir lock. A checkpoint is written before the index names it, and old ones are deleted
 * after the index drops them (runtime/checkpoint.ts saveCheckpoint), so a run killed in between leaves
 * `model.ckpt-<step>.safetensors` files that the index does not list:
 * - one newer than the index's latest checkpoint that reads back whole (the CRC-32C of its tensor data
 *   matches) is adopted: the index lists it and it becomes the latest, as the killed run would have made it;
 * - every other one (older than the latest: rotation's leftovers; or unreadable) is removed.
 * Files named in `keep` (the best checkpoint, a `--checkpoint-path` in model_dir) are never removed.
 */
import fs from 'node:fs';
import path from 'node:path';
import { checkpointStepOf, readCheckpoint, readIndex, writeIndex } from '../runtime/checkpoint.ts';
import { UserError } from '../runtime/errors.ts';
import { withFsErrors } from '../runtime/fs.ts';
import type { ModelDirLayout } from './model-dir.ts';

/** What {@link settleOrphanCheckpoints} did: file names adopted (oldest first) and removed, with why. */
export interface OrphanCheckpoints {
  adopted: string[];
  removed: { name: string; why: string }[];
}

/**
 * Adopts or removes the checkpoint files of model_dir that its index does not list.
 * @param out          the model_dir's layout.
 * @param opts.keep    file names never removed.
 * @param opts.log     where the summary lines go (one per adoption, one for the removals).
 * @param opts.verbose list every removed file and why.
 * @throws UserError for a malformed index, or naming the file when model_dir cannot be written.
 */
export function settleOrphanCheckpoints(out: ModelDirLayout, opts: { keep?: readonly string[]; log: (line: string) => void; verbose?: boolean }): OrphanCheckpoints {
  const result: OrphanCheckpoints = { adopted: [], removed: [] };
  let names: string[];
  try {
    names = fs.readdirSync(out.root);
  } catch {
    return result; // no model_dir yet
  }
  const idx = readIndex(out.root);
  const listed = new Set((idx?.all_model_checkpoint_paths ?? []).map((p) => path.resolve(out.root, p)));
  if (idx) listed.add(path.resolve(out.root, idx.model_checkpoint_path));
  const latestStep = idx ? (checkpointStepOf(idx.model_checkpoint_path) ?? readCheckpoint(path.resolve(out.root, idx.model_checkpoint_path)).globalStep) : -1;
  const orphans = names
    .filter((n) => checkpointStepOf(n) !== undefined && !listed.has(path.resolve(out.root, n)))
    .sort((a, b) => checkpointStepOf(a)! - checkpointStepOf(b)!);
  for (const name of orphans) {
    const step = checkpointStepOf(name)!;
    let why: string;
    if (step > latestStep) {
      try {
        const ck = readCheckpoint(path.join(out.root, name));
        if (ck.globalStep === step) {
          result.adopted.push(name);
          continue;
        }
        why = `it holds global step ${ck.globalStep}, not ${step}`;
      } catch (e) {
        if (!(e instanceof UserError)) throw e;
        why = `unreadable: ${e.message}`;
      }
    } else why = `older than the index's latest checkpoint (step ${latestStep})`;
    if (opts.keep?.includes(name)) continue;
    result.removed.push({ name, why });
  }
  if (result.adopted.length) {
    const all = [...(idx?.all_model_checkpoint_paths ?? []), ...result.adopted];
    writeIndex(out.root, { model_checkpoint_path: result.adopted.at(-1)!, all_model_checkpoint_paths: all });
    for (const n of result.adopted) opts.log(`Adopted checkpoint ${n} into the index ${out.checkpointIndex}: a run was stopped after writing it, before listing it`);
  }
  for (const r of result.removed) withFsErrors(path.join(out.root, r.name), 'removing a checkpoint outside the index', () => fs.rmSync(path.join(out.root, r.name), { force: true }));
  if (result.removed.length) {
    opts.log(`Removed ${result.removed.length} checkpoint file(s) outside the index ${out.checkpointIndex} (left by a stopped run)${opts.verbose ? ':' : '; --verbose lists them'}`);
    if (opts.verbose) for (const r of result.removed) opts.log(`  ${r.name}: ${r.why}`);
  }
  return result;
}
