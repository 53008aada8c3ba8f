/**
 * An input worker of the support server (runs in a piscina worker thread, loaded through
 * support-server-worker.mjs, which registers tsx first).
 *
 * One task per worker for the server's lifetime: import the user's data module, call
 * `inputFn(params, mode, { numInputPipelines: N, inputPipelineId: i })` with the global seed set, shard the
 * dataset if the inputFn did not (see DatasetOptions.autoShardPolicy), skip the batches a resumed run has
 * already consumed, then stream batches to the main thread over a MessagePort, transferring their
 * buffers, never more than the credit the main thread has granted (backpressure). Errors are reported as
 * one message naming this worker and the data module; see WorkerMessage in support-server-common.ts.
 */
import type { MessagePort } from 'node:worker_threads';
import { UserError } from '../runtime/errors.ts';
import type { Dataset } from './data/dataset.ts';
import { datasetOptions, hasShard } from './data/options.ts';
import { setRandomSeed } from './data/seed.ts';
import { describeValue } from './data/tensor.ts';
import {
  dataModulePath,
  displayPath,
  errorSummary,
  isDataset,
  loadInputFn,
  toTransferableBatch,
  type ControlMessage,
  type WorkerMessage,
  type WorkerTask,
} from './support-server-common.ts';

/** A queue of control messages with an awaitable `next()`. */
class Inbox {
  private readonly msgs: ControlMessage[] = [];
  private wake: (() => void) | undefined;
  constructor(port: MessagePort) {
    port.on('message', (m: ControlMessage) => {
      this.msgs.push(m);
      const w = this.wake;
      this.wake = undefined;
      w?.();
    });
  }
  poll(): ControlMessage | undefined {
    return this.msgs.shift();
  }
  async next(): Promise<ControlMessage> {
    for (;;) {
      const m = this.msgs.shift();
      if (m) return m;
      await new Promise<void>((r) => (this.wake = r));
    }
  }
}

/**
 * The piscina task: streams this worker's share of the inputFn's batches.
 * @returns the number of batches sent (the main thread relies on the 'end' / 'error' messages instead).
 */
export default async function runInputWorker(task: WorkerTask): Promise<number> {
  const port = task.port as MessagePort;
  const post = (m: WorkerMessage, transfer?: ArrayBuffer[]) => port.postMessage(m, transfer ?? []);
  const file = dataModulePath(task.dataModule);
  const me = `input worker ${task.workerIndex}/${task.numWorkers} (${displayPath(file)})`;
  const inbox = new Inbox(port);
  let sent = 0;
  let phase = 'loading the data module';
  try {
    setRandomSeed(task.seed);
    const inputFn = await loadInputFn(task.dataModule, task.inputFnExport);
    phase = `calling ${task.inputFnExport}`;
    const context = { numInputPipelines: task.numWorkers, inputPipelineId: task.workerIndex };
    let ds = (await inputFn(task.params, task.mode, context)) as Dataset<unknown>;
    if (!isDataset(ds)) throw new UserError(`${task.inputFnExport} returned ${describeValue(ds)}; it must return a Dataset of batches`);
    let sharding: 'context' | 'data' | 'off' | 'single' = 'single';
    if (task.numWorkers > 1) {
      const policy = datasetOptions(ds).autoShardPolicy ?? 'AUTO';
      if (policy === 'OFF') sharding = 'off';
      else if (policy === 'AUTO' && hasShard(ds, task.numWorkers, task.workerIndex)) sharding = 'context';
      else {
        ds = ds.shard(task.numWorkers, task.workerIndex);
        sharding = 'data';
      }
    }
    const it = ds.iterator();
    phase = 'skipping already consumed batches';
    post({ type: 'ready', skipped: task.skip > 0 ? await it.skip(task.skip) : 0, sharding });
    let credit = task.credit;
    for (let go = false; !go; ) {
      const m = await inbox.next();
      if (m.type === 'skip') post({ type: 'skipped', skipped: await it.skip(m.n) });
      else if (m.type === 'credit') credit += m.n;
      else if (m.type === 'go') go = true;
      else if (m.type === 'stop') return sent;
    }
    for (;;) {
      for (let m = inbox.poll(); m; m = inbox.poll()) {
        if (m.type === 'credit') credit += m.n;
        else if (m.type === 'stop') return sent;
      }
      while (credit <= 0) {
        const m = await inbox.next();
        if (m.type === 'credit') credit += m.n;
        else if (m.type === 'stop') return sent;
      }
      phase = `producing batch ${sent}`;
      const r = await it.next();
      if (r.done) break;
      const { batch, transfer } = toTransferableBatch(r.value, task.mode, `${me}, batch ${sent}`);
      post({ type: 'batch', batch }, transfer);
      credit--;
      sent++;
    }
    post({ type: 'end', batches: sent });
    await it.return();
    return sent;
  } catch (e) {
    const isUser = e instanceof UserError || (e as Error)?.name === 'UserError';
    const msg = (e as Error)?.message ?? String(e);
    // Messages that already name this worker (batch checks) are passed on as they are.
    const message = msg.startsWith(me) ? msg : `${me}: ${isUser ? msg : `error while ${phase}: ${errorSummary(e, file)}`}`;
    post({ type: 'error', message, userError: isUser });
    return sent;
  } finally {
    port.close();
  }
}
