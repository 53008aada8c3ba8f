import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { UserError } from '../../runtime/errors.ts';
import { BUILTIN_MACHINES, linkBytesPerCycle, loadMachine, memoryWordsPerPe, parseMachine } from '../../compiler/machine.ts';

describe('machine descriptions', () => {
  it('ships wse1, wse2 and wse3 with the docs/design.md §6 figures', () => {
    const dims = { wse1: [633, 633], wse2: [757, 996], wse3: [762, 1172] };
    for (const name of BUILTIN_MACHINES) {
      const m = loadMachine(name);
      expect(m.name).toBe(name);
      expect([m.fabric.width, m.fabric.height]).toEqual(dims[name]);
      expect(m.sramBytesPerPe).toBe(48 * 1024);
      expect(m.linkBitsPerCycle).toBe(32);
      expect(linkBytesPerCycle(m)).toBe(4);
      // ISPD 2020 memlimit: 24576 words of 2 bytes
      expect(memoryWordsPerPe(m)).toBe(24576);
    }
    expect(loadMachine('wse2').clockHz).toBe(850e6);
    expect(loadMachine().name).toBe('wse2');
  });

  it('marks assumed figures as assumptions and cites sources in every config', () => {
    for (const name of BUILTIN_MACHINES) {
      const text = fs.readFileSync(new URL(`../../configs/${name}.yaml`, import.meta.url), 'utf8');
      expect(text).toMatch(/ASSUMPTION/);
      expect(text).toMatch(/Source/);
    }
  });

  it('reads a custom machine from a path (64 × 64 fabric)', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'csrun-machine-'));
    const text = fs.readFileSync(new URL('../../configs/wse2.yaml', import.meta.url), 'utf8').replace('name: wse2', 'name: tiny').replace('width: 757', 'width: 64').replace('height: 996', 'height: 64');
    fs.writeFileSync(path.join(dir, 'tiny.yaml'), text);
    const m = loadMachine('tiny.yaml', dir);
    expect(m.name).toBe('tiny');
    expect(m.fabric).toEqual({ width: 64, height: 64 });
    expect(m.source).toBe(path.join(dir, 'tiny.yaml'));
  });

  it('rejects unknown names, missing files and bad keys with the file and key named', () => {
    expect(() => loadMachine('wse4')).toThrow(/unknown machine 'wse4'.*wse1, wse2, wse3/);
    expect(() => loadMachine('./nope.yaml')).toThrow(UserError);
    const good = fs.readFileSync(new URL('../../configs/wse1.yaml', import.meta.url), 'utf8');
    expect(() => parseMachine(good.replace('clock_hz', 'clock_hzz'), 'm.yaml')).toThrow(/m\.yaml.*clock_hzz.*did you mean 'clock_hz'/);
    expect(() => parseMachine(good.replace('width: 633', 'width: -3'), 'm.yaml')).toThrow(/m\.yaml.*fabric\.width/);
    expect(() => parseMachine('a: [', 'm.yaml')).toThrow(/m\.yaml: not valid YAML/);
  });
});
