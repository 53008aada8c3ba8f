/**
 * runtime/parallel/worker-rpc.ts: requests run one at a time in the order sent, buffers are transferred,
 * errors come back typed, and a dead thread fails every pending and later call instead of hanging.
 */
import { describe, expect, it } from 'vitest';
import { WorkerClient, WorkerError } from '../../runtime/parallel/worker-rpc.ts';
import type { RpcTestMethods } from '../fixtures/rpc-worker.ts';

const ENTRY = new URL('../fixtures/rpc-worker.ts', import.meta.url);

describe('worker RPC', () => {
  it('serves requests in the order they were sent and transfers buffers both ways', async () => {
    const w = await WorkerClient.start<RpcTestMethods>(ENTRY, { base: 100 });
    try {
      const totals = await Promise.all([1, 2, 3, 4, 5, 6, 7, 8].map((k) => w.call('add', k)));
      expect(totals).toEqual([101, 103, 106, 110, 115, 121, 128, 136]);
      const data = new Float32Array([1, 2, 3.5]);
      expect(await w.call('sum', { data }, [data.buffer])).toBe(6.5);
      expect(data.byteLength).toBe(0); // transferred, not copied
      const { data: ones } = await w.call('ones', 4);
      expect(Array.from(ones)).toEqual([1, 1, 1, 1]);
      expect(await w.call('total')).toBe(136);
    } finally {
      await w.terminate();
    }
  });

  it('a throwing request rejects that call only, saying whether it was a UserError', async () => {
    const w = await WorkerClient.start<RpcTestMethods>(ENTRY, { base: 0 });
    try {
      const user = await w.call('userError').catch((e) => e);
      expect(user).toBeInstanceOf(WorkerError);
      expect(user).toMatchObject({ message: 'bad input on purpose', userError: true, died: false });
      const bug = await w.call('bug').catch((e) => e);
      expect(bug).toMatchObject({ message: 'a bug on purpose', userError: false, died: false });
      expect(bug.remoteStack).toMatch(/TypeError: a bug on purpose/);
      expect(await w.call('add', 2)).toBe(2);
    } finally {
      await w.terminate();
    }
  });

  it('a failing setup rejects start; a thread that exits fails pending and later calls and reports its death once', async () => {
    const bad = await WorkerClient.start<RpcTestMethods>(ENTRY, { base: 0, failSetup: true }).catch((e) => e);
    expect(bad).toMatchObject({ message: 'setup failed on purpose', userError: true, died: false });

    const deaths: WorkerError[] = [];
    const w = await WorkerClient.start<RpcTestMethods>(ENTRY, { base: 0 }, { onDeath: (e) => deaths.push(e) });
    const pending = w.call('add', 1);
    const exit = w.call('exit', 3);
    const results = await Promise.allSettled([pending, exit, w.call('add', 1)]);
    expect(results[0]).toEqual({ status: 'fulfilled', value: 1 });
    for (const r of results.slice(1)) expect((r as PromiseRejectedResult).reason).toMatchObject({ message: 'exited with code 3', died: true });
    await expect(w.call('total')).rejects.toMatchObject({ died: true });
    expect(deaths).toHaveLength(1);
    await w.terminate();

    const quiet: WorkerError[] = [];
    const t = await WorkerClient.start<RpcTestMethods>(ENTRY, { base: 0 }, { onDeath: (e) => quiet.push(e) });
    await t.terminate();
    expect(quiet).toEqual([]); // a requested stop is not a death
  });
});
