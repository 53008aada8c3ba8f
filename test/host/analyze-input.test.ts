/**
 * csrun analyze-input (host/input/analyze.ts, host/commands/analyze-input.ts) on test/fixtures/input-busy, a
 * pipeline of known cost (5 ms per sample): the wafer (millions of samples/s) is input-bound, the
 * recommendation follows from the measured rate, and bad input functions are one clear error. The rates
 * themselves are checked in input-rate.timing.test.ts, which runs alone.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { slurmSettings } from '../../host/input/analyze.ts';
import { runAnalyzeInput } from '../../host/commands/analyze-input.ts';
import { runSimulate } from '../../host/commands/simulate.ts';

const FIXTURE = path.resolve(__dirname, '../fixtures/input-busy');

/** A params file for the fixture with `train_input` edits, in a temp dir. */
function paramsWith(edit: Record<string, unknown>): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'csrun-ai-'));
  const text = fs.readFileSync(path.join(FIXTURE, 'configs/params.yaml'), 'utf8').replace('train_input:\n', `train_input:\n${Object.entries(edit).map(([k, v]) => `  ${k}: ${v}\n`).join('')}`);
  const file = path.join(dir, 'params.yaml');
  fs.writeFileSync(file, text);
  return file;
}

describe('analyze-input', () => {
  it('reports input-bound with workers_needed = ⌈wafer rate ÷ per-worker rate⌉ and writes input_analysis.json/.txt', async () => {
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'csrun-ai-out-'));
    let printed = '';
    const a = await runAnalyzeInput(FIXTURE, { workers: '1', seconds: '1', coresPerNode: '8', modelDir: out }, (s) => (printed += s));
    expect(a.input_bound).toBe(true);
    expect(a.wafer_samples_per_s).toBeGreaterThan(1e4);
    expect(a.workers_needed).toBe(Math.ceil(a.wafer_samples_per_s / a.per_worker_samples_per_s));
    expect(a.per_worker_samples_per_s).toBe(a.measurements[0].per_worker_samples_per_s);
    expect(a.slurm).toEqual(slurmSettings(a.workers_needed, 8));
    const json = JSON.parse(fs.readFileSync(path.join(out, 'input_analysis.json'), 'utf8'));
    for (const k of ['mode', 'batch_size', 'measurements', 'wafer_samples_per_s', 'input_bound', 'workers_needed', 'slurm']) expect(json).toHaveProperty(k);
    expect(json.measurements[0]).toEqual(expect.objectContaining({ workers: 1, samples_per_s: expect.any(Number), bytes_per_s: expect.any(Number), cpu_s_per_s: expect.any(Number) }));
    expect(json.slurm).toEqual(expect.objectContaining({ nodes: expect.any(Number), ntasks_per_node: 1, cpus_per_task: expect.any(Number) }));
    const txt = fs.readFileSync(path.join(out, 'input_analysis.txt'), 'utf8');
    expect(txt).toMatch(/Input-bound/);
    expect(txt).toMatch(/#SBATCH --nodes=\d+/);
    expect(printed).toContain(txt);
    // csrun simulate bounds the wafer by the measured input pipeline.
    let sim = '';
    await runSimulate(FIXTURE, { modelDir: out }, (s) => (sim += s));
    expect(sim).toMatch(new RegExp(`^system +\\S+ samples/s, input-bound \\(input pipeline \\S+ samples/s with 1 worker\\(s\\), from .*input_analysis\\.json; ${a.workers_needed} workers`, 'm'));
  }, 60_000);

  it('Slurm: one task per node, one worker per CPU plus the main thread', () => {
    expect(slurmSettings(21, 2)).toEqual({ nodes: 21, ntasks_per_node: 1, cpus_per_task: 2 });
    expect(slurmSettings(10, 8)).toEqual({ nodes: 2, ntasks_per_node: 1, cpus_per_task: 8 });
    expect(slurmSettings(3, 64)).toEqual({ nodes: 1, ntasks_per_node: 1, cpus_per_task: 4 });
    expect(() => slurmSettings(3, 1)).toThrow(/cores-per-node/);
  });

  it('an inputFn that yields nothing, or throws, is one clear error naming it', async () => {
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'csrun-ai-bad-'));
    await expect(runAnalyzeInput(FIXTURE, { workers: '1', seconds: '0.2', params: paramsWith({ behaviour: 'empty' }), modelDir: out }, () => {})).rejects.toThrow(/data\.ts.*yielded no batches/);
    await expect(runAnalyzeInput(FIXTURE, { workers: '1', seconds: '0.2', params: paramsWith({ behaviour: 'throw' }), modelDir: out }, () => {})).rejects.toThrow(/data\.ts.*reader failed on purpose/);
    await expect(runAnalyzeInput(FIXTURE, { workers: '0,1' }, () => {})).rejects.toThrow(/--workers '0,1'/);
    await expect(runAnalyzeInput(FIXTURE, { seconds: 'x' }, () => {})).rejects.toThrow(/--seconds 'x'/);
  }, 60_000);
});
