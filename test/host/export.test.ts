/**
 * `csrun export` (host/commands/export.ts): a briefly trained examples/mnist exported as tfjs-layers loads with
 * tf.loadLayersModel (@tensorflow/tfjs-layers on the tfjs-core cpu backend, through an IOHandler that reads the
 * files as written) and predicts what `csrun predict` does to ≤ 1e-5; the safetensors export reads back per
 * the format's spec (header length, JSON header, offsets) equal to the checkpoint; bad input fails clearly.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import * as tfl from '@tensorflow/tfjs-layers';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadMnist } from '../../host/data/readers/mnist.ts';
import { readCheckpoint } from '../../runtime/checkpoint.ts';
import { toTfjsLayers } from '../../host/export/tfjs-layers.ts';
import type { Graph } from '../../runtime/graph.ts';

const ROOT = path.resolve(__dirname, '../..');
const csrun = (...args: string[]) => spawnSync(process.execPath, [path.join(ROOT, 'bin/csrun.js'), ...args], { encoding: 'utf8', cwd: ROOT, timeout: 300_000 });

/** A python3 with torch: Debian's python3-torch lives in /usr/bin/python3 (a pyenv python3 on PATH may lack it). */
const PYTHON = ['/usr/bin/python3', 'python3'].find((p) => spawnSync(p, ['-c', 'import torch'], { encoding: 'utf8' }).status === 0);
const HAS_TORCH = PYTHON !== undefined;
/** Reads a safetensors file with PyTorch: shape and float64 sum of every tensor, as JSON. */
const TORCH_READ = `
import json, struct, sys, torch
raw = open(sys.argv[1], 'rb').read()
n = struct.unpack('<Q', raw[:8])[0]
header = json.loads(raw[8:8 + n])
out = {}
for name, h in header.items():
    if name == '__metadata__': continue
    b, e = h['data_offsets']
    t = torch.frombuffer(bytearray(raw[8 + n + b:8 + n + e]), dtype=torch.float32).reshape(h['shape'])
    out[name] = {'shape': list(t.shape), 'sum': float(t.double().sum())}
print(json.dumps(out))
`;

/** A tfjs IOHandler reading model.json and its weight shards from disk (what tfjs-node's file:// does). */
function fileHandler(modelJson: string): tf.io.IOHandler {
  return {
    load: async () => {
      const json = JSON.parse(fs.readFileSync(modelJson, 'utf8')) as tf.io.ModelJSON;
      const specs = json.weightsManifest.flatMap((g) => g.weights);
      const shards = json.weightsManifest.flatMap((g) => g.paths.map((p) => fs.readFileSync(path.join(path.dirname(modelJson), p))));
      const all = Buffer.concat(shards);
      return {
        modelTopology: json.modelTopology,
        weightSpecs: specs,
        weightData: all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength),
        format: json.format,
        generatedBy: json.generatedBy,
        userDefinedMetadata: json.userDefinedMetadata,
      };
    },
  };
}

describe('csrun export', () => {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'csrun-export-'));
  beforeAll(() => {
    const t = csrun('train', 'examples/mnist', '--model-dir', out, '--max-steps', '3', '--no-progress');
    expect(t.status, t.stderr).toBe(0);
    const p = csrun('predict', 'examples/mnist', '--model-dir', out, '--eval-steps', '1');
    expect(p.status, p.stderr).toBe(0);
  }, 300_000);

  it('tfjs-layers: tf.loadLayersModel on the cpu backend predicts as csrun predict does (≤ 1e-5)', async () => {
    const r = csrun('export', 'examples/mnist', '--model-dir', out, '--format', 'tfjs-layers');
    expect(r.status, r.stderr).toBe(0);
    const modelJson = path.join(out, 'export/tfjs-layers/model.json');
    const json = JSON.parse(fs.readFileSync(modelJson, 'utf8'));
    expect(json.modelTopology.config.layers.map((l: { class_name: string }) => l.class_name)).toEqual(['InputLayer', 'Conv2D', 'Conv2D', 'BatchNormalization', 'MaxPooling2D', 'Dropout', 'Flatten', 'Dense']);
    await tf.setBackend('cpu');
    const model = await tfl.loadLayersModel(fileHandler(modelJson));
    expect(model.countParams()).toBe(111_242);
    const expected = fs.readFileSync(path.join(out, 'predict/predictions.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l).logits as number[]);
    expect(expected).toHaveLength(100);
    const { images } = loadMnist(undefined, 'test', { numExamples: 100 });
    const x = tf.tensor4d(Float32Array.from(images.data, (v) => v / 255), [100, 28, 28, 1]);
    const got = (model.predict(x) as tf.Tensor).arraySync() as number[][];
    let maxDiff = 0;
    for (let i = 0; i < 100; i++) for (let k = 0; k < 10; k++) maxDiff = Math.max(maxDiff, Math.abs(got[i][k] - expected[i][k]));
    expect(maxDiff).toBeLessThanOrEqual(1e-5);
  }, 120_000);

  it('safetensors: header length, JSON header and offsets per the spec; the weights equal the checkpoint', () => {
    const r = csrun('export', 'examples/mnist', '--model-dir', out, '--format', 'safetensors', '--out', path.join(out, 'st'));
    expect(r.status, r.stderr).toBe(0);
    const bytes = fs.readFileSync(path.join(out, 'st/model.safetensors'));
    const n = Number(bytes.readBigUInt64LE(0));
    const header = JSON.parse(bytes.subarray(8, 8 + n).toString('utf8'));
    expect(header.__metadata__).toEqual({ producer: 'csrun', layout: 'keras-channels-last', global_step: '3' });
    const names = Object.keys(header).filter((k) => k !== '__metadata__');
    expect(names.sort()).toEqual(['batch_normalization/beta', 'batch_normalization/gamma', 'batch_normalization/moving_mean', 'batch_normalization/moving_variance', 'conv2d/bias', 'conv2d/kernel', 'conv2d_1/bias', 'conv2d_1/kernel', 'dense/bias', 'dense/kernel']);
    const ckpt = readCheckpoint(path.join(out, 'model.ckpt-3.safetensors'));
    let end = 0;
    for (const name of names) {
      const { dtype, shape, data_offsets: [b, e] } = header[name];
      expect(dtype).toBe('F32');
      expect(shape).toEqual(ckpt.tensors[name].shape);
      expect(e - b).toBe(4 * shape.reduce((a: number, c: number) => a * c, 1));
      const data = bytes.subarray(8 + n + b, 8 + n + e);
      expect(new Float32Array(Uint8Array.from(data).buffer)).toEqual(ckpt.tensors[name].data);
      end = Math.max(end, e);
    }
    expect(8 + n + end).toBe(bytes.length);
    if (!HAS_TORCH) return;
    // PyTorch reads the same tensors from the file's bytes (torch.frombuffer at the header's offsets).
    const py = spawnSync(PYTHON!, ['-c', TORCH_READ, path.join(out, 'st/model.safetensors')], { encoding: 'utf8' });
    expect(py.status, py.stderr).toBe(0);
    const sums = JSON.parse(py.stdout) as Record<string, { shape: number[]; sum: number }>;
    expect(Object.keys(sums).sort()).toEqual(names.sort());
    for (const name of names) {
      expect(sums[name].shape).toEqual(ckpt.tensors[name].shape);
      const sum = (ckpt.tensors[name].data as Float32Array).reduce((a, v) => a + v, 0);
      expect(Math.abs(sums[name].sum - sum)).toBeLessThanOrEqual(1e-6 * Math.max(1, Math.abs(sum)) * ckpt.tensors[name].data.length);
    }
  }, 120_000);

  it('bad input: unknown format, no checkpoint, a layer without a Keras equivalent', () => {
    const f = csrun('export', 'examples/mnist', '--model-dir', out, '--format', 'onnx');
    expect(f.status).toBe(1);
    expect(f.stderr).toMatch(/--format 'onnx' is not one of tfjs-layers, safetensors/);
    const empty = fs.mkdtempSync(path.join(os.tmpdir(), 'csrun-export-empty-'));
    const c = csrun('export', 'examples/mnist', '--model-dir', empty, '--format', 'safetensors');
    expect(c.status).toBe(1);
    expect(c.stderr).toMatch(/no checkpoint in model_dir/);
    const graph = {
      inputs: { features: { x: { id: 'features/x', shape: [null, 4, 4], dtype: 'float32' } } },
      nodes: [{ name: 'mat_mul', op: 'matMul', inputs: ['features/x', 'features/x'], outputs: [{ id: 'mat_mul:0', shape: [null, 4, 4], dtype: 'float32' }], attrs: { transposeA: false, transposeB: true }, params: [] }],
      params: [],
      predictions: { y: 'mat_mul:0' },
    } as unknown as Graph;
    expect(() => toTfjsLayers(graph, {}, 'test')).toThrow("layer 'mat_mul' (matMul) has no Keras equivalent");
  });
});
