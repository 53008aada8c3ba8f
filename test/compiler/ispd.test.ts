/**
 * `csrun place` on kgraph files the project generates from its own examples (test/fixtures, emitted by
 * `csrun compile --emit-kgraph`), checked by a legality checker written apart from the placer.
 */
import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { solveIspd } from '../../compiler/ispd/solve.ts';
import { parseKgraph, writePaint } from '../../compiler/ispd/kgraph.ts';
import { checkPaint } from './helpers/legality.ts';

const fixture = (name: string) => fs.readFileSync(new URL(`../fixtures/${name}.kgraph`, import.meta.url), 'utf8');

describe('ISPD placement of our examples', () => {
  for (const name of ['compiler-alexnet_params', 'compiler-resnet50']) {
    it(`places ${name} legally, and its reported time, wirelength and score are right`, () => {
      const text = fixture(name);
      const s = solveIspd(parseKgraph(text, name), { timeLimitS: 3 });
      const report = checkPaint(text, writePaint(s.placed.kernels));
      expect(report.violations).toEqual([]);
      expect(s.legal).toBe(true);
      expect(report.maxTime).toBe(s.maxTime);
      expect(report.wirelength).toBeCloseTo(s.wirelength, 6);
      expect(report.score).toBeCloseTo(s.score, 6);
      expect(s.maxTime).toBeGreaterThanOrEqual(s.areaBound);
    });
  }

  it('the independent checker catches illegal solutions', () => {
    const text = fixture('compiler-alexnet_params');
    const s = solveIspd(parseKgraph(text), { timeLimitS: 1 });
    const ks = s.placed.kernels.map((k) => ({ ...k }));
    ks[1].x = ks[0].x;
    ks[1].y = ks[0].y;
    expect(checkPaint(text, writePaint(ks)).violations.join()).toMatch(/overlap/);
    const out = s.placed.kernels.map((k, i) => (i === 0 ? { ...k, x: 757 } : k));
    expect(checkPaint(text, writePaint(out)).violations.join()).toMatch(/outside the fabric/);
    const mem = s.placed.kernels.map((k, i) => (i === 5 ? { ...k, exec: { ...k.exec, c: 1, k: 1 } } : k));
    expect(checkPaint(text, writePaint(mem)).violations.join()).toMatch(/memory/);
  });
});
