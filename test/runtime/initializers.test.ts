/**
 * Initializers: Keras fan rules, distributions (bounds and moments), determinism in the seed.
 */
import { describe, expect, it } from 'vitest';
import type { InitializerSpec } from '../../runtime/graph.ts';
import { computeFans, initialize, INITIALIZERS } from '../../runtime/initializers.ts';

const spec = (name: string, seed = 1, config: Record<string, number> = {}): InitializerSpec => ({ name, seed, config });

function moments(a: Float32Array): { mean: number; std: number; min: number; max: number } {
  let s = 0;
  let min = Infinity;
  let max = -Infinity;
  for (const v of a) {
    s += v;
    min = Math.min(min, v);
    max = Math.max(max, v);
  }
  const mean = s / a.length;
  let q = 0;
  for (const v of a) q += (v - mean) ** 2;
  return { mean, std: Math.sqrt(q / a.length), min, max };
}

describe('fans (Keras _compute_fans)', () => {
  it('dense, conv, vectors and scalars', () => {
    expect(computeFans([784, 500])).toEqual({ fanIn: 784, fanOut: 500 });
    expect(computeFans([3, 3, 32, 64])).toEqual({ fanIn: 288, fanOut: 576 });
    expect(computeFans([5, 16, 8])).toEqual({ fanIn: 80, fanOut: 40 });
    expect(computeFans([10])).toEqual({ fanIn: 10, fanOut: 10 });
    expect(computeFans([])).toEqual({ fanIn: 1, fanOut: 1 });
  });
});

describe('distributions', () => {
  const shape = [3, 3, 32, 64]; // fanIn 288, fanOut 576
  const n = 3 * 3 * 32 * 64;
  it('glorotUniform: U(±√(6/(fanIn+fanOut)))', () => {
    const a = initialize(spec('glorotUniform'), shape);
    const limit = Math.sqrt(6 / (288 + 576));
    const m = moments(a);
    expect(a.length).toBe(n);
    expect(m.min).toBeGreaterThanOrEqual(-limit);
    expect(m.max).toBeLessThan(limit);
    expect(m.max).toBeGreaterThan(0.99 * limit);
    expect(Math.abs(m.mean)).toBeLessThan(0.01 * limit);
    expect(m.std).toBeCloseTo(limit / Math.sqrt(3), 3);
  });
  const normals: [string, number][] = [
    ['glorotNormal', Math.sqrt(2 / (288 + 576))],
    ['heNormal', Math.sqrt(2 / 288)],
    ['lecunNormal', Math.sqrt(1 / 288)],
  ];
  for (const [name, std] of normals) {
    it(`${name}: truncated normal with variance scale/n (std ${std.toFixed(4)})`, () => {
      const m = moments(initialize(spec(name, 4), shape));
      expect(m.std / std).toBeGreaterThan(0.97);
      expect(m.std / std).toBeLessThan(1.03);
      const bound = (2 * std) / 0.87962566103423978;
      expect(m.max).toBeLessThanOrEqual(bound);
      expect(m.min).toBeGreaterThanOrEqual(-bound);
      expect(Math.abs(m.mean)).toBeLessThan(0.02 * std);
    });
  }
  for (const [name, limit] of [['heUniform', Math.sqrt(6 / 288)], ['lecunUniform', Math.sqrt(3 / 288)]] as const) {
    it(`${name}: U(±${limit.toFixed(4)})`, () => {
      const m = moments(initialize(spec(name, 5), shape));
      expect(m.max).toBeLessThan(limit);
      expect(m.min).toBeGreaterThanOrEqual(-limit);
      expect(m.std).toBeCloseTo(limit / Math.sqrt(3), 3);
    });
  }
  it('randomNormal, randomUniform, truncatedNormal with Keras defaults and configs', () => {
    let m = moments(initialize(spec('randomNormal'), [20000]));
    expect(m.std).toBeCloseTo(0.05, 2);
    m = moments(initialize(spec('randomNormal', 2, { mean: 3, stddev: 2 }), [20000]));
    expect(m.mean).toBeCloseTo(3, 1);
    expect(m.std).toBeCloseTo(2, 1);
    m = moments(initialize(spec('randomUniform'), [20000]));
    expect(m.min).toBeGreaterThanOrEqual(-0.05);
    expect(m.max).toBeLessThan(0.05);
    m = moments(initialize(spec('randomUniform', 3, { minval: 2, maxval: 4 }), [20000]));
    expect(m.min).toBeGreaterThanOrEqual(2);
    expect(m.mean).toBeCloseTo(3, 1);
    m = moments(initialize(spec('truncatedNormal', 4, { stddev: 1 }), [20000]));
    expect(m.max).toBeLessThanOrEqual(2);
    expect(m.min).toBeGreaterThanOrEqual(-2);
    expect(m.std).toBeCloseTo(0.8796, 1);
  });
  it('zeros, ones, constant', () => {
    expect(Array.from(initialize(spec('zeros'), [3]))).toEqual([0, 0, 0]);
    expect(Array.from(initialize(spec('ones'), [2, 2]))).toEqual([1, 1, 1, 1]);
    expect(Array.from(initialize(spec('constant', 1, { value: 0.25 }), [2]))).toEqual([0.25, 0.25]);
  });
});

describe('determinism and errors', () => {
  it('the same spec gives the same values; another seed others', () => {
    for (const name of INITIALIZERS) {
      const a = initialize(spec(name, 9), [17, 5]);
      expect(Array.from(initialize(spec(name, 9), [17, 5]))).toEqual(Array.from(a));
      if (!['zeros', 'ones', 'constant'].includes(name)) expect(Array.from(initialize(spec(name, 10), [17, 5]))).not.toEqual(Array.from(a));
    }
  });
  it('unknown names and bad configs are errors naming the initializer', () => {
    expect(() => initialize(spec('glorot'), [2])).toThrow(/unknown initializer 'glorot'/);
    expect(() => initialize(spec('randomUniform', 1, { minval: 1, maxval: 0 }), [2])).toThrow(/randomUniform.*maxval/);
    expect(() => initialize(spec('zeros'), [2, -1])).toThrow(/bad shape/);
  });
});
