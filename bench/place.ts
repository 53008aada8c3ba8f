/**
 * ISPD 2020 placement benchmark (not a test): `npm run bench:place -- [--time-limit S] [--long S]
 * [--wlength 1,40,400] [--only A,C] [--long-only A,N] [--baseline REV]`.
 *
 * For every kgraph in ../shared/ispd2020 and every wlength (default 1, 40, 400: the variants), it
 * prints the score of the baseline solver (compiler/ispd/solve.ts at git revision REV, default f75500c, the
 * solver before the whole-objective anytime search), the current solver's score at the same time limit
 * (default 10 s), their ratio, and the current solver with the long limit (default 60 s; `--long 0` skips
 * it, `--long-only` restricts it to some benchmarks). Each instance also reports its wall time against the
 * limit + 1 s target.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseKgraph, type Kgraph } from '../compiler/ispd/kgraph.ts';
import { solveIspd, type IspdOptions } from '../compiler/ispd/solve.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const argv = process.argv.slice(2);
const arg = (name: string, dflt: string) => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : dflt;
};
const limit = Number(arg('--time-limit', '10'));
const long = Number(arg('--long', '60'));
const wlengths = arg('--wlength', '1,40,400').split(',').map(Number);
const only = arg('--only', '').split(',').filter(Boolean);
const longOnly = arg('--long-only', '').split(',').filter(Boolean);
const baselineRev = arg('--baseline', 'f75500c');

type Solve = (k: Kgraph, o: IspdOptions) => { score: number; maxTime: number; areaBound: number; legal: boolean; elapsedMs: number };

/** The solver of a git revision, its relative imports pointed at today's modules (their APIs unchanged). */
async function baselineSolver(rev: string): Promise<Solve> {
  const src = execFileSync('git', ['-C', root, 'show', `${rev}:compiler/ispd/solve.ts`], { encoding: 'utf8' });
  const dir = path.join(root, 'compiler/ispd');
  const text = src.replace(/from '(\.{1,2}\/[^']+)'/g, (_, p: string) => `from '${pathToFileURL(path.resolve(dir, p)).href}'`);
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'csrun-bench-place-')), 'solve.ts');
  fs.writeFileSync(file, text);
  return ((await import(pathToFileURL(file).href)) as { solveIspd: Solve }).solveIspd;
}

const dir = path.resolve(root, '..', 'shared', 'ispd2020');
if (!fs.existsSync(dir)) {
  console.log(`${dir} not present, nothing to measure`);
  process.exit(0);
}
const old = await baselineSolver(baselineRev);
const n = (x: number) => x.toLocaleString('en-US', { maximumFractionDigits: 0 });
const head = ['bench', 'wlength', `baseline ${limit} s`, `new ${limit} s`, 'new/base', 'new max/bound', `new ${long} s`, `${long} s/${limit} s`, 'legal', 'wall s (base/new/long)'];
console.log(`ISPD 2020 (${dir}); baseline = compiler/ispd/solve.ts at ${baselineRev}; seed 1`);
console.log(`| ${head.join(' | ')} |`);
console.log(`|${head.map(() => ' --- ').join('|')}|`);
for (const f of fs.readdirSync(dir).filter((x) => x.endsWith('.kgraph')).sort()) {
  const name = f.replace(/\.kgraph$/, '');
  if (only.length && !only.includes(name)) continue;
  const text = fs.readFileSync(path.join(dir, f), 'utf8');
  for (const wlength of wlengths) {
    const k = { ...parseKgraph(text, f), wlength };
    const b = old(k, { timeLimitS: limit });
    const s = solveIspd(k, { timeLimitS: limit });
    const doLong = long > 0 && (!longOnly.length || longOnly.includes(name));
    const l = doLong ? solveIspd(k, { timeLimitS: long }) : null;
    const wall = [b, s, ...(l ? [l] : [])].map((r) => (r.elapsedMs / 1000).toFixed(1)).join('/');
    console.log(
      `| ${[
        name,
        String(wlength),
        n(b.score),
        n(s.score),
        (s.score / b.score).toFixed(3),
        (s.maxTime / s.areaBound).toFixed(2),
        l ? n(l.score) : '—',
        l ? (l.score / s.score).toFixed(3) : '—',
        [b, s, ...(l ? [l] : [])].every((r) => r.legal) ? 'yes' : 'NO',
        wall,
      ].join(' | ')} |`,
    );
  }
}
