import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { UserError } from '../../runtime/errors.ts';
import { runCompile } from '../../host/commands/compile.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const example = (name: string) => path.join(root, 'examples', name);
const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'csrun-cli-compile-'));

async function compile(dir: string, opts: Parameters<typeof runCompile>[1]): Promise<string> {
  let out = '';
  await runCompile(dir, opts, (s) => {
    out += s;
  });
  return out;
}

describe('csrun compile', () => {
  for (const name of ['mnist', 'fc_mnist', 'alexnet_params', 'resnet50']) {
    it(`compiles examples/${name}: plan, text and JSON reports, SVG`, async () => {
      const md = tmp();
      const out = await compile(example(name), { modelDir: md });
      expect(out).toMatch(/Estimated samples\/s/);
      const dir = path.join(md, 'compile', 'train');
      for (const f of ['plan.json', 'compile_report.txt', 'compile_report.json', 'placement.svg']) expect(fs.existsSync(path.join(dir, f)), f).toBe(true);
      const j = JSON.parse(fs.readFileSync(path.join(dir, 'compile_report.json'), 'utf8'));
      expect(j.machine.name).toBe('wse2');
      expect(j.mode).toBe('train');
      expect(j.estimate.samples_per_s).toBeGreaterThan(0);
      expect(j.kernels.length).toBeGreaterThan(2);
      expect(j.routes.length).toBeGreaterThan(2);
      expect(fs.readFileSync(path.join(dir, 'placement.svg'), 'utf8')).toMatch(/^<svg [^>]*xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
      if (name === 'resnet50') {
        expect(j.kernels.filter((k: { kind: string }) => k.kind === 'conv')).toHaveLength(54); // 53 convs + classifier
        expect(j.estimate.active_pe_fraction).toBeGreaterThan(0.8);
      }
    });
  }

  it('reuses the cached plan when nothing changed and says so; --mode eval compiles separately', async () => {
    const md = tmp();
    await compile(example('mnist'), { modelDir: md });
    const again = await compile(example('mnist'), { modelDir: md });
    expect(again).toMatch(/Compile cache hit/);
    const ev = await compile(example('mnist'), { modelDir: md, mode: 'eval' });
    expect(ev).not.toMatch(/cache hit/);
    expect(JSON.parse(fs.readFileSync(path.join(md, 'compile/eval/compile_report.json'), 'utf8')).kernels.every((k: { copies: number }) => k.copies === 1)).toBe(true);
  });

  it('--validate-only prints the Keras summary and the kernel list and writes no plan', async () => {
    const md = tmp();
    const out = await compile(example('mnist'), { modelDir: md, validateOnly: true });
    expect(out).toMatch(/Total params: 111,242/);
    expect(out).toMatch(/conv2d_1\s+conv2d\+relu\+batchNormalization\s+conv H=26/);
    expect(out).toMatch(/Validation passed/);
    expect(fs.existsSync(path.join(md, 'compile'))).toBe(false);
  });

  it('--emit-kgraph regenerates the kgraph fixtures of resnet50 and alexnet_params', async () => {
    for (const name of ['alexnet_params', 'resnet50']) {
      const file = path.join(tmp(), `${name}.kgraph`);
      await compile(example(name), { modelDir: tmp(), validateOnly: true, emitKgraph: file });
      expect(fs.readFileSync(file, 'utf8')).toBe(fs.readFileSync(path.join(root, `test/fixtures/compiler-${name}.kgraph`), 'utf8'));
    }
  });

  it('--machine selects a machine by name or path; a model too large names kernel, bytes per PE and machine', async () => {
    const md = tmp();
    const out = await compile(example('fc_mnist'), { modelDir: md, machine: 'wse3' });
    expect(out).toMatch(/machine wse3 \(762×1172 PEs/);
    const err = await compile(example('alexnet_params'), { modelDir: md, machine: path.join(root, 'test/fixtures/compiler-tiny-machine.yaml') }).catch((e) => e);
    expect(err).toBeInstanceOf(UserError);
    expect(err.message).toMatch(/kernel 'conv2d'/);
    expect(err.message).toMatch(/machine 'tiny' \(16×16 PEs, 49152 bytes of SRAM per PE\)/);
    expect(err.message).toMatch(/at least \d+ bytes per PE/);
    await expect(compile(example('mnist'), { modelDir: md, machine: 'wse9' })).rejects.toThrow(UserError);
    await expect(compile(example('mnist'), { modelDir: md, mode: 'training' })).rejects.toThrow(/--mode 'training'/);
  });

  it('bad input ends with one line on stderr and exit code 1', async () => {
    const run = promisify(execFile);
    const err = await run(process.execPath, [path.join(root, 'bin/csrun.js'), 'compile', example('mnist'), '--machine', 'wse9', '--model-dir', tmp()], { cwd: root }).catch((e) => e);
    expect(err.code).toBe(1);
    expect(err.stderr.trim().split('\n')).toHaveLength(1);
    expect(err.stderr).toMatch(/^csrun: error: unknown machine 'wse9'/);
  });
});
