/**
 * The Estimator loop end to end on a tiny model (test/fixtures/estimator-tiny): resume equivalence,
 * checkpoints against live weights, event files, eval results, predictions, the simulated clock against the
 * compile report, and the bad paths (corrupted checkpoint, missing checkpoint, another machine's plan, NaN).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadMachine } from '../../compiler/machine.ts';
import { compileToDir } from '../../compiler/pipeline.ts';
import { Estimator } from '../../host/estimator.ts';
import { checkpointOf } from '../../host/hooks/checkpoint.ts';
import { firstBatch, loadModelDir, signatureOf, traceModel } from '../../host/model-dir.ts';
import { SupportServer } from '../../host/input/support-server.ts';
import { latestCheckpoint, readCheckpoint, readIndex, saveCheckpoint } from '../../runtime/checkpoint.ts';
import { UserError } from '../../runtime/errors.ts';
import type { Batch } from '../../runtime/batch.ts';
import { Wafer } from '../../wafer-sim/wafer.ts';
import { reportFor } from '../../host/commands/report.ts';
import { readScalars } from '../helpers/events.ts';

const FIXTURE = path.resolve(__dirname, '../fixtures/estimator-tiny');
const machine = loadMachine('wse2');
const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'csrun-est-'));

async function estimator(modelDir: string, runconfig: Record<string, unknown> = {}, optimizer?: Record<string, unknown>): Promise<Estimator> {
  const md = await loadModelDir(FIXTURE, { overrides: { runconfig: { model_dir: modelDir, ...runconfig } } });
  if (optimizer) Object.assign(md.params.optimizer, optimizer);
  return new Estimator(md, { machine, log: () => {}, progress: false });
}

function tensors(file: string): Record<string, Float32Array> {
  const c = readCheckpoint(file);
  return Object.fromEntries(Object.entries(c.tensors).map(([k, t]) => [k, t.data as Float32Array]));
}

describe('Estimator', () => {
  it('training N steps then resuming to 2N gives the weights of 2N steps straight', async () => {
    const straight = tmp();
    await (await estimator(straight)).train({ maxSteps: 20 });
    const resumed = tmp();
    const first = await (await estimator(resumed)).train({ maxSteps: 10 });
    expect(first.globalStep).toBe(10);
    const second = await (await estimator(resumed)).train({ maxSteps: 20 });
    expect(second.stepsRun).toBe(10);
    const a = tensors(latestCheckpoint(straight)!);
    const b = tensors(latestCheckpoint(resumed)!);
    expect(Object.keys(b).sort()).toEqual(Object.keys(a).sort());
    for (const k of Object.keys(a)) {
      const maxAbs = Math.max(...a[k].map((v) => Math.abs(v)), 1e-6);
      a[k].forEach((v, i) => expect(Math.abs(v - b[k][i]) / maxAbs).toBeLessThan(1e-5));
    }
    // max_steps already reached: nothing runs.
    const again = await (await estimator(resumed)).train({ maxSteps: 20 });
    expect(again.stepsRun).toBe(0);
    // --steps is incremental.
    const more = await (await estimator(resumed)).train({ steps: 3 });
    expect(more.globalStep).toBe(23);
    expect(readIndex(resumed)!.all_model_checkpoint_paths).toEqual(['model.ckpt-10.safetensors', 'model.ckpt-20.safetensors', 'model.ckpt-23.safetensors']);
  });

  it('writes the run files: params, sources, events, performance, sim reports agreeing with the compile report', async () => {
    const dir = tmp();
    await (await estimator(dir)).train({ maxSteps: 20 });
    expect(fs.readFileSync(path.join(dir, 'params.yaml'), 'utf8')).toContain('max_steps: 20');
    expect(fs.existsSync(path.join(dir, 'src', 'model.ts'))).toBe(true);
    expect(fs.existsSync(path.join(dir, 'src', 'configs', 'params.yaml'))).toBe(true);
    const ev = fs.readdirSync(dir).find((f) => f.startsWith('events.out.tfevents.'))!;
    const { scalars } = readScalars(fs.readFileSync(path.join(dir, ev)));
    const losses = scalars.filter(([, tag]) => tag === 'loss').map(([step]) => step);
    expect(losses).toEqual([5, 10, 15, 20]);
    expect(scalars.some(([, tag, v]) => tag === 'learning_rate' && Math.abs(v - 0.01) < 1e-9)).toBe(true);
    const perf = JSON.parse(fs.readFileSync(path.join(dir, 'performance.json'), 'utf8'));
    expect(perf.steps).toBe(20);
    expect(perf.host_samples_per_s).toBeGreaterThan(0);
    expect(perf.input_wait_fraction).toBeGreaterThanOrEqual(0);
    // The system rate is the slowest of wafer, host I/O and input pipeline, and names it.
    expect(perf.system_samples_per_s).toBe(Math.min(perf.wafer_samples_per_s, perf.io_samples_per_s ?? Infinity, perf.input_pipeline_samples_per_s ?? Infinity));
    expect(['wafer', 'host I/O', 'input pipeline']).toContain(perf.system_bound);
    const util = JSON.parse(fs.readFileSync(path.join(dir, 'sim', 'utilization.json'), 'utf8'));
    const report = JSON.parse(fs.readFileSync(path.join(dir, 'compile', 'train', 'compile_report.json'), 'utf8'));
    expect(util.kernels.map((k: any) => k.name)).toEqual(report.kernels.map((k: any) => k.name));
    util.kernels.forEach((k: any, i: number) => expect(k.cycles_per_sample).toBeCloseTo(report.kernels[i].cycles_per_sample, 6));
    // The clock is the flow simulation's: the run's rate is its batches' (cycles summed), and the comparison
    // with the estimate names a cause for every difference above 2%.
    expect(util.sim_level).toBe('flow');
    expect(util.samples_per_s).toBeCloseTo((util.samples * util.machine.clock_hz) / util.simulated_cycles, 6);
    expect(perf.simulated_samples_per_s / util.samples_per_s).toBeCloseTo(1, 9);
    expect(util.estimate.samples_per_s.estimate / report.estimate.samples_per_s).toBeCloseTo(1, 9);
    if (Math.abs(util.estimate.batch_cycles.difference) > 0.02) expect(util.estimate.cause).toMatch(/^(fill|link|credits|stash|ingress|egress)/);
    expect(['kernel', 'link', 'ingress', 'egress', 'credits', 'stash']).toContain(util.bottleneck.kind);
    // Traffic: the compute workers moved what the simulation moved, on every route.
    for (const r of util.routes) {
      expect(r.measured_bytes_forward).toBeCloseTo(r.bytes_forward, 6);
      expect(r.measured_bytes_backward).toBeCloseTo(r.bytes_backward, 6);
    }
    const links = JSON.parse(fs.readFileSync(path.join(dir, 'sim', 'links.json'), 'utf8'));
    expect(links.links.length).toBeGreaterThan(0);
    expect(fs.readFileSync(path.join(dir, 'sim', 'links.svg'), 'utf8')).toMatch(/^<svg[\s\S]*<\/svg>\n$/);
    const trace = JSON.parse(fs.readFileSync(path.join(dir, 'sim', 'trace.json'), 'utf8'));
    const cats = new Set(trace.traceEvents.filter((e: any) => e.ph === 'X').map((e: any) => e.cat));
    expect(cats).toContain('forward');
    expect(cats).toContain('backward');
    expect(trace.traceEvents.some((e: any) => e.ph === 'f' && e.bp === 'e')).toBe(true);
    // csrun report: estimate and simulation side by side, per kernel, causes named.
    const text = reportFor(dir, 'train');
    util.kernels.forEach((k: any, i: number) => {
      const c = util.estimate.kernels[i];
      expect(text).toMatch(new RegExp(`^${k.name}\\s+\\S+\\s+${k.cycles_per_sample}\\s+.*${(100 * c.utilization.estimate).toFixed(1)}%\\s+${(100 * c.utilization.simulation).toFixed(1)}%.*${c.cause ? '\\S' : ''}$`, 'm'));
    });
    expect(text).toMatch(/^batch cycles \(B = \d+\)/m);
    expect(() => reportFor(dir, 'eval')).toThrow(/compile\/eval\/compile_report\.json not found: compile and run the model first \(csrun eval or csrun simulate --mode eval\)/);
  });

  it('checkpoints hold the live weights and optimizer slots by name and shape', async () => {
    const dir = tmp();
    const est = await estimator(dir);
    const md = est.md;
    const server = await SupportServer.start({ dataModule: md.dataFile, params: md.params, mode: 'train', inProcess: true });
    const batches: Batch[] = [];
    for (let i = 0; i < 3; i++) batches.push((await server.next()).value as Batch);
    await server.close();
    const graph = traceModel(md, 'train', signatureOf(batches[0], md.dataFile));
    const { plan } = compileToDir(graph, machine, path.join(dir, 'compile', 'train'), { batchSize: md.params.train_input.batch_size! });
    const wafer = await Wafer.load(plan, graph, machine, { computeWorkers: 1 });
    try {
      for (let s = 0; s < 3; s++) await wafer.trainStep(batches[s], s);
      const live = await wafer.getState();
      const file = saveCheckpoint(dir, checkpointOf(live, graph, 3), 0);
      const ckpt = readCheckpoint(file);
      expect(ckpt.globalStep).toBe(3);
      expect(Object.keys(ckpt.tensors).sort()).toEqual([...graph.params.map((p) => p.name), ...live.slots.map((s) => s.name)].sort());
      expect(live.slots.map((s) => s.name)).toContain('conv2d/kernel/m');
      for (const a of [...live.params, ...live.slots]) {
        expect(ckpt.tensors[a.name].shape).toEqual(a.shape);
        expect(Array.from(ckpt.tensors[a.name].data as Float32Array)).toEqual(Array.from(a.data));
      }
    } finally {
      await wafer.close();
    }
  });

  it('evaluates (results.json, eval events) and predicts (predictions.jsonl)', async () => {
    const dir = tmp();
    const est = await estimator(dir);
    const { eval: res } = await est.trainAndEvaluate({ maxSteps: 20 });
    expect(res!.global_step).toBe(20);
    expect(res!.accuracy).toBeGreaterThan(0.5);
    expect(JSON.parse(fs.readFileSync(path.join(dir, 'eval', 'results.json'), 'utf8'))).toEqual(res);
    const evs = fs.readdirSync(path.join(dir, 'eval')).filter((f) => f.startsWith('events.out.tfevents.'));
    expect(evs).toHaveLength(1);
    const { scalars } = readScalars(fs.readFileSync(path.join(dir, 'eval', evs[0])));
    expect(scalars.filter(([, tag]) => tag === 'accuracy').map(([step]) => step)).toEqual([10, 20]);
    const all = await (await estimator(dir)).evalAll();
    expect(all.map((r) => r.global_step)).toEqual([10, 20]);
    expect(all[1].accuracy).toBeCloseTo(res!.accuracy, 6);
    const { file, count } = await (await estimator(dir)).predict();
    expect(count).toBe(128);
    const lines = fs.readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(lines).toHaveLength(128);
    expect(lines[0].logits).toHaveLength(4);
  });

  it('refuses a corrupted checkpoint, naming it, and leaves it untouched', async () => {
    const dir = tmp();
    await (await estimator(dir)).train({ maxSteps: 10 });
    const file = latestCheckpoint(dir)!;
    const bytes = fs.readFileSync(file);
    bytes[bytes.length - 5] ^= 0xff;
    fs.writeFileSync(file, bytes);
    const err = await (await estimator(dir)).train({ maxSteps: 20 }).catch((e) => e);
    expect(err).toBeInstanceOf(UserError);
    expect(err.message).toContain(`${file}: corrupted or truncated checkpoint`);
    expect(fs.readFileSync(file)).toEqual(bytes);
    fs.truncateSync(file, 100);
    await expect((await estimator(dir)).evaluate()).rejects.toThrow(`${file}: corrupted or truncated checkpoint`);
  });

  it('reports a missing --checkpoint-path and evaluation without any checkpoint', async () => {
    const dir = tmp();
    await expect((await estimator(dir)).train({ checkpointPath: path.join(dir, 'nope.safetensors') })).rejects.toThrow(/--checkpoint-path .*nope.safetensors: no such checkpoint file/);
    await expect((await estimator(dir)).evaluate()).rejects.toThrow(`no checkpoint in model_dir ${dir}: train first (csrun train) or pass --checkpoint-path`);
  });

  it('stops on a NaN loss naming the step; the last good checkpoint stays the latest', async () => {
    const dir = tmp();
    await (await estimator(dir, { save_checkpoints_steps: 2 })).train({ maxSteps: 2 });
    const err = await (await estimator(dir, { save_checkpoints_steps: 2 }, { optimizer_type: 'sgd', learning_rate: 1e30 })).train({ maxSteps: 20 }).catch((e) => e);
    expect(err).toBeInstanceOf(UserError);
    expect(err.message).toMatch(/loss is (NaN|Infinity|-Infinity) at step \d+: training stopped; the latest checkpoint model\.ckpt-\d+\.safetensors is from before the divergence/);
    const step = Number(/at step (\d+)/.exec(err.message)![1]);
    const latest = readCheckpoint(latestCheckpoint(dir)!);
    expect(latest.globalStep).toBeLessThan(step);
    for (const t of Object.values(latest.tensors)) for (const v of t.data as Float32Array) expect(Number.isFinite(v)).toBe(true);
  });

  it('refuses a plan compiled for another machine', async () => {
    const dir = tmp();
    const md = await loadModelDir(FIXTURE, { overrides: { runconfig: { model_dir: dir } } });
    const graph = traceModel(md, 'train', signatureOf(await firstBatch(md, 'train'), md.dataFile));
    const { plan } = compileToDir(graph, machine, path.join(dir, 'compile', 'train'), { batchSize: md.params.train_input.batch_size! });
    await expect(Wafer.load(plan, graph, loadMachine('wse3'))).rejects.toThrow(/the plan was compiled for machine 'wse2' .*not for 'wse3'.*recompile with --machine wse3/);
  });
});
