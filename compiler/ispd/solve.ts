/**
 * Solves an ISPD 2020 placement problem (`csrun place FILE.kgraph`) with the compiler's own passes: the
 * kgraph becomes a kernel graph (kgraph.ts), `Sizer` chooses execution parameters and the floorplan at a
 * target time τ, `place` lays it out. Score (docs/design.md §9): `wdeltat · max kernel time + wlength · Σ L1
 * centre distances`; the whole score is optimised, over the whole range of max times.
 *
 * The search is anytime and deterministic; it stops only at the time limit (or a move budget):
 * 1. coarse sizing ladder: the least feasible time τ0 with every wire weight of the shelf DP in both
 *    floorplan orientations, then τ0 · 1.5^i with a few weights; it ends once `wdeltat · τ` alone reaches
 *    the best score (a larger τ cannot win) or at the optional cap `maxTimeRatio`.
 * 2. position search (anneal.ts) on the best solutions of distinct τ in turn, each round starting from that
 *    τ's best placement with a fresh seed and a lower starting temperature; between rounds, the rest of the
 *    ladder (fine steps near τ0, all weights at every τ), nearest the best τ first.
 * Every step depends only on the problem, the seed and the steps before it, never on the clock, so a run
 * with more time sees a superset of the placements a shorter run sees and keeps the best: more time never
 * scores worse, and equal budgets give equal results. The one exception is a limit so short that the first
 * solution's binary search on τ is cut off (it then returns its best feasible τ so far, to keep the limit).
 */
import type { PlacedGraph } from '../ir.ts';
import { kgraphMachine, kgraphToKernelGraph, type Kgraph } from './kgraph.ts';
import type { Machine } from '../machine.ts';
import { checkPlacement, place, wirelength } from '../passes/place.ts';
import { Sizer } from '../passes/floorplan.ts';
import { UNBOUNDED_CYCLES } from '../passes/fit.ts';
import { UserError } from '../../runtime/errors.ts';
import { anneal } from './anneal.ts';

/** The best solution found at one target time of the sizing ladder. */
export interface ExploredTime {
  /** Target time τ as a multiple of the area lower bound. */
  ratio: number;
  /** Max kernel time, cycles. */
  maxTime: number;
  /** PEs. */
  wirelength: number;
  score: number;
}

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
  /** Candidate floorplans placed (sizing ladder). */
  candidates: number;
  /** Annealing moves tried. */
  moves: number;
  /** The best solution at each target time explored, in ascending τ (annealed ones included). */
  explored: ExploredTime[];
  elapsedMs: number;
}

/** Options of {@link solveIspd}. */
export interface IspdOptions {
  /** Wall-clock budget in seconds (default 10). The first solution respects it too: its search on τ stops
   * at the deadline with the best feasible τ found so far (only a problem with no feasible τ yet runs on). */
  timeLimitS?: number;
  /** Largest target time tried, as a multiple of the area lower bound (default: unbounded, the score
   * decides). A cap suits a caller for whom throughput comes first. */
  maxTimeRatio?: number;
  /** Seed of the position search (default 1). */
  seed?: number;
  /** Annealing moves in all (default: unbounded, the time limit decides); 0 skips the position search.
   * With a move budget that ends before the time limit, the result does not depend on machine speed. */
  moves?: number;
}

/** Fine steps of τ above the least feasible one, as relative slack. */
const SLACKS = [0, 0.001, 0.003, 0.006, 0.01, 0.02, 0.035, 0.05, 0.1, 0.2, 0.35, 0.5, 0.75, 1, 1.5, 2, 3, 5, 8];
/** Shelf-DP wire weights tried at each τ. */
const WIRE_WEIGHTS = [0, 0.05, 0.3, 1, 4];
/** Wire weights of the coarse ladder. */
const COARSE_WEIGHTS = [0, 0.3, 4];
/** Ladder candidates placed between two annealing rounds. */
const FINE_PER_ROUND = 4;
/** Solutions of distinct τ kept for the position search. */
const POOL = 3;
/** Moves of one annealing round, per kernel. */
const MOVES_PER_KERNEL = 400;

/**
 * Places a kgraph problem.
 * @throws UserError when the problem cannot fit its fabric.
 */
export function solveIspd(k: Kgraph, opts: IspdOptions = {}): IspdSolution {
  const t0 = performance.now();
  const deadline = t0 + (opts.timeLimitS ?? 10) * 1000;
  const late = () => performance.now() > deadline;
  const kg = kgraphToKernelGraph(k);
  const machine = kgraphMachine(k);
  const scoreOf = (p: PlacedGraph) => k.wdeltat * p.targetCycles + k.wlength * p.wirelength;
  const sizer = new Sizer(kg, machine, true, false);
  // the first solution respects the deadline: the binary search on τ ends at the best feasible τ so far, and
  // the second orientation is tried only while time is left (unless the first found nothing)
  const first = sizer.solveLeast(false, late);
  const least = [first, ...(first && late() ? [] : [sizer.solveLeast(true, late)])].filter((s) => s !== null);
  if (!least.length) throw new UserError(`${k.test}: the kernels cannot be laid out on the ${k.width}×${k.height} fabric`);
  least.sort((a, b) => a.tau - b.tau);
  const bound = Math.max(1, sizer.bound);
  // best placement per target time τ
  const atTau = new Map<number, PlacedGraph>();
  let best = place(sizer.realise(least[0]), machine);
  atTau.set(least[0].tau, best);
  const offer = (tau: number, p: PlacedGraph) => {
    const prev = atTau.get(tau);
    if (!prev || scoreOf(p) < scoreOf(prev)) atTau.set(tau, p);
    if (scoreOf(p) < scoreOf(best)) best = p;
  };
  let candidates = 1;

  // 1. coarse sizing ladder: τ0 in full, then ×1.5 steps with a few wire weights, while wdeltat · τ can win
  const tau0 = least[0].tau;
  const maxTau = Math.min(UNBOUNDED_CYCLES, Math.floor(bound * (opts.maxTimeRatio ?? Infinity)));
  const hopeless = (tau: number) => tau !== tau0 && (tau > maxTau || k.wdeltat * tau >= scoreOf(best));
  const tried = new Set<string>();
  const tryCandidate = (tau: number, wireWeight: number, transposed: boolean) => {
    const id = `${tau}:${wireWeight}:${transposed}`;
    if (tried.has(id)) return;
    tried.add(id);
    const sol = sizer.solveAt(tau, transposed, wireWeight);
    candidates++;
    if (sol) offer(tau, place(sizer.realise(sol), machine));
  };
  const coarse: number[] = [];
  for (let t = tau0 * 1.5; t <= maxTau && t < UNBOUNDED_CYCLES; t *= 1.5) coarse.push(Math.ceil(t));
  stage1: for (const [tau, weights] of [[tau0, WIRE_WEIGHTS] as const, ...coarse.map((t) => [t, COARSE_WEIGHTS] as const)]) {
    if (hopeless(tau)) break;
    for (const wireWeight of weights) {
      for (const transposed of [false, true]) {
        if (late()) break stage1;
        tryCandidate(tau, wireWeight, transposed);
      }
    }
  }

  // 2. position search on the best solutions of distinct τ, interleaved with the rest of the ladder (fine
  // steps and all wire weights), nearest the best τ first
  const near = best.targetCycles;
  const fine: [number, number, boolean][] = [];
  for (const tau of [...new Set([...SLACKS.map((s) => Math.ceil(tau0 * (1 + s))), ...coarse])].sort((a, b) => Math.abs(Math.log(a / near)) - Math.abs(Math.log(b / near)))) {
    for (const w of WIRE_WEIGHTS) for (const tr of [false, true]) fine.push([tau, w, tr]);
  }
  const budget = opts.moves ?? Infinity;
  const perRound = Math.max(2000, MOVES_PER_KERNEL * kg.kernels.length);
  const seed = opts.seed ?? 1;
  const rounds = new Map<number, number>();
  const internalEdges = Math.max(1, kg.edges.filter((e) => !e.external).length);
  let moves = 0;
  let next = 0;
  for (let round = 0; !late() && (moves < budget || next < fine.length); round++) {
    if (moves < budget) {
      const pool = [...atTau.entries()].sort((a, b) => scoreOf(a[1]) - scoreOf(b[1]) || a[0] - b[0]).slice(0, POOL);
      const [tau, p] = pool[round % pool.length];
      const done = rounds.get(tau) ?? 0;
      rounds.set(tau, done + 1);
      const r = anneal(p.kernels, kg.edges, machine.fabric.width, machine.fabric.height, {
        iterations: perRound,
        stopAfter: budget - moves,
        seed: seed * 100_003 + round,
        t0: (p.wirelength / internalEdges / 10) * Math.pow(0.6, done),
        stop: late,
      });
      moves += r.moves;
      if (r.wirelength < p.wirelength) offer(tau, { ...p, kernels: r.kernels, wirelength: wirelength(r.kernels, kg.edges) });
    }
    for (let c = 0; c < FINE_PER_ROUND && next < fine.length && !late(); next++) {
      const [tau, w, tr] = fine[next];
      if (hopeless(tau) || tried.has(`${tau}:${w}:${tr}`)) continue;
      tryCandidate(tau, w, tr);
      c++;
    }
  }

  const violations = checkPlacement(best.kernels, machine);
  const explored = [...atTau.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([tau, p]) => ({ ratio: tau / bound, maxTime: p.targetCycles, wirelength: p.wirelength, score: scoreOf(p) }));
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
    moves,
    explored,
    elapsedMs: performance.now() - t0,
  };
}
