/**
 * Pass `plan`: RoutedGraph → Plan, the artifact `plan.json` that the wafer simulator loads, with a format
 * version, the compiler version, the compile-cache key of its inputs and a content hash. Also the compile
 * cache: a plan whose `inputHash` matches the current graph, machine and options is reused as is.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { UserError } from '../../runtime/errors.ts';
import { planEstimate } from '../estimate.ts';
import type { Plan, RoutedGraph } from '../ir.ts';
import type { Machine } from '../machine.ts';

/** JSON with object keys sorted (stable across runs), for hashing. */
export function canonicalJson(v: unknown): string {
  return JSON.stringify(v, (_k, val) => {
    if (val && typeof val === 'object' && !Array.isArray(val)) {
      return Object.fromEntries(Object.keys(val).sort().map((k) => [k, (val as Record<string, unknown>)[k]]));
    }
    return val;
  });
}

/** sha256 hex of a string. */
export function sha256(s: string): string {
  return crypto.createHash('sha256').update(s).digest('hex');
}

let versionMemo: string | undefined;
/**
 * Version of this compiler: the package version plus a hash of the compiler's sources (every `.ts` under
 * `compiler/`, kernel kinds and passes included), so that a changed compiler never reuses a cached plan.
 */
export function compilerVersion(): string {
  if (versionMemo) return versionMemo;
  const dir = path.join(path.dirname(fileURLToPath(import.meta.url)), '..'); // compiler/
  const pkg = JSON.parse(fs.readFileSync(path.join(dir, '..', 'package.json'), 'utf8')) as { version: string };
  const h = crypto.createHash('sha256');
  const sources = (fs.readdirSync(dir, { recursive: true }) as string[]).filter((f) => f.endsWith('.ts')).sort();
  for (const f of sources) h.update(f).update(fs.readFileSync(path.join(dir, f)));
  versionMemo = `${pkg.version}+${h.digest('hex').slice(0, 12)}`;
  return versionMemo;
}

/**
 * The compile-cache key: sha256 of the graph, the machine (without its file path) and the compile options
 * (the compile driver passes `{ batchSize }`: a plan compiled for another batch size is not reused), with the
 * compiler version.
 */
export function planInputHash(graph: unknown, machine: Machine, options: Record<string, unknown> = {}): string {
  const { source: _s, ...m } = machine;
  return sha256(canonicalJson({ graph, machine: m, options, compiler: compilerVersion() }));
}

/** The Plan format version this compiler writes and reads (`Plan.formatVersion`). */
export const PLAN_FORMAT_VERSION = 2;

/**
 * Pass `plan`.
 * @param rg routed graph.
 * @param machine the machine compiled for.
 * @param inputHash {@link planInputHash} of the inputs.
 * @param batchSize samples per batch the plan is compiled for (integer ≥ 1): the estimate's `samplesPerS`
 *   is the rate at this batch size, pipeline fill included.
 * @returns the Plan with its estimate (estimate.ts `planEstimate`) and content hash.
 * @throws RangeError for a batch size that is not an integer ≥ 1.
 */
export function buildPlan(rg: RoutedGraph, machine: Machine, inputHash: string, batchSize: number): Plan {
  const estimate = planEstimate(rg.kernels, rg.edges, rg.routes, rg.busiestLink, rg.mode, machine, batchSize);
  const body: Omit<Plan, 'hash'> = {
    formatVersion: PLAN_FORMAT_VERSION,
    compilerVersion: compilerVersion(),
    inputHash,
    mode: rg.mode,
    machine,
    batchSize,
    kernels: rg.kernels,
    edges: rg.edges,
    routes: rg.routes,
    nodeKernel: rg.nodeKernel,
    targetCycles: rg.targetCycles,
    areaBoundCycles: rg.areaBoundCycles,
    wirelength: rg.wirelength,
    busiestLink: rg.busiestLink,
    estimate,
  };
  return { ...body, hash: planContentHash(body) };
}

/** Content hash of a plan: sha256 of its canonical JSON without the `hash` field. */
export function planContentHash(plan: Omit<Plan, 'hash'> | Plan): string {
  const { hash: _h, ...rest } = plan as Plan;
  return sha256(canonicalJson(rest));
}

/**
 * Reads a cached plan when it is valid for `inputHash`.
 * @returns the plan, or null when the file is missing, unreadable, of another format version, corrupted
 *   (content hash mismatch) or compiled from other inputs.
 */
export function readCachedPlan(file: string, inputHash: string): Plan | null {
  try {
    const plan = JSON.parse(fs.readFileSync(file, 'utf8')) as Plan;
    if (plan.formatVersion !== PLAN_FORMAT_VERSION || plan.inputHash !== inputHash) return null;
    if (planContentHash(plan) !== plan.hash) return null;
    return plan;
  } catch {
    return null;
  }
}

/**
 * Reads and checks a plan file (for the simulator and `csrun report`).
 * @throws UserError naming the file when it is unreadable, of an unknown format version or fails its hash.
 */
export function readPlan(file: string): Plan {
  let plan: Plan;
  try {
    plan = JSON.parse(fs.readFileSync(file, 'utf8')) as Plan;
  } catch (e) {
    throw new UserError(`${file}: cannot read plan: ${(e as Error).message}`);
  }
  if (plan.formatVersion !== PLAN_FORMAT_VERSION) throw new UserError(`${file}: plan format version ${String(plan.formatVersion)} is not supported (expected ${PLAN_FORMAT_VERSION}; recompile with csrun compile)`);
  if (planContentHash(plan) !== plan.hash) throw new UserError(`${file}: plan content does not match its hash (corrupted or edited)`);
  return plan;
}
