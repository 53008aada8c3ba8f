/**
 * The compiler driver: runs the passes in order,
 * `validate → lower → (checkFit) → size → place → route → plan`, optionally dumping each IR as JSON
 * (`--dump-ir DIR`: `01-graph.json` … `06-plan.json`), and writes a plan with its reports to a directory
 * with the compile cache (an unchanged graph for an unchanged machine reuses `plan.json`).
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Graph } from '../runtime/graph.ts';
import { UserError } from '../runtime/errors.ts';
import { ensureDir, writeFileAtomic } from '../runtime/fs.ts';
import type { KernelGraph, Plan, ReplicaLayout, ReplicaTrial } from './ir.ts';
import { allreduceCost, regionMachine, replicaRegions, replicatedSamplesPerS, replicatePlan } from './replicas.ts';
import { lower } from './passes/lower.ts';
import type { Machine } from './machine.ts';
import { place } from './passes/place.ts';
import { buildPlan, planContentHash, planInputHash, readCachedPlan } from './passes/plan.ts';
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
  | { validateOnly: true; batchSize?: number; dumpIrDir?: string; replicas?: ReplicaRequest }
  | { validateOnly?: false; batchSize: number; dumpIrDir?: string; replicas?: ReplicaRequest };

/**
 * Data-parallel replicas on one wafer (params `runconfig.multireplica`, `runconfig.num_replicas`;
 * compiler/replicas.ts): `numReplicas` K > 1 asks for exactly K; `multireplica` lets the compiler choose the K
 * with the highest estimated samples/s. Neither: one replica.
 */
export interface ReplicaRequest {
  multireplica?: boolean;
  numReplicas?: number;
}

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
  ensureDir(dir, 'creating --dump-ir directory');
  writeFileAtomic(path.join(dir, file), JSON.stringify(value, null, 1) + '\n', 'writing IR dump');
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
  const inputHash = planInputHash(graph, machine, cacheOptions(batchSize, opts.replicas));
  const layout = (kgraph: KernelGraph, m: Machine, b: number, dumpDir?: string): Plan => {
    const sized = time('size', () => size(kgraph, m));
    dump(dumpDir, '03-sized.json', sized);
    const placed = time('place', () => place(sized, m));
    dump(dumpDir, '04-placed.json', placed);
    const routed = time('route', () => route(placed, m));
    dump(dumpDir, '05-routed.json', routed);
    return time('plan', () => buildPlan(routed, m, inputHash, b));
  };
  const plan = wantsReplicas(opts.replicas)
    ? chooseReplicas(graph, machine, batchSize, opts.replicas!, (m, b) => {
        const k = lower(graph, m);
        checkFit(k, m);
        return layout(k, m, b);
      })
    : layout(kg, machine, batchSize, opts.dumpIrDir);
  dump(opts.dumpIrDir, '06-plan.json', plan);
  return { kernelGraph: kg, plan, timings };
}

/** The replica request of params `runconfig` (`multireplica`, `num_replicas`). */
export function replicaRequest(runconfig: { multireplica?: boolean; num_replicas?: number }): ReplicaRequest {
  return { multireplica: runconfig.multireplica, numReplicas: runconfig.num_replicas };
}

/** Whether a replica request asks for more than one replica. */
function wantsReplicas(r: ReplicaRequest | undefined): boolean {
  return !!r && (r.multireplica === true || (r.numReplicas ?? 1) > 1);
}

/** The compile-cache options: the batch size, and the replica request when it asks for replicas. */
function cacheOptions(batchSize: number, replicas: ReplicaRequest | undefined): Record<string, unknown> {
  return wantsReplicas(replicas) ? { batchSize, replicas } : { batchSize };
}

/** The first line of an error's message (a compiler UserError's headline). */
function headline(e: unknown): string {
  return String((e as Error)?.message ?? e).split('\n')[0];
}

/**
 * Compiles K replicas (compiler/replicas.ts) and returns the plan of the chosen K: exactly `numReplicas`, or
 * with `multireplica` the K of highest estimated samples/s among K = 1, 2, … that divide the batch size and
 * fit, stopping at the first K that does not fit or after two K slower than the best (at most 64).
 * @param compileFor compiles the graph for a machine (a region) at a batch size.
 * @throws UserError when `numReplicas` does not divide the batch size, or does not fit (naming how many do and
 *   why the next does not: the compiler's PE or SRAM message).
 */
function chooseReplicas(graph: Graph, machine: Machine, B: number, req: ReplicaRequest, compileFor: (m: Machine, batch: number) => Plan): Plan {
  const tried: ReplicaTrial[] = [];
  const attempt = (K: number): { plan: Plan; samplesPerS: number; layout: Omit<ReplicaLayout, 'tried'> } => {
    const { axis, region, offsets } = replicaRegions(machine, K);
    const per = compileFor(regionMachine(machine, region), Math.ceil(B / K));
    const ar = allreduceCost(graph, per, K, axis, machine);
    const samplesPerS = replicatedSamplesPerS(per.estimate, K, B, ar.cycles, machine.clockHz);
    const layout = { count: K, axis, region, offsets, samplesPerReplica: Math.ceil(B / K), samplesPerSPerReplica: per.estimate.samplesPerS, allreduceWords: ar.words, allreduceLinkWords: ar.linkWords, allreduceCycles: ar.cycles };
    return { plan: per, samplesPerS, layout };
  };
  const finish = (best: ReturnType<typeof attempt>): Plan => {
    const p = replicatePlan(best.plan, machine, best.layout, tried, B);
    return { ...p, hash: planContentHash(p) };
  };
  if (req.numReplicas !== undefined && req.numReplicas > 1) {
    const K = req.numReplicas;
    if (B % K !== 0) throw new UserError(`runconfig.num_replicas (${K}) must divide the batch size (${B}): each replica takes an equal share of every batch`);
    try {
      const r = attempt(K);
      tried.push({ replicas: K, samplesPerS: r.samplesPerS });
      return finish(r);
    } catch (e) {
      if (!(e instanceof UserError)) throw e;
      let fit = 0;
      for (let k = K - 1; k >= 1 && fit === 0; k--) {
        if (B % k !== 0) continue;
        try {
          attempt(k);
          fit = k;
        } catch (e2) {
          if (!(e2 instanceof UserError)) throw e2;
        }
      }
      throw new UserError(`runconfig.num_replicas: ${K} replicas do not fit ${machine.name}; at most ${fit} fit (each of ${K} replicas would get 1/${K} of the fabric: ${headline(e)})`, { cause: e });
    }
  }
  let best: ReturnType<typeof attempt> | undefined;
  let slower = 0;
  for (let K = 1; K <= 64 && slower < 2; K++) {
    if (B % K !== 0) continue;
    let r: ReturnType<typeof attempt>;
    try {
      r = attempt(K);
    } catch (e) {
      if (!(e instanceof UserError) || K === 1) throw e;
      tried.push({ replicas: K, samplesPerS: 0, error: headline(e) });
      break;
    }
    tried.push({ replicas: K, samplesPerS: r.samplesPerS });
    if (!best || r.samplesPerS > best.samplesPerS) {
      best = r;
      slower = 0;
    } else slower++;
  }
  return finish(best!);
}

/** Files of a compile output directory. */
export const COMPILE_FILES = {
  plan: 'plan.json',
  text: 'compile_report.txt',
  json: 'compile_report.json',
  svg: 'placement.svg',
} as const;

/**
 * Writes a plan and its three reports into `dir` (created if needed), each atomically.
 * @throws UserError naming the path when `dir` cannot be created or written.
 */
export function writeCompileOutputs(plan: Plan, dir: string): void {
  ensureDir(dir, 'creating compile directory');
  const write = (f: string, s: string) => writeFileAtomic(path.join(dir, f), s, 'writing compile output');
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
export function compileToDir(graph: Graph, machine: Machine, dir: string, opts: { batchSize: number; dumpIrDir?: string; replicas?: ReplicaRequest }): CompileToDirResult {
  const batchSize = checkBatchSize(opts.batchSize);
  const key = planInputHash(graph, machine, cacheOptions(batchSize, opts.replicas));
  const cachedPlan = opts.dumpIrDir ? null : readCachedPlan(path.join(dir, COMPILE_FILES.plan), key);
  if (cachedPlan) {
    if (Object.values(COMPILE_FILES).some((f) => !fs.existsSync(path.join(dir, f)))) writeCompileOutputs(cachedPlan, dir);
    return { plan: cachedPlan, cached: true, timings: {} };
  }
  const r = compileGraph(graph, machine, { batchSize, dumpIrDir: opts.dumpIrDir, replicas: opts.replicas });
  writeCompileOutputs(r.plan!, dir);
  return { plan: r.plan!, cached: false, timings: r.timings };
}
