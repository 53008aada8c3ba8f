/**
 * `csrun place FILE.kgraph [--out FILE.paint] [--time-limit S] [--seed N] [--verbose]`: solves an ISPD 2020 wafer-scale placement
 * benchmark (docs/design.md §9) with the compiler's own size and place passes, writes the contest's `.paint`
 * solution and prints max kernel time, wirelength, score and legality (with --verbose, also the best solution at
 * each max time explored).
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { UserError } from '../../runtime/errors.ts';
import { ensureDir, writeFileAtomic } from '../../runtime/fs.ts';
import { solveIspd } from '../../compiler/ispd/solve.ts';
import { parseKgraph, writePaint } from '../../compiler/ispd/kgraph.ts';

/** Options of `csrun place`. */
export interface PlaceCommandOptions {
  out?: string;
  timeLimit?: string;
  /** Seed of the position search (integer). */
  seed?: string;
  /** Also print the best solution at each max time explored. */
  verbose?: boolean;
}

/**
 * Runs `csrun place`.
 * @throws UserError for a missing or malformed kgraph (naming the line), a bad time limit, or a problem that
 *   cannot fit its fabric.
 */
export function runPlace(file: string, opts: PlaceCommandOptions, out: (s: string) => void = (s) => process.stdout.write(s)): void {
  const abs = path.resolve(file);
  if (!fs.existsSync(abs)) throw new UserError(`kgraph file '${file}' does not exist`);
  const limit = opts.timeLimit === undefined ? 10 : Number(opts.timeLimit);
  if (!Number.isFinite(limit) || limit <= 0) throw new UserError(`--time-limit '${opts.timeLimit}' must be a positive number of seconds`);
  const seed = opts.seed === undefined ? 1 : Number(opts.seed);
  if (!Number.isSafeInteger(seed)) throw new UserError(`--seed '${opts.seed}' must be an integer`);
  const k = parseKgraph(fs.readFileSync(abs, 'utf8'), file);
  const s = solveIspd(k, { timeLimitS: limit, seed });
  const paint = opts.out ? path.resolve(opts.out) : abs.replace(/\.kgraph$/i, '') + '.paint';
  ensureDir(path.dirname(paint), 'creating --out directory');
  writeFileAtomic(paint, writePaint(s.placed.kernels), 'writing --out');
  const n = (x: number) => x.toLocaleString('en-US', { maximumFractionDigits: 1 });
  out(
    [
      `Benchmark ${k.test}: ${s.placed.kernels.length} kernels on ${k.width}×${k.height} PEs, memlimit ${k.memlimit} words, wdeltat ${k.wdeltat}, wlength ${k.wlength}`,
      `Max kernel time   ${n(s.maxTime)} cycles (area lower bound ${n(s.areaBound)}, ratio ${(s.maxTime / s.areaBound).toFixed(3)})`,
      `Wirelength        ${n(s.wirelength)} PEs`,
      `Score             ${n(s.score)}`,
      `Legal             ${s.legal ? 'yes' : `NO: ${s.violations.slice(0, 5).join('; ')}`}`,
      `Time              ${(s.elapsedMs / 1000).toFixed(2)} s (${s.candidates} candidate floorplans, ${s.moves} annealing moves)`,
      `Wrote ${paint}`,
    ].join('\n') + '\n',
  );
  if (opts.verbose) {
    out(`Best solution at each max time explored (target τ / area bound ${n(s.areaBound)}):\n`);
    out(`  ${'τ/bound'.padStart(9)} ${'max time'.padStart(12)} ${'wirelength'.padStart(12)} ${'score'.padStart(14)}\n`);
    for (const e of s.explored) {
      const chosen = e.score === s.score && e.maxTime === s.maxTime && e.wirelength === s.wirelength ? '  ← chosen' : '';
      out(`  ${e.ratio.toFixed(3).padStart(9)} ${n(e.maxTime).padStart(12)} ${n(e.wirelength).padStart(12)} ${n(e.score).padStart(14)}${chosen}\n`);
    }
  }
}

/** Registers `csrun place`. */
export function register(program: Command): void {
  program
    .command('place')
    .description('place an ISPD 2020 wafer-scale benchmark (.kgraph) and write the .paint solution')
    .argument('<kgraph>', 'ISPD 2020 kgraph file')
    .option('--out <file>', 'solution file (default: FILE with .paint)')
    .option('--time-limit <seconds>', 'time budget for improving the first solution', '10')
    .option('--seed <n>', 'seed of the position search (same seed and budget, same result)', '1')
    // --verbose is the program's global option (debug output): here it adds the trade-off table
    .action((file: string, _opts: PlaceCommandOptions, cmd: Command) => {
      runPlace(file, cmd.optsWithGlobals<PlaceCommandOptions>());
    });
}
