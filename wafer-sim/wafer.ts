/**
 * A Wafer: a compiled Plan loaded onto the machine it was compiled for. Every placed kernel runs its
 * graph nodes (forward, backward, weight update) on the tfjs wasm backend through the compute workers
 * (CPU-thread data parallelism, runtime/parallel/pool.ts) in the schedule the plan gives
 * (wafer-sim/schedule.ts); tensors cross between kernels along the Plan's routes, whose traffic is counted;
 * the simulated clock (wafer-sim/clock.ts) advances by the timing simulation of each batch at the run's
 * `sim_level`.
 */
import type { Plan } from '../compiler/ir.ts';
import type { Machine } from '../compiler/machine.ts';
import { batchRows, type Batch, type HostTensor } from '../runtime/batch.ts';
import { UserError } from '../runtime/errors.ts';
import type { EvalResult } from '../runtime/exec/executor.ts';
import type { NamedArray } from '../runtime/exec/store.ts';
import type { Graph } from '../runtime/graph.ts';
import type { WorkerMemory } from '../runtime/parallel/compute-worker.ts';
import { ComputeWorkerPool, type StepResult } from '../runtime/parallel/pool.ts';
import { SimClock, type ClockOptions } from './clock.ts';
import { scheduleOf, type RouteTraffic } from './schedule.ts';

/** Result of {@link Wafer.trainStep}: losses, route traffic, and the batch's simulated cycles. */
export interface WaferStepResult extends StepResult {
  /** Elements per route of the plan (see {@link RouteTraffic}). */
  traffic: RouteTraffic;
  /** Simulated cycles of the batch (0 with `simulate: false`). */
  simulatedCycles: number;
}

/** Options of {@link Wafer.load}. */
export interface WaferOptions extends ClockOptions {
  /** Compute worker threads; 0 or absent: one per core. */
  computeWorkers?: number;
  /** Data-parallel shards of every batch (a multiple of the workers); 0 or absent: max(2, workers). */
  computeShards?: number;
  /** Simulation (clock, route traffic counting); default true. Off only to measure its cost
   * (bench/sim-overhead.ts): the numerics are the same either way. */
  simulate?: boolean;
}

/** Machine fields that must match between a plan and the machine it runs on. */
const MACHINE_KEYS: (keyof Machine)[] = ['name', 'fabric', 'sramBytesPerPe', 'clockHz', 'wordBytes', 'macsPerPePerCycle', 'linkBitsPerCycle', 'hopLatencyCycles'];

/** A plan running on a simulated wafer. */
export class Wafer {
  private constructor(
    readonly plan: Plan,
    readonly graph: Graph,
    readonly clock: SimClock,
    private readonly pool: ComputeWorkerPool,
    private readonly simulate: boolean,
  ) {}

  /** Number of compute worker threads. */
  get computeWorkers(): number {
    return this.pool.size;
  }

  /** Number of data-parallel shards per batch. */
  get computeShards(): number {
    return this.pool.numShards;
  }

  /**
   * Loads a plan onto a machine and starts the compute workers with the graph's initial weights.
   * @throws UserError if the plan was compiled for another machine or mode, or does not match the graph, or
   *   the sim_level cannot time it (wafer-sim/clock.ts `timeBatch`); checked before any worker starts.
   */
  static async load(plan: Plan, graph: Graph, machine: Machine, opts: WaferOptions = {}): Promise<Wafer> {
    for (const k of MACHINE_KEYS) {
      if (JSON.stringify(plan.machine[k]) !== JSON.stringify(machine[k])) {
        throw new UserError(`the plan was compiled for machine '${plan.machine.name}' (${k} ${JSON.stringify(plan.machine[k])}), not for '${machine.name}' (${k} ${JSON.stringify(machine[k])}); recompile with --machine ${machine.name}`);
      }
    }
    if (plan.mode !== graph.mode) throw new UserError(`the plan was compiled for mode '${plan.mode}', not '${graph.mode}'`);
    const schedule = scheduleOf(plan, graph);
    const clock = new SimClock(plan, opts);
    const pool = await ComputeWorkerPool.start({ graph, schedule, numWorkers: opts.computeWorkers ?? 0, numShards: opts.computeShards ?? 0, shardMultiple: plan.replicas?.count ?? 1 });
    return new Wafer(plan, graph, clock, pool, opts.simulate ?? true);
  }

  /**
   * One training step: runs every kernel on the batch and advances the simulated clock.
   * @param step global step before the update (0-based).
   */
  async trainStep(batch: Batch, step: number): Promise<WaferStepResult> {
    const r = await this.pool.trainStep(batch, step, this.simulate);
    const simulatedCycles = this.simulate ? this.clock.advance(batchRows(batch), r.traffic) : 0;
    return { ...r, simulatedCycles };
  }

  /** One evaluation batch (forward only): loss and metric (total, count) pairs; advances the clock. */
  async evalStep(batch: Batch, step: number): Promise<EvalResult> {
    const r = await this.pool.evalStep(batch);
    this.clock.advance(batchRows(batch));
    return r;
  }

  /** Predictions for a batch (rows in order); advances the clock. */
  async predict(batch: Batch, step: number): Promise<Record<string, HostTensor>> {
    const r = await this.pool.predict(batch);
    this.clock.advance(batchRows(batch));
    return r;
  }

  /** Weights and optimizer slots (for checkpoints). */
  getState(): Promise<{ params: NamedArray[]; slots: NamedArray[] }> {
    return this.pool.getState();
  }

  /** Restores weights and/or slots in every shard. */
  setState(state: { params?: NamedArray[]; slots?: NamedArray[] }): Promise<void> {
    return this.pool.setState(state);
  }

  /** Live tfjs tensors, their bytes and the wasm heap size of each compute worker (leak checks). */
  memory(): Promise<WorkerMemory[]> {
    return this.pool.memory();
  }

  /** Stops the compute workers. */
  close(): Promise<void> {
    return this.pool.close();
  }
}

