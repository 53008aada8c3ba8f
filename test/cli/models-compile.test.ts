/**
 * `csrun compile` on the modelzoo key sets of examples/gpt2 and examples/unet: GPT-2 small reports its
 * parameter count and the "too large for pipelined execution" failure; the full-size UNets of
 * params_severstal.yaml and params_dagm.yaml compile for WSE-2 into legal plans.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { kernelCost } from '../../compiler/estimate.ts';
import { loadMachine, memoryWordsPerPe } from '../../compiler/machine.ts';
import type { Plan } from '../../compiler/ir.ts';

const root = path.resolve(__dirname, '../..');
const fixtures = path.join(root, 'test/fixtures/modelzoo');
const run = (args: string[]) => promisify(execFile)(process.execPath, [path.join(root, 'bin/csrun.js'), ...args], { cwd: root, maxBuffer: 1 << 26 }).catch((e) => e);

describe('csrun compile with modelzoo params', () => {
  it('GPT-2 small (--validate-only): the summary gives 124,439,808 parameters, then one "too large" error, exit 1', async () => {
    const r = await run(['compile', path.join(root, 'examples/gpt2'), '--validate-only', '--params', path.join(fixtures, 'gpt2_small_params.yaml')]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('Total params: 124,439,808');
    const errors = r.stderr.trim().split('\n').filter((l: string) => l.startsWith('csrun: error'));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/too large for pipelined execution/);
    expect(errors[0]).toMatch(/PEs/);
  }, 240_000);

  for (const file of ['unet_severstal_keys.yaml', 'unet_dagm_keys.yaml']) {
    it(`the UNet of ${file} compiles for WSE-2 into a legal plan`, async () => {
      const md = fs.mkdtempSync(path.join(os.tmpdir(), 'csrun-unet-compile-'));
      const r = await run(['compile', path.join(root, 'examples/unet'), '--params', path.join(fixtures, file), '--model-dir', md, '--machine', 'wse2']);
      expect(r.code ?? 0, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/Compute samples\/s/);
      expect(r.stdout).toMatch(/Active PEs/);
      const plan = JSON.parse(fs.readFileSync(path.join(md, 'compile/train/plan.json'), 'utf8')) as Plan;
      const machine = loadMachine('wse2');
      const { width: FW, height: FH } = machine.fabric;
      expect(plan.kernels.filter((k) => k.spec.kind === 'conv').length).toBeGreaterThan(10);
      for (const k of plan.kernels) {
        expect(k.x >= 0 && k.y >= 0 && k.x + k.width <= FW && k.y + k.height <= FH, `${k.name} inside the fabric`).toBe(true);
        const cost = kernelCost(k.spec, k.exec, k.copies, machine.macsPerPePerCycle);
        expect(k.rotation === 'R0' ? [cost.width, cost.height] : [cost.height, cost.width], `${k.name} rectangle`).toEqual([k.width, k.height]);
        expect(cost.memoryWordsPerPe).toBeLessThanOrEqual(memoryWordsPerPe(machine));
      }
      for (let i = 0; i < plan.kernels.length; i++) {
        for (let j = i + 1; j < plan.kernels.length; j++) {
          const [a, b] = [plan.kernels[i], plan.kernels[j]];
          expect(a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height, `${a.name} / ${b.name} overlap`).toBe(false);
        }
      }
      expect(plan.routes).toHaveLength(plan.edges.length);
      fs.rmSync(md, { recursive: true, force: true });
    }, 240_000);
  }
});
