import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { runPlace } from '../../host/commands/place.ts';
import { checkPaint } from '../compiler/helpers/legality.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const fixture = path.join(root, 'test/fixtures/compiler-alexnet_params.kgraph');
const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'csrun-cli-place-'));

describe('csrun place', () => {
  it('writes a legal .paint and prints max kernel time, wirelength, score and legality', () => {
    const out = path.join(tmp(), 'a.paint');
    let text = '';
    runPlace(fixture, { out, timeLimit: '2' }, (s) => {
      text += s;
    });
    const check = checkPaint(fs.readFileSync(fixture, 'utf8'), fs.readFileSync(out, 'utf8'));
    expect(check.violations).toEqual([]);
    const num = (label: string) => Number(new RegExp(`${label}\\s+([\\d,.]+)`).exec(text)![1].replace(/,/g, ''));
    expect(num('Max kernel time')).toBe(check.maxTime);
    expect(num('Wirelength')).toBeCloseTo(check.wirelength, 1);
    expect(num('Score')).toBeCloseTo(check.score, 1);
    expect(text).toMatch(/Legal\s+yes/);
  });

  it('--verbose prints the best solution at each max time explored and marks the chosen one', () => {
    let text = '';
    runPlace(fixture, { out: path.join(tmp(), 'v.paint'), timeLimit: '1', verbose: true }, (s) => {
      text += s;
    });
    const score = /Score\s+([\d,.]+)/.exec(text)![1];
    const rows = text.split('\n').filter((l) => /^\s+\d+\.\d{3}\s/.test(l));
    expect(rows.length).toBeGreaterThan(0);
    expect(rows.filter((l) => l.includes('← chosen')).every((l) => l.includes(score))).toBe(true);
    expect(rows.some((l) => l.includes('← chosen'))).toBe(true);
    expect(() => runPlace(fixture, { seed: 'x' }, () => {})).toThrow(/--seed/);
  });

  it('writes FILE.paint beside a kgraph by default', () => {
    const dir = tmp();
    const k = path.join(dir, 'x.kgraph');
    fs.copyFileSync(fixture, k);
    runPlace(k, { timeLimit: '1' }, () => {});
    expect(fs.existsSync(path.join(dir, 'x.paint'))).toBe(true);
  });

  it('names the line of a malformed kgraph, and rejects bad options, with exit code 1', async () => {
    const dir = tmp();
    const bad = path.join(dir, 'bad.kgraph');
    const lines = fs.readFileSync(fixture, 'utf8').split('\n');
    lines[12] = 'conv[1] W=200 H=300 R=11 S=11 C=3 T=4 U=4 name=\'conv2d\'';
    fs.writeFileSync(bad, lines.join('\n'));
    expect(() => runPlace(bad, {}, () => {})).toThrow(/bad\.kgraph:13: conv node 1 lacks attribute K/);
    expect(() => runPlace(fixture, { timeLimit: '-1' }, () => {})).toThrow(/--time-limit/);
    expect(() => runPlace(path.join(dir, 'none.kgraph'), {}, () => {})).toThrow(/does not exist/);
    const run = promisify(execFile);
    const err = await run(process.execPath, [path.join(root, 'bin/csrun.js'), 'place', bad], { cwd: root }).catch((e) => e);
    expect(err.code).toBe(1);
    expect(err.stderr).toMatch(/^csrun: error: .*bad\.kgraph:13: conv node 1 lacks attribute K\n$/);
  });
});
