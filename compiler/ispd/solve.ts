/**
 * Solves an ISPD 2020 placement problem (`csrun place FILE.kgraph`) with the compiler's own passes: the
 * kgraph becomes a kernel graph (kgraph.ts), `size` chooses execution parameters and the floorplan, `place`
 * lays it out. Score (docs/design.md §9): `wdeltat · max kernel time + wlength · Σ L1 centre distances`.
 *
 * Within the time limit the driver also tries slightly slower target times and both floorplan orientations:
 * a looser τ gives narrower kernels and often shorter wires; the best score wins.
 */
import type { PlacedGraph } from '../ir.ts';
import { kgraphMachine, kgraphToKernelGraph, type Kgraph } from './kgraph.ts';
import type { Machine } from '../machine.ts';
import { checkPlacement, place } from '../passes/place.ts';
import { Sizer } from '../passes/floorplan.ts';
import { UserError } from '../../runtime/errors.ts';

/** Result of {@link solveIspd}. */
export interface IspdSolution {
  placed: PlacedGraph;
  machine: Machine;
  /** Max kernel time, cycles. */
  maxTime: number;
  /** Σ L1 distances between connected kernel centres, PEs. */
  wirelength: number;
  /** `wdeltat · maxTime + wlength · wirelength`. */
  score: number;
  /** The area lower bound on the max kernel time, cycles. */
  areaBound: number;
  legal: boolean;
  violations: string[];
  /** Candidate solutions evaluated. */
  candidates: number;
  elapsedMs: number;
}

/** Options of {@link solveIspd}. */
export interface IspdOptions {
  /** Wall-clock budget in seconds for trying extra candidates (default 10). The first solution is always
   * computed, whatever the budget. */
  timeLimitS?: number;
  /** Largest max kernel time accepted while trading time for wirelength, as a multiple of the area lower
   * bound (default 1.3, the target); the least feasible time is always accepted. */
  maxTimeRatio?: number;
}

/**
 * Places a kgraph problem.
 * @throws UserError when the problem cannot fit its fabric.
 */
export function solveIspd(k: Kgraph, opts: IspdOptions = {}): IspdSolution {
  const t0 = performance.now();
  const limitMs = (opts.timeLimitS ?? 10) * 1000;
  const kg = kgraphToKernelGraph(k);
  const machine = kgraphMachine(k);
  const scoreOf = (p: PlacedGraph) => k.wdeltat * p.targetCycles + k.wlength * p.wirelength;
  const sizer = new Sizer(kg, machine, true, false);
  const least = [sizer.solveLeast(false), sizer.solveLeast(true)].filter((s) => s !== null);
  if (!least.length) throw new UserError(`${k.test}: the kernels cannot be laid out on the ${k.width}×${k.height} fabric`);
  least.sort((a, b) => a.tau - b.tau);
  const first = place(sizer.realise(least[0]), machine);
  let best = first;
  let candidates = 1;
  const tau0 = least[0].tau;
  const maxTau = Math.floor(sizer.bound * (opts.maxTimeRatio ?? 1.3));
  const slacks = [0, 0.001, 0.003, 0.006, 0.01, 0.02, 0.035, 0.05, 0.1, 0.2, 0.35, 0.5, 0.75, 1, 1.5, 2, 3, 5, 8];
  outer: for (const slack of slacks) {
    for (const wireWeight of [0, 0.05, 0.3, 1, 4]) {
      for (const orientation of ['rows', 'cols'] as const) {
        if (performance.now() - t0 > limitMs * 0.8) break outer;
        const tau = Math.ceil(tau0 * (1 + slack));
        if (slack > 0 && tau > maxTau) continue;
        // a looser τ can only pay off when it costs less time than the whole current wire term
        if (k.wdeltat * (tau - tau0) >= k.wlength * best.wirelength) continue;
        try {
          const sol = sizer.solveAt(tau, orientation === 'cols', wireWeight);
          if (!sol) continue;
          const p = place(sizer.realise(sol), machine);
          candidates++;
          if (scoreOf(p) < scoreOf(best)) best = p;
        } catch {
          /* infeasible at this τ in this orientation */
        }
      }
    }
  }
  const violations = checkPlacement(best.kernels, machine);
  return {
    placed: best,
    machine,
    maxTime: best.targetCycles,
    wirelength: best.wirelength,
    score: scoreOf(best),
    areaBound: best.areaBoundCycles,
    legal: violations.length === 0,
    violations,
    candidates,
    elapsedMs: performance.now() - t0,
  };
}
