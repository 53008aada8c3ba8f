import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeCheckpoint, encodeCheckpoint, latestCheckpoint, readCheckpoint, readIndex, saveCheckpoint, type Checkpoint } from '../../runtime/checkpoint.ts';

const tmpdir = () => fs.mkdtempSync(path.join(os.tmpdir(), 'csrun-ckpt-'));
const ckpt = (step: number, n = 6): Checkpoint => ({
  globalStep: step,
  tensors: {
    'dense/kernel': { dtype: 'F32', shape: [2, n / 2], data: Float32Array.from({ length: n }, (_, i) => i * 0.5 + step) },
    'dense/bias': { dtype: 'F32', shape: [n / 2], data: new Float32Array(n / 2).fill(-1) },
    'dense/kernel/m': { dtype: 'F32', shape: [2, n / 2], data: new Float32Array(n).fill(0.25) },
  },
  metadata: { optimizer: 'adam' },
});

describe('safetensors checkpoints', () => {
  it('round-trips names, shapes, values, global step and metadata', () => {
    const c = ckpt(42);
    const back = decodeCheckpoint(encodeCheckpoint(c), 'x');
    expect(back.globalStep).toBe(42);
    expect(back.metadata).toEqual({ optimizer: 'adam' });
    for (const [k, t] of Object.entries(c.tensors)) {
      expect(back.tensors[k].shape).toEqual(t.shape);
      expect(Array.from(back.tensors[k].data as Float32Array)).toEqual(Array.from(t.data as Float32Array));
    }
  });

  it('lays the file out as the safetensors spec says (header length, 8-byte aligned JSON, offsets)', () => {
    const bytes = encodeCheckpoint(ckpt(3));
    const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    expect(n % 8).toBe(0);
    const header = JSON.parse(Buffer.from(bytes.subarray(8, 8 + n)).toString());
    expect(header.global_step).toEqual({ dtype: 'I64', shape: [], data_offsets: expect.any(Array) });
    const { data_offsets: [b, e] } = header['dense/bias'];
    const bias = new Float32Array(bytes.slice(8 + n + b, 8 + n + e).buffer);
    expect(Array.from(bias)).toEqual([-1, -1, -1]);
  });

  it('detects truncated and corrupted files, naming the file', () => {
    const bytes = encodeCheckpoint(ckpt(5));
    expect(() => decodeCheckpoint(bytes.subarray(0, bytes.length - 3), 'm.ckpt')).toThrow(/m.ckpt: corrupted or truncated checkpoint \(tensor data ends/);
    expect(() => decodeCheckpoint(bytes.subarray(0, 5), 'm.ckpt')).toThrow(/m.ckpt: corrupted or truncated/);
    const flipped = bytes.slice();
    flipped[flipped.length - 2] ^= 0x40;
    expect(() => decodeCheckpoint(flipped, 'm.ckpt')).toThrow('m.ckpt: corrupted or truncated checkpoint (CRC-32C of the tensor data does not match)');
    expect(() => readCheckpoint('/nonexistent/model.ckpt-1.safetensors')).toThrow(/cannot read checkpoint \(ENOENT\)/);
  });

  it('keeps the newest keep_checkpoint_max checkpoints and indexes them (0 keeps all)', () => {
    const dir = tmpdir();
    for (const s of [10, 20, 30, 40]) saveCheckpoint(dir, ckpt(s), 2);
    expect(readIndex(dir)).toEqual({ model_checkpoint_path: 'model.ckpt-40.safetensors', all_model_checkpoint_paths: ['model.ckpt-30.safetensors', 'model.ckpt-40.safetensors'] });
    expect(fs.readdirSync(dir).filter((f) => f.endsWith('.safetensors')).sort()).toEqual(['model.ckpt-30.safetensors', 'model.ckpt-40.safetensors']);
    expect(readCheckpoint(latestCheckpoint(dir)!).globalStep).toBe(40);
    const all = tmpdir();
    for (const s of [1, 2, 3]) saveCheckpoint(all, ckpt(s), 0);
    expect(readIndex(all)!.all_model_checkpoint_paths).toHaveLength(3);
  });

  it('a process killed while writing leaves the previous checkpoint valid and latest', async () => {
    const dir = tmpdir();
    saveCheckpoint(dir, ckpt(1), 0);
    const child = path.join(dir, 'writer.ts');
    fs.writeFileSync(child, `
      import { saveCheckpoint } from ${JSON.stringify(path.resolve('runtime/checkpoint.ts'))};
      const big = new Float32Array(16 * 1024 * 1024).fill(1);
      process.stdout.write('go\\n');
      for (let s = 2; ; s++) saveCheckpoint(${JSON.stringify(dir)}, { globalStep: s, tensors: { w: { dtype: 'F32', shape: [big.length], data: big } } }, 0);
    `);
    const p = spawn(process.execPath, ['--import', 'tsx', child], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((res) => p.stdout.once('data', () => res()));
    await new Promise((r) => setTimeout(r, 150));
    p.kill('SIGKILL');
    await new Promise((r) => p.once('exit', r));
    const latest = latestCheckpoint(dir)!;
    expect(() => readCheckpoint(latest)).not.toThrow();
  });
});
