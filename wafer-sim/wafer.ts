/**
 * A Wafer: a compiled Plan loaded onto the machine it was compiled for. Every placed kernel runs its
 * graph nodes (forward, backward, weight update) on the tfjs wasm backend through the compute workers
 * (CPU-thread data parallelism, runtime/parallel/pool.ts) in the schedule the plan gives ({@link scheduleOf});
 * tensors cross between kernels along the Plan's routes, whose traffic is counted;
 * the simulated clock (wafer-sim/clock.ts) advances by the timing simulation of each batch at the run's
 * `sim_level`.
 */
import type { Plan } from '../compiler/ir.ts';
import type { Machine } from '../compiler/machine.ts';
import { batchRows, type Batch, type TensorData } from '../runtime/batch.ts';
import { UserError } from '../runtime/errors.ts';
import type { EvalResult } from '../runtime/exec/executor.ts';
import type { NamedArray } from '../runtime/exec/store.ts';
import type { Graph } from '../runtime/graph.ts';
import type { WorkerMemory } from '../runtime/parallel/compute-worker.ts';
import { ComputeWorkerPool, type StepResult } from '../runtime/parallel/pool.ts';
import type { KernelSchedule, TransferTraffic } from '../runtime/parallel/schedule.ts';
import { SimClock, type ClockOptions } from './clock.ts';

/**
 * The kernel order and fabric transfers of a plan, as graph node indices, for the compute workers (which know
 * nothing of routes or of the wafer): every node runs in the kernel `plan.nodeKernel` assigns it (layout-only
 * layers in their producer's kernel), kernels in the plan's order; transfer i is `plan.routes[i]` (a route
 * whose source is not a kernel carries data from the host), so the workers' per-transfer element counts are
 * per-route traffic.
 * @throws UserError if a node of the graph has no kernel (plan and graph out of step).
 */
export function scheduleOf(plan: Plan, graph: Graph): KernelSchedule {
  const byKernel = new Map<string, number[]>(plan.kernels.map((k) => [k.name, []]));
  graph.nodes.forEach((n, i) => {
    const k = plan.nodeKernel[n.name];
    const list = k === undefined ? undefined : byKernel.get(k);
    if (!list) throw new UserError(`the plan places no kernel for layer '${n.name}' of the model's graph; recompile the model`);
    list.push(i);
  });
  const kernels = plan.kernels.map((k) => ({ name: k.name, nodes: byKernel.get(k.name)! }));
  const kernelNames = new Set(plan.kernels.map((k) => k.name));
  const transfers = plan.routes.map((r) => ({ tensor: r.tensor, ...(kernelNames.has(r.from) ? { from: r.from } : {}), to: r.to, backward: r.backward }));
  return { kernels, transfers };
}

/** Result of {@link Wafer.trainStep}: losses, route traffic, and the batch's simulated cycles. */
export interface WaferStepResult extends StepResult {
  /** Elements moved per route of the plan in the step (index = route; forward activations, backward
   * gradients, summed over shards). */
  traffic: TransferTraffic;
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
  async predict(batch: Batch, step: number): Promise<Record<string, TensorData>> {
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

