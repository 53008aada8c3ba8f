/**
 * The compiler driver: runs the passes in order,
 * `validate → lower → (checkFit) → size → place → route → plan`, optionally dumping each IR as JSON
 * (`--dump-ir DIR`: `01-graph.json` … `06-plan.json`), and writes a plan with its reports to a directory
 * with the compile cache (an unchanged graph for an unchanged machine reuses `plan.json`).
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Graph } from '../runtime/graph.ts';
import type { KernelGraph, Plan } from './ir.ts';
import { lower } from './passes/lower.ts';
import type { Machine } from './machine.ts';
import { place } from './passes/place.ts';
import { buildPlan, planInputHash, readCachedPlan } from './passes/plan.ts';
import { placementSvg, reportJson, reportText } from './report.ts';
import { route } from './passes/route.ts';
import { checkFit } from './passes/fit.ts';
import { size } from './passes/floorplan.ts';
import { validate } from './passes/validate.ts';

/**
 * Options of {@link compileGraph}.
 * - `batchSize`: samples per batch the plan is compiled for, an integer ≥ 1 — required (there is no default)
 *   unless `validateOnly`, because the headline estimate `plan.estimate.samplesPerS` is the rate at that
 *   batch size (`B · clock / (fill + (B − 1) · interval)`); it is part of the compile-cache key. Callers pass
 *   the mode's `batch_size` (train_input for train, eval_input for eval/infer) or the first batch's rows.
 * - `validateOnly`: stop after validate + lower (+ the fit check): no plan, no batch size needed.
 * - `dumpIrDir`: write every IR as JSON into this directory.
 */
export type CompileOptions =
  | { validateOnly: true; batchSize?: number; dumpIrDir?: string }
  | { validateOnly?: false; batchSize: number; dumpIrDir?: string };

/** Checks a compile batch size. @throws RangeError unless it is an integer ≥ 1. */
function checkBatchSize(batchSize: unknown): number {
  if (typeof batchSize !== 'number' || !Number.isInteger(batchSize) || batchSize < 1) {
    throw new RangeError(`compile batch size must be an integer ≥ 1, got ${String(batchSize)}`);
  }
  return batchSize;
}

/** What {@link compileGraph} returns. */
export interface CompileResult {
  kernelGraph: KernelGraph;
  /** Absent with `validateOnly`. */
  plan?: Plan;
  /** Wall-clock milliseconds per pass. */
  timings: Record<string, number>;
}

function dump(dir: string | undefined, file: string, value: unknown): void {
  if (!dir) return;
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, file), JSON.stringify(value, null, 1) + '\n');
}

/**
 * Compiles a graph for a machine, for batches of `opts.batchSize` samples.
 * @throws UserError from any pass (unsupported op, bad shape, model too large, kernel exceeding SRAM);
 *   RangeError for a missing or invalid `batchSize` without `validateOnly`.
 */
export function compileGraph(graph: Graph, machine: Machine, opts: CompileOptions): CompileResult {
  const batchSize = opts.validateOnly ? 0 : checkBatchSize(opts.batchSize);
  const timings: Record<string, number> = {};
  const time = <T>(name: string, f: () => T): T => {
    const t0 = performance.now();
    const r = f();
    timings[name] = performance.now() - t0;
    return r;
  };
  dump(opts.dumpIrDir, '01-graph.json', graph);
  time('validate', () => validate(graph));
  const kg = time('lower', () => lower(graph, machine));
  dump(opts.dumpIrDir, '02-kernel-graph.json', kg);
  time('fit', () => checkFit(kg, machine));
  if (opts.validateOnly) return { kernelGraph: kg, timings };
  const sized = time('size', () => size(kg, machine));
  dump(opts.dumpIrDir, '03-sized.json', sized);
  const placed = time('place', () => place(sized, machine));
  dump(opts.dumpIrDir, '04-placed.json', placed);
  const routed = time('route', () => route(placed, machine));
  dump(opts.dumpIrDir, '05-routed.json', routed);
  const plan = time('plan', () => buildPlan(routed, machine, planInputHash(graph, machine, { batchSize }), batchSize));
  dump(opts.dumpIrDir, '06-plan.json', plan);
  return { kernelGraph: kg, plan, timings };
}

/** Files of a compile output directory. */
export const COMPILE_FILES = {
  plan: 'plan.json',
  text: 'compile_report.txt',
  json: 'compile_report.json',
  svg: 'placement.svg',
} as const;

/** Writes a plan and its three reports into `dir` (created if needed). */
export function writeCompileOutputs(plan: Plan, dir: string): void {
  fs.mkdirSync(dir, { recursive: true });
  const write = (f: string, s: string) => {
    const tmp = path.join(dir, `.${f}.tmp`);
    fs.writeFileSync(tmp, s);
    fs.renameSync(tmp, path.join(dir, f));
  };
  write(COMPILE_FILES.plan, JSON.stringify(plan) + '\n');
  write(COMPILE_FILES.text, reportText(plan));
  write(COMPILE_FILES.json, JSON.stringify(reportJson(plan), null, 2) + '\n');
  write(COMPILE_FILES.svg, placementSvg(plan));
}

/** Result of {@link compileToDir}. */
export interface CompileToDirResult {
  plan: Plan;
  /** True when `plan.json` was reused from the compile cache. */
  cached: boolean;
  timings: Record<string, number>;
}

/**
 * Compiles into `dir` (`model_dir/compile/<mode>`) for batches of `opts.batchSize` samples (required, an
 * integer ≥ 1; see {@link CompileOptions}), reusing `dir/plan.json` when it was compiled from the same
 * graph, machine, batch size and compiler (its `inputHash` matches); reports missing beside a cached plan
 * are rewritten.
 * @throws as {@link compileGraph}.
 */
export function compileToDir(graph: Graph, machine: Machine, dir: string, opts: { batchSize: number; dumpIrDir?: string }): CompileToDirResult {
  const batchSize = checkBatchSize(opts.batchSize);
  const key = planInputHash(graph, machine, { batchSize });
  const cachedPlan = opts.dumpIrDir ? null : readCachedPlan(path.join(dir, COMPILE_FILES.plan), key);
  if (cachedPlan) {
    if (Object.values(COMPILE_FILES).some((f) => !fs.existsSync(path.join(dir, f)))) writeCompileOutputs(cachedPlan, dir);
    return { plan: cachedPlan, cached: true, timings: {} };
  }
  const r = compileGraph(graph, machine, { batchSize, dumpIrDir: opts.dumpIrDir });
  writeCompileOutputs(r.plan!, dir);
  return { plan: r.plan!, cached: false, timings: r.timings };
}
