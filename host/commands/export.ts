/**
 * `csrun export MODEL_DIR --format tfjs-layers|safetensors [--checkpoint-path FILE] [--out DIR]`
 * (tf.estimator `export_saved_model`, for tools other than csrun): traces the model for PREDICT, takes its
 * weights from a checkpoint (default: the latest in model_dir) and writes
 * - `tfjs-layers`: `model.json` + `group1-shard1of1.bin`, loadable with `tf.loadLayersModel`
 *   (host/export/tfjs-layers.ts);
 * - `safetensors`: `model.safetensors`, the weights alone (host/export/safetensors.ts).
 *
 * The default output directory is `model_dir/export/<format>/`; `--out` (relative to the working directory)
 * overrides it. Options `--params`, `--model-dir` as for the other commands.
 */
import path from 'node:path';
import type { Command } from 'commander';
import type { Checkpoint } from '../../runtime/checkpoint.ts';
import { UserError } from '../../runtime/errors.ts';
import { ensureDir, writeFileAtomic } from '../../runtime/fs.ts';
import type { Graph } from '../../runtime/graph.ts';
import { firstBatch, loadModelDir, signatureOf, traceModel } from '../model-dir.ts';
import { requireCheckpoint } from '../hooks/checkpoint.ts';
import { toSafetensors } from '../export/safetensors.ts';
import { TFJS_WEIGHTS_FILE, toTfjsLayers } from '../export/tfjs-layers.ts';
import { modelDirArguments } from './options.ts';

/** Export formats of `--format`. */
export const EXPORT_FORMATS = ['tfjs-layers', 'safetensors'] as const;
/** One of {@link EXPORT_FORMATS}. */
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

/**
 * The float32 values of every parameter of `graph` from a checkpoint.
 * @throws UserError naming the checkpoint file and the weight when it is missing or has another shape.
 */
export function checkpointWeights(graph: Graph, ckpt: Checkpoint, file: string): Record<string, Float32Array> {
  const out: Record<string, Float32Array> = {};
  for (const p of graph.params) {
    const t = ckpt.tensors[p.name];
    if (!t) throw new UserError(`${file}: has no weight '${p.name}' (was it written by another model?)`);
    if (t.dtype !== 'F32' || JSON.stringify(t.shape) !== JSON.stringify(p.shape)) throw new UserError(`${file}: weight '${p.name}' is ${t.dtype} [${t.shape}], the model needs F32 [${p.shape}]`);
    out[p.name] = t.data as Float32Array;
  }
  return out;
}

/**
 * Exports a trained model.
 * @param dirArg MODEL_DIR as given on the command line.
 * @returns the files written (absolute paths).
 * @throws UserError for an unknown format, no checkpoint, a checkpoint lacking a weight, or (tfjs-layers) a
 *   layer without a Keras equivalent, naming it; as loadModelDir for a bad model directory.
 */
export async function exportModel(
  dirArg: string,
  o: { format: string; checkpointPath?: string; out?: string; params?: string; modelDir?: string },
): Promise<string[]> {
  const format = o.format as ExportFormat;
  if (!EXPORT_FORMATS.includes(format)) throw new UserError(`--format '${o.format}' is not one of ${EXPORT_FORMATS.join(', ')}`);
  const md = await loadModelDir(dirArg, { paramsFile: o.params, overrides: { runconfig: { model_dir: o.modelDir } } });
  const { file, ckpt } = requireCheckpoint(md.out, o.checkpointPath);
  const graph = traceModel(md, 'infer', signatureOf(await firstBatch(md, 'infer'), md.dataFile));
  const weights = checkpointWeights(graph, ckpt, file);
  const dir = o.out ? path.resolve(o.out) : path.join(md.out.root, 'export', format);
  const written: [string, Uint8Array | string][] = [];
  if (format === 'tfjs-layers') {
    const { modelJson, weightData } = toTfjsLayers(graph, weights, `csrun from ${path.basename(file)}`);
    written.push([TFJS_WEIGHTS_FILE, weightData], ['model.json', JSON.stringify(modelJson, null, 1) + '\n']);
  } else {
    written.push(['model.safetensors', toSafetensors(graph, weights, ckpt.globalStep)]);
  }
  ensureDir(dir);
  for (const [name, data] of written) writeFileAtomic(path.join(dir, name), data);
  return written.map(([name]) => path.join(dir, name));
}

/** Registers `csrun export`. */
export function register(program: Command): void {
  modelDirArguments(program.command('export').description('write a trained model for other tools: tfjs-layers (tf.loadLayersModel) or safetensors'))
    .requiredOption('--format <format>', EXPORT_FORMATS.join(' | '))
    .option('--checkpoint-path <file>', 'checkpoint to export (default: the latest in model_dir)')
    .option('--out <dir>', 'output directory (default: model_dir/export/<format>)')
    .action(async (dir: string, o: { format: string; checkpointPath?: string; out?: string; params?: string; modelDir?: string }) => {
      const files = await exportModel(dir, o);
      process.stdout.write(`Exported ${dir} as ${o.format}: ${files.join(', ')}\n`);
    });
}
