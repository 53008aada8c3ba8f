/**
 * The import graph follows the data flow of docs/design.md §1: `host → wafer-sim → compiler → runtime`
 * (an arrow means "may import"). No module imports a layer above its own, and no import runs back up.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(import.meta.dirname, '..', '..');
/** Layers from the bottom up: a file may import its own layer and the ones below it. */
const LAYERS = ['runtime', 'compiler', 'wafer-sim', 'host'] as const;

/** Every .ts/.mjs source file under a top-level folder, as repository-relative paths. */
function sources(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of fs.readdirSync(path.join(ROOT, d), { withFileTypes: true })) {
      const rel = path.join(d, e.name);
      if (e.isDirectory()) walk(rel);
      else if (/\.(ts|mjs)$/.test(e.name)) out.push(rel);
    }
  };
  walk(dir);
  return out;
}

/** Relative import specifiers of a source text (static `import … from`, `export … from`, `import()`, `new URL(…)`). */
function relativeImports(text: string): string[] {
  const specs: string[] = [];
  const re = /(?:from\s+|import\s*\(\s*|import\s+|new URL\(\s*)['"](\.{1,2}\/[^'"]+)['"]/g;
  for (let m = re.exec(text); m; m = re.exec(text)) specs.push(m[1]);
  return specs;
}

/** The layer a repository-relative path belongs to, or null outside the four layers. */
function layerOf(rel: string): number | null {
  const top = rel.split(path.sep)[0];
  const i = (LAYERS as readonly string[]).indexOf(top);
  return i < 0 ? null : i;
}

/** Imports of `file` (repository-relative, source `text`) that reach a layer above the file's own. */
function upwardImports(file: string, text: string): string[] {
  const own = layerOf(file)!;
  return relativeImports(text)
    .map((spec) => path.relative(ROOT, path.resolve(ROOT, path.dirname(file), spec)))
    .filter((target) => (layerOf(target) ?? -1) > own)
    .map((target) => `${file} imports ${target}`);
}

describe('import graph', () => {
  it('no import runs against the data flow host → wafer-sim → compiler → runtime', () => {
    const files = LAYERS.flatMap(sources);
    expect(files.length).toBeGreaterThan(50);
    const violations = files.flatMap((f) => upwardImports(f, fs.readFileSync(path.join(ROOT, f), 'utf8')));
    expect(violations).toEqual([]);
  });

  it('catches an upward import in every form it reads', () => {
    const text = [
      "import { x } from '../host/cli.ts';",
      "export * from '../../wafer-sim/wafer.ts';",
      "const m = await import('../compiler/ir.ts');",
      "const u = new URL('../host/w.mjs', import.meta.url);",
      "import type { Graph } from './graph.ts';",
    ].join('\n');
    expect(upwardImports(path.join('runtime', 'x.ts'), text)).toEqual([
      'runtime/x.ts imports host/cli.ts',
      'runtime/x.ts imports compiler/ir.ts',
      'runtime/x.ts imports host/w.mjs',
    ]);
    expect(upwardImports(path.join('host', 'x.ts'), text)).toEqual([]);
  });
});
