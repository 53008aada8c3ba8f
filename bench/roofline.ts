/**
 * Roofline of the training kernels (issue 17; not a test). One wasm backend, SIMD, one thread:
 *  1. the machine's peak: the best multiply-accumulates per second (MAC/s) of tfjs-backend-wasm's large
 *     products — a 1024³ `MatMul` and a 3×3 64→64 `Conv2D` on `[32, 32, 32, 64]` (XNNPACK), fresh operands
 *     each call (XNNPACK packs a new right operand on every call, docs/design.md §12), measured before and
 *     after the kernels;
 *  2. for every node of the training step of examples/mnist (batch 64) and examples/gpt2 (batch 32, its
 *     params), the kernel's forward, input-gradient and weight-gradient calls timed separately (the kernel's
 *     own `backward` with only the inputs, then only the parameters, asked for), the MACs each call does, and
 *     the achieved MAC/s as a fraction of the peak. Inputs are the tensors of a real step (random data of the
 *     right shapes). Times are the minimum over `--reps` calls (the machine is shared), each call with its
 *     results disposed.
 *
 *   npm run bench:roofline [-- --reps 15 --model mnist|gpt2]
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../runtime/backend.ts';
import type { Batch } from '../runtime/batch.ts';
import { Executor } from '../runtime/exec/executor.ts';
import { StepEngine, SINGLE_SHARD } from '../runtime/exec/step.ts';
import { ParamStore } from '../runtime/exec/store.ts';
import type { Graph, GraphNode } from '../runtime/graph.ts';
import { kernelFor, type GradNeeds, type KernelContext } from '../runtime/kernels/index.ts';
import { loadParams } from '../runtime/params.ts';
import { traceModelFn, type InputSignature, type ModelFn } from '../index.ts';
import { modelFn as mnistModelFn } from '../examples/mnist/model.ts';
import { modelFn as gptModelFn } from '../examples/gpt2/model.ts';
import { table } from './lib.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({ options: { reps: { type: 'string', default: '15' }, model: { type: 'string' } } });
const REPS = Number(values.reps);

/** Minimum wall time (ms) of `fn` over `reps` calls; what it returns is disposed after each call (except `keep`). */
async function minMs(fn: () => unknown, reps = REPS, keep: Set<tf.Tensor> = new Set()): Promise<number> {
  let best = Infinity;
  for (let r = 0; r < reps; r++) {
    const t0 = performance.now();
    const out = await fn();
    const t = performance.now() - t0;
    best = Math.min(best, t);
    disposeAll(out, keep);
  }
  return best;
}

function disposeAll(x: unknown, keep: Set<tf.Tensor>): void {
  if (x instanceof tf.Tensor) {
    if (!keep.has(x) && !x.isDisposed) x.dispose();
  } else if (Array.isArray(x)) x.forEach((y) => disposeAll(y, keep));
  else if (x && typeof x === 'object') Object.values(x).forEach((y) => disposeAll(y, keep));
}

/** Peak MAC/s of the wasm backend's large products (see the module comment). */
async function peak(): Promise<{ matMul: number; conv: number }> {
  const n = 1024;
  const a = tf.randomNormal([n, n]) as tf.Tensor2D;
  let bestMm = Infinity;
  let bestConv = Infinity;
  const x = tf.randomNormal([32, 32, 32, 64]) as tf.Tensor4D;
  for (let r = 0; r <= REPS; r++) { // call 0 warms up (heap growth)
    const b = tf.randomNormal([n, n]) as tf.Tensor2D;
    let t0 = performance.now();
    const c = tf.matMul(a, b);
    if (r > 0) bestMm = Math.min(bestMm, performance.now() - t0);
    const w = tf.randomNormal([3, 3, 64, 64]) as tf.Tensor4D;
    t0 = performance.now();
    const y = tf.conv2d(x, w, 1, 'same');
    if (r > 0) bestConv = Math.min(bestConv, performance.now() - t0);
    tf.dispose([b, c, w, y]);
  }
  tf.dispose([a, x]);
  return { matMul: (n * n * n) / (bestMm / 1e3), conv: (32 * 32 * 32 * 64 * 9 * 64) / (bestConv / 1e3) };
}

/** MACs of one node's forward, input-gradient and weight-gradient calls (0: not a product). */
function macsOf(n: GraphNode, inputs: tf.Tensor[], outputs: tf.Tensor[], needs: GradNeeds): { fwd: number; dx: number; dw: number } {
  const prod = (s: readonly number[]) => s.reduce((p, d) => p * d, 1);
  const anyIn = needs.inputs.some(Boolean);
  const anyW = needs.params.some(Boolean);
  switch (n.op) {
    case 'conv2d': {
      const a = (n as GraphNode<'conv2d'>).attrs;
      const m = prod(outputs[0].shape) * a.kernelSize[0] * a.kernelSize[1] * (inputs[0].shape[3] as number);
      return { fwd: m, dx: anyIn ? m : 0, dw: anyW ? m : 0 };
    }
    case 'dense':
    case 'reverseEmbedding': {
      const m = prod(outputs[0].shape) * inputs[0].shape[inputs[0].rank - 1];
      return { fwd: m, dx: anyIn ? m : 0, dw: anyW ? m : 0 };
    }
    case 'matMul': {
      const a = (n as GraphNode<'matMul'>).attrs;
      const k = inputs[0].shape[inputs[0].rank - (a.transposeA ? 2 : 1)];
      const m = prod(outputs[0].shape) * k;
      return { fwd: m, dx: needs.inputs.filter(Boolean).length * m, dw: 0 };
    }
    case 'multiHeadAttention': {
      const a = (n as GraphNode<'multiHeadAttention'>).attrs;
      const [q, v, k] = inputs;
      const [B, T] = q.shape as [number, number, number];
      const S = v.shape[1] as number;
      const H = a.numHeads;
      const projQkv = B * T * (q.shape[2] as number) * H * a.keyDim + B * S * (k.shape[2] as number) * H * a.keyDim + B * S * (v.shape[2] as number) * H * a.valueDim;
      const projO = B * T * H * a.valueDim * a.outputDim;
      const core = B * H * T * S * (a.keyDim + a.valueDim);
      // both backward calls run dC = dy·W_oᵀ and the core backward (4 batched products); then dx or dW of q, k, v
      return { fwd: projQkv + projO + core, dx: anyIn ? projO + 2 * core + projQkv : 0, dw: anyW ? 2 * projO + 2 * core + projQkv : 0 };
    }
    default:
      return { fwd: 0, dx: 0, dw: 0 };
  }
}

interface Row {
  node: string;
  op: string;
  shape: string;
  pass: 'forward' | 'input grad' | 'weight grad' | 'backward';
  ms: number;
  macs: number;
}

/** Times every node of one training step of `graph` (one shard, one thread). */
async function profile(graph: Graph, batch: Batch): Promise<{ rows: Row[]; stepMs: number }> {
  const store = new ParamStore(graph);
  const engine = new StepEngine(graph, store, SINGLE_SHARD);
  const state = await engine.begin(batch, 'train', 0);
  await engine.forwardNodes(state, engine.trainNodes);
  engine.seedLoss(state);
  await engine.backwardNodes(state, [...engine.trainNodes].reverse());
  const rows: Row[] = [];
  const ctx = (i: number): KernelContext => ({
    training: true, step: 0, seed: graph.seed, nodeIndex: i, sampleOffset: 0, globalBatch: state.localBatch, numShards: 1,
    allReduceSum: SINGLE_SHARD.allReduceSum,
  });
  for (const i of engine.trainNodes) {
    const n = graph.nodes[i];
    const kernel = kernelFor(n);
    const inputs = n.inputs.map((id) => state.values.get(id)!);
    const outputs = n.outputs.map((o) => state.values.get(o.id)!);
    const params = n.params.map((p) => store.value(p));
    const fwd = state.forward[i]!;
    const dOut = n.outputs.map((o) => state.grads.get(o.id));
    const keep = new Set<tf.Tensor>([...inputs, ...params, ...fwd.saved, ...outputs, ...dOut.filter((d): d is tf.Tensor => !!d)]);
    const shape = `${inputs.filter((t) => t.dtype === 'float32').map((t) => `[${t.shape.join('×')}]`).join(' ') || `[${inputs[0]?.shape.join('×') ?? ''}]`} → [${outputs[0].shape.join('×')}]`;
    const needs: GradNeeds = {
      inputs: n.inputs.map((id, k) => !id.startsWith('features/') && id !== 'labels' && inputs[k].dtype === 'float32'),
      params: n.params.map((p) => store.param(p)!.trainable),
    };
    const macs = macsOf(n, inputs, outputs, needs);
    const run = (nd: GradNeeds) => () => kernel.backward(n as never, dOut.map((d, k) => d ?? tf.zerosLike(outputs[k])), fwd, params, nd, ctx(i));
    const hasGrad = dOut.some(Boolean);
    rows.push({ node: n.name, op: n.op, shape, pass: 'forward', ms: await minMs(() => kernel.forward(n as never, inputs, params, ctx(i)), REPS, keep), macs: macs.fwd });
    if (!hasGrad) continue;
    const inOnly = { inputs: needs.inputs, params: needs.params.map(() => false) };
    const wOnly = { inputs: needs.inputs.map(() => false), params: needs.params };
    if (needs.inputs.some(Boolean) && needs.params.some(Boolean)) {
      rows.push({ node: n.name, op: n.op, shape, pass: 'input grad', ms: await minMs(run(inOnly), REPS, keep), macs: macs.dx });
      rows.push({ node: n.name, op: n.op, shape, pass: 'weight grad', ms: await minMs(run(wOnly), REPS, keep), macs: macs.dw });
    } else if (needs.inputs.some(Boolean)) {
      rows.push({ node: n.name, op: n.op, shape, pass: 'input grad', ms: await minMs(run(inOnly), REPS, keep), macs: macs.dx });
    } else if (needs.params.some(Boolean)) {
      rows.push({ node: n.name, op: n.op, shape, pass: 'weight grad', ms: await minMs(run(wOnly), REPS, keep), macs: macs.dw });
    }
  }
  engine.finish(state);
  store.dispose();
  // the whole step as the product runs it (one shard), for the sum of the rows to be compared with
  const exec = await Executor.create(graph);
  for (let s = 0; s < 2; s++) await exec.trainStep(batch, s);
  let stepMs = Infinity;
  for (let s = 0; s < Math.max(5, Math.ceil(REPS / 2)); s++) {
    const t0 = performance.now();
    await exec.trainStep(batch, s + 2);
    stepMs = Math.min(stepMs, performance.now() - t0);
  }
  exec.dispose();
  return { rows, stepMs };
}

function randomBatch(sig: InputSignature, batch: number, maxInt: number): Batch {
  const make = (s: { shape: number[]; dtype: 'float32' | 'int32' }) => {
    const shape = [batch, ...s.shape];
    const size = shape.reduce((p, d) => p * d, 1);
    const data = s.dtype === 'int32' ? Int32Array.from({ length: size }, () => Math.floor(Math.random() * maxInt)) : Float32Array.from({ length: size }, () => Math.random());
    return { data, shape, dtype: s.dtype };
  };
  return { features: Object.fromEntries(Object.entries(sig.features).map(([k, s]) => [k, make(s as never)])), labels: sig.labels ? make(sig.labels as never) : undefined } as Batch;
}

interface Model {
  name: string;
  fn: ModelFn;
  params: string;
  signature: InputSignature;
  batch: number;
  maxInt: number;
}

const models: Model[] = [
  { name: 'mnist', fn: mnistModelFn, params: 'examples/mnist/configs/params.yaml', signature: { features: { image: { shape: [28, 28, 1], dtype: 'float32' } }, labels: { shape: [], dtype: 'int32' } }, batch: 64, maxInt: 10 },
  { name: 'gpt2', fn: gptModelFn, params: 'examples/gpt2/configs/params.yaml', signature: { features: { input_ids: { shape: [16], dtype: 'int32' } }, labels: { shape: [16], dtype: 'int32' } }, batch: 32, maxInt: 28 },
];

await initBackend();
const before = await peak();
const results: { m: Model; rows: Row[]; stepMs: number }[] = [];
for (const m of models.filter((x) => !values.model || x.name === values.model)) {
  const params = loadParams(path.join(root, m.params));
  const graph = traceModelFn(m.fn, { mode: 'train', params, signature: m.signature });
  results.push({ m, ...(await profile(graph, randomBatch(m.signature, m.batch, m.maxInt))) });
}
const after = await peak();
const pk = Math.max(before.matMul, before.conv, after.matMul, after.conv);
const g = (x: number) => (x / 1e9).toFixed(1);
console.log(`wasm SIMD, one thread. Peak: matMul 1024³ ${g(before.matMul)} / ${g(after.matMul)} GMAC/s, conv2d 3×3 64→64 on [32,32,32,64] ${g(before.conv)} / ${g(after.conv)} GMAC/s (before / after the kernels); peak = ${g(pk)} GMAC/s. Min of ${REPS} calls.\n`);
for (const { m, rows, stepMs } of results) {
  const total = rows.reduce((s, r) => s + r.ms, 0);
  const macs = rows.reduce((s, r) => s + r.macs, 0);
  console.log(`examples/${m.name}, batch ${m.batch}: sum of kernel calls ${total.toFixed(1)} ms (${macs > 0 ? `${(macs / 1e6).toFixed(0)} M MACs, ${(100 * macs / (total / 1e3) / pk).toFixed(0)}% of peak overall` : ''}); whole trainStep ${stepMs.toFixed(1)} ms`);
  console.log(table(['node', 'op', 'shapes', 'pass', 'ms', 'M MACs', 'GMAC/s', '% of peak', '% of sum'], rows.map((r) => [
    r.node, r.op, r.shape, r.pass, r.ms.toFixed(2), r.macs ? (r.macs / 1e6).toFixed(1) : '', r.macs ? g(r.macs / (r.ms / 1e3)) : '', r.macs ? `${(100 * r.macs / (r.ms / 1e3) / pk).toFixed(0)}%` : '', `${(100 * r.ms / total).toFixed(0)}%`,
  ])));
  console.log('');
}
