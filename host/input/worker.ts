/**
 * An input worker of the support server: a long-lived thread (runtime/parallel/worker-rpc.ts) running one
 * {@link InputPipeline}, opened at start. It serves `skip(n)` (resume) and `next()` requests one at a
 * time in arrival order, transferring each batch's buffers; the main thread keeps at most its credit of
 * `next()` requests outstanding (host/input/lanes.ts), which is the backpressure. Every failure is
 * a UserError naming this worker and the data module (host/input/pipeline.ts).
 */
import { serveRequests, withTransfer, type Transfer } from '../../runtime/parallel/worker-rpc.ts';
import type { Batch } from '../../runtime/batch.ts';
import { threadCpuMs } from '../../runtime/parallel/thread-cpu.ts';
import { INPUT_ADAPTERS } from './conventions.ts';
import { InputPipeline, type PipelineSpec, type Sharding } from './pipeline.ts';

async function setup(spec: PipelineSpec) {
  const pipeline = await InputPipeline.open(spec, INPUT_ADAPTERS);
  return {
    /** How the pipeline was sharded. */
    sharding: (): Sharding => pipeline.sharding,
    /** Skips up to `n` batches; resolves with the number skipped. */
    skip: (n: number): Promise<number> => pipeline.skip(n),
    /** The next batch (its buffers transferred), or no batch at the end of the stream; with this thread's
     * CPU milliseconds so far (runtime/parallel/thread-cpu.ts), from which the lane measures the pipeline's
     * cost per batch. */
    async next(): Promise<Transfer<{ batch?: Batch; cpuMs: number }> | { batch?: Batch; cpuMs: number }> {
      const r = await pipeline.next();
      return r ? withTransfer({ batch: r.batch, cpuMs: threadCpuMs() }, r.transfer) : { cpuMs: threadCpuMs() };
    },
  };
}

/** The requests an input worker serves. */
export type InputWorkerMethods = Awaited<ReturnType<typeof setup>>;

serveRequests(setup);
