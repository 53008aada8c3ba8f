/**
 * `csrun report MODEL_DIR --html` and `csrun report A B --html --compare`: resolves the model_dirs, gathers
 * their data (data.ts) and writes the page (html.ts): `model_dir/report/index.html`, or for a comparison
 * `A's model_dir/report/compare/index.html` (or `--out DIR`).
 */
import fs from 'node:fs';
import path from 'node:path';
import { UserError } from '../../runtime/errors.ts';
import type { Mode } from '../../runtime/graph.ts';
import { loadModelDir, ModelDirLayout } from '../model-dir.ts';
import { collectReport } from './data.ts';
import { writeHtmlReport } from './html.ts';

export { collectReport } from './data.ts';
export { renderHtml, writeHtmlReport } from './html.ts';

/** Options of {@link runHtmlReport}. */
export interface HtmlReportOptions {
  mode: Mode;
  compare?: boolean;
  /** Output directory of the page (default: see module doc). */
  out?: string;
  params?: string;
  modelDir?: string;
}

/**
 * The output directory a `csrun report` argument names: the directory itself when it holds `compile/` (an
 * output model_dir), else the `runconfig.model_dir` of the model directory (model.ts, data.ts, params.yaml).
 * @throws UserError when it is neither.
 */
export async function outputDir(dir: string, opts: { params?: string; modelDir?: string } = {}): Promise<string> {
  if (opts.modelDir) return path.resolve(opts.modelDir);
  if (fs.existsSync(path.join(dir, 'compile'))) return path.resolve(dir);
  const md = await loadModelDir(dir, { paramsFile: opts.params });
  return md.params.runconfig.model_dir;
}

/**
 * Writes the HTML report of one model_dir, or of two side by side with `compare`.
 * @param dirs one directory, or two with `compare` (model directories or output model_dirs).
 * @returns the page's path.
 * @throws UserError for a wrong number of directories, a model_dir that was never compiled for the mode,
 *   or unreadable report files.
 */
export async function runHtmlReport(dirs: string[], opts: HtmlReportOptions): Promise<string> {
  if (opts.compare && dirs.length !== 2) throw new UserError(`csrun report --compare takes two model dirs (A B), got ${dirs.length}`);
  if (!opts.compare && dirs.length !== 1) throw new UserError(`csrun report takes one model dir, got ${dirs.length} (add --compare to put two side by side)`);
  const outs = await Promise.all(dirs.map((d, i) => outputDir(d, { params: opts.params, modelDir: i === 0 ? opts.modelDir : undefined })));
  const reports = outs.map((d) => collectReport(d, opts.mode));
  const report = new ModelDirLayout(outs[0]).report;
  const target = opts.out ? path.resolve(opts.out) : opts.compare ? path.join(report, 'compare') : report;
  return writeHtmlReport(target, reports, !!opts.compare);
}
