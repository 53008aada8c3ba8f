/**
 * The simulation engines compute time themselves (docs/design.md §10): nothing they load, directly or
 * through other modules, is the compile estimate's timing (compiler/estimate.ts: `batchCycles`, the fill
 * and critical path, `kernelStartCycles`, `planEstimate`, the interval), and their code never reads a plan's
 * `estimate`. The pass graph (compiler/pass-graph.ts) is structure and may be loaded.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(__dirname, '../..');
const SIM = path.join(ROOT, 'wafer-sim/sim');
const FORBIDDEN = /\.estimate\b|\b(planEstimate|kernelStartCycles|batchTiming|criticalPath|batchCycles)\s*\(/;

/** Source without comments and string contents. */
function code(file: string): string {
  return fs.readFileSync(file, 'utf8').replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/.*$/gm, '').replace(/`(?:\\.|[^`\\])*`|'(?:\\.|[^'\\])*'/g, "''");
}

/** Relative modules a file loads at run time (`import type` is erased and does not count). */
function runtimeImports(file: string): string[] {
  const src = fs.readFileSync(file, 'utf8');
  const out: string[] = [];
  for (const m of src.matchAll(/^\s*(import|export)\s+(?!type\b)[^;]*?from\s+'(\.[^']+)'/gm)) out.push(path.resolve(path.dirname(file), m[2]));
  return out;
}

describe('independence from the estimate', () => {
  it('the engines load nothing of compiler/estimate.ts, directly or transitively', () => {
    const seen = new Set<string>();
    const todo = fs.readdirSync(SIM).filter((f) => f.endsWith('.ts')).map((f) => path.join(SIM, f));
    expect(todo.length).toBeGreaterThanOrEqual(6);
    while (todo.length) {
      const f = todo.pop()!;
      if (seen.has(f)) continue;
      seen.add(f);
      todo.push(...runtimeImports(f));
    }
    const loaded = [...seen].map((f) => path.relative(ROOT, f));
    expect(loaded).toContain('compiler/pass-graph.ts');
    expect(loaded).toContain('compiler/fabric.ts');
    expect(loaded).not.toContain('compiler/estimate.ts');
  });

  it('no engine file uses the estimate\'s timing or a plan\'s estimate', () => {
    for (const f of [...fs.readdirSync(SIM).filter((x) => x.endsWith('.ts')).map((x) => path.join(SIM, x)), path.join(ROOT, 'compiler/pass-graph.ts')]) {
      expect(FORBIDDEN.exec(code(f))?.[0], path.relative(ROOT, f)).toBeUndefined();
    }
    // the check itself finds a use
    expect(FORBIDDEN.test(code(path.join(ROOT, 'compiler/estimate.ts')))).toBe(true);
  });
});
