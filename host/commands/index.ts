/** Registry of CLI commands; each module adds one command to the program. */
import type { Command } from 'commander';
import { register as registerCompile } from './compile.ts';
import { register as registerPlace } from './place.ts';
import { register as registerEstimator } from './estimator.ts';
import { register as registerReport } from './report.ts';
import { register as registerSimulate } from './simulate.ts';
import { register as registerAnalyzeInput } from './analyze-input.ts';
import { register as registerExport } from './export.ts';

/** Adds one command to the program. */
export type RegisterCommand = (program: Command) => void;

/** Every command, in the order `csrun --help` lists them. */
export const COMMANDS: RegisterCommand[] = [registerCompile, registerEstimator, registerSimulate, registerReport, registerAnalyzeInput, registerPlace, registerExport];
