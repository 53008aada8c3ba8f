/**
 * One input pipeline of the support server: pipeline i of N loads the user's data module, calls
 * `inputFn(params, mode, { numInputPipelines: N, inputPipelineId: i })` with the global seed set, shards
 * the dataset if the inputFn did not (see DatasetOptions.autoShardPolicy), and then yields batches that
 * own their buffers, ready to transfer. The same code runs in an input worker thread
 * (host/input/worker.ts) and on the calling thread (the support server's in-process mode).
 *
 * Errors. Everything that goes wrong — the module failing to load, inputFn throwing, a reader error, a
 * malformed batch — comes out as one UserError whose message starts with the pipeline's label (e.g.
 * `input worker 0/2 (examples/mnist/data.ts)`) and, for errors that are not UserErrors, names what the
 * pipeline was doing and the failing source line in the data module.
 */
import { UserError } from '../../runtime/errors.ts';
import type { Mode } from '../../runtime/graph.ts';
import type { Params } from '../../runtime/params.ts';
import type { Batch } from '../../runtime/batch.ts';
import type { Dataset } from '../data/dataset.ts';
import { datasetOptions, hasShard } from '../data/options.ts';
import { setRandomSeed } from '../data/seed.ts';
import { describeValue } from '../data/tensor.ts';
import { checkBatchNumerics, dataModulePath, errorSummary, isDataset, loadInputFn, toTransferableBatch, type InputFnAdapter } from './common.ts';

/** How a pipeline's batches were sharded: 'context' (inputFn called shard), 'data' (sharded by batch here), 'off' (autoShardPolicy OFF), 'single' (N = 1). */
export type Sharding = 'context' | 'data' | 'off' | 'single';

/** What a pipeline runs (structured-cloneable: it is sent to input workers). */
export interface PipelineSpec {
  /** Absolute path or file: URL of the data module. */
  dataModule: string;
  /** The input function export ('inputFn', or an ElasticDL `datasetFn` adapted by loadInputFn). */
  inputFnExport: string;
  /** Effective params (with `runconfig.seed` = `seed`). */
  params: Params;
  mode: Mode;
  /** N and i of `{ numInputPipelines: N, inputPipelineId: i }`. */
  numPipelines: number;
  pipelineId: number;
  /** Global seed set before the inputFn runs. */
  seed: number;
  /** Names the pipeline at the start of every error message. */
  label: string;
}

/** A running input pipeline (see the module comment). */
export class InputPipeline {
  private phase = 'loading the data module';
  /** Batches produced since the pipeline was opened, skipped ones excluded (for messages). */
  private produced = 0;
  private done = false;
  private it: ReturnType<Dataset<unknown>['iterator']> | undefined;
  private how: Sharding = 'single';

  private constructor(private readonly spec: PipelineSpec) {}

  /** How this pipeline's batches were sharded. */
  get sharding(): Sharding {
    return this.how;
  }

  /**
   * Loads the data module, calls the inputFn and shards its dataset.
   * @param adapters data-module conventions accepted besides `inputFn` (see {@link loadInputFn}).
   * @throws UserError (see the module comment).
   */
  static async open(spec: PipelineSpec, adapters: readonly InputFnAdapter[]): Promise<InputPipeline> {
    const p = new InputPipeline(spec);
    await p.guard(async () => {
      setRandomSeed(spec.seed);
      const inputFn = await loadInputFn(spec.dataModule, spec.inputFnExport, adapters);
      p.phase = `calling ${spec.inputFnExport}`;
      const context = { numInputPipelines: spec.numPipelines, inputPipelineId: spec.pipelineId };
      let ds = (await inputFn(spec.params, spec.mode, context)) as Dataset<unknown>;
      if (!isDataset(ds)) throw new UserError(`${spec.inputFnExport} returned ${describeValue(ds)}; it must return a Dataset of batches`);
      if (spec.numPipelines > 1) {
        const policy = datasetOptions(ds).autoShardPolicy ?? 'AUTO';
        if (policy === 'OFF') p.how = 'off';
        else if (policy === 'AUTO' && hasShard(ds, spec.numPipelines, spec.pipelineId)) p.how = 'context';
        else {
          ds = ds.shard(spec.numPipelines, spec.pipelineId);
          p.how = 'data';
        }
      }
      p.it = ds.iterator();
      p.phase = 'skipping already consumed batches';
    });
    return p;
  }

  /** Runs `f`, turning whatever it throws into this pipeline's UserError. */
  private async guard<T>(f: () => Promise<T>): Promise<T> {
    try {
      return await f();
    } catch (e) {
      const isUser = e instanceof UserError || (e as Error)?.name === 'UserError';
      const msg = (e as Error)?.message ?? String(e);
      const { label } = this.spec;
      // Messages that already name this pipeline (batch checks) are passed on as they are.
      if (msg.startsWith(label)) throw e instanceof UserError ? e : new UserError(msg, { cause: e });
      throw new UserError(`${label}: ${isUser ? msg : `error while ${this.phase}: ${errorSummary(e, dataModulePath(this.spec.dataModule))}`}`, { cause: e });
    }
  }

  /**
   * Skips up to `n` batches (resume).
   * @returns the number skipped: fewer than `n` at the end of a finite stream.
   * @throws UserError (see the module comment).
   */
  skip(n: number): Promise<number> {
    return this.guard(async () => (n > 0 && !this.done ? this.it!.skip(n) : 0));
  }

  /**
   * The next batch and the buffers to transfer, or undefined at the end of the stream (and after it). With
   * `runconfig.check_numerics: batches` (the default) every float tensor is checked for NaN and ±Inf here,
   * in the input worker, off the training thread.
   * @throws UserError (see the module comment), also for a non-finite value (common.ts checkBatchNumerics).
   */
  next(): Promise<{ batch: Batch; transfer: ArrayBuffer[] } | undefined> {
    return this.guard(async () => {
      if (this.done) return undefined;
      this.phase = `producing batch ${this.produced}`;
      const r = await this.it!.next();
      if (r.done) {
        this.done = true;
        await this.it!.return();
        return undefined;
      }
      const where = `${this.spec.label}, batch ${this.produced}`;
      const out = toTransferableBatch(r.value, this.spec.mode, where);
      if ((this.spec.params.runconfig.check_numerics ?? 'batches') === 'batches') checkBatchNumerics(out.batch, where, this.spec.inputFnExport);
      this.produced++;
      return out;
    });
  }

  /** Releases the dataset's resources (open files, read-ahead). Never throws. */
  async close(): Promise<void> {
    this.done = true;
    await this.it?.return().catch(() => {});
  }
}
