/**
 * Machine descriptions: the one module that reads `configs/*.yaml` (docs/design.md §6). The compiler (sizing,
 * placement, routing, reports) and the wafer simulator (clock, link bandwidth) both take a {@link Machine}
 * from here, so the two can never disagree about the hardware.
 *
 * A machine is selected by name (`wse1`, `wse2` (default), `wse3`: `configs/<name>.yaml` of this package)
 * or by the path of a YAML file with the same keys (a custom fabric such as 64 × 64).
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import yaml from 'js-yaml';
import { z } from 'zod';
import { UserError, closest } from '../runtime/errors.ts';

/** A wafer-scale machine. Units are given per field. */
export interface Machine {
  /** Short name (`wse2`, or the custom file's `name`). */
  name: string;
  /** One-line human description. */
  description: string;
  /** User fabric in PEs: `width` columns (x) × `height` rows (y). */
  fabric: { width: number; height: number };
  /** SRAM per PE, bytes. */
  sramBytesPerPe: number;
  /** Core clock, Hz (cycles per second). */
  clockHz: number;
  /** Bytes per stored word (weights, activations); 2 = fp16 (an assumption, see configs). */
  wordBytes: number;
  /** Multiply-accumulates per PE per cycle (the docs/design.md §7 model assumes 1). */
  macsPerPePerCycle: number;
  /** Fabric link bandwidth per direction to each neighbour, bits per cycle (32). */
  linkBitsPerCycle: number;
  /** Latency of one router hop, cycles. */
  hopLatencyCycles: number;
  /** Placement objective weight: cycles per PE of L1 wire distance. */
  wirePenalty: number;
  /** Host I/O bandwidth of the system, bytes per second in each direction (samples enter and leave through
   * the wafer edge at this rate; docs/design.md §10, §11: CS-2 system I/O 1.2 Tb/s = 12 × 100 GbE). Optional
   * in the YAML (`io_bytes_per_s`) because only the simulator needs it: wafer-sim refuses a machine without it
   * with a UserError naming the file and the key. */
  ioBytesPerS?: number;
  /** Absolute path of the YAML the machine was read from (absent for machines built in code). */
  source?: string;
}

const machineSchema = z.strictObject({
  name: z.string().min(1),
  description: z.string().optional(),
  fabric: z.strictObject({ width: z.number().int().positive(), height: z.number().int().positive() }),
  sram_bytes_per_pe: z.number().int().positive(),
  clock_hz: z.number().positive(),
  word_bytes: z.number().int().positive(),
  macs_per_pe_per_cycle: z.number().int().positive(),
  link_bits_per_cycle: z.number().int().positive(),
  hop_latency_cycles: z.number().nonnegative(),
  wire_penalty: z.number().nonnegative(),
  io_bytes_per_s: z.number().positive().optional(),
});

/** Names of the machines shipped in `configs/`. */
export const BUILTIN_MACHINES = ['wse1', 'wse2', 'wse3'] as const;
/** The machine used when none is given (docs/design.md §6). */
export const DEFAULT_MACHINE = 'wse2';

/** Absolute path of this package's `configs/` directory. */
export function configsDir(): string {
  return path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'configs');
}

/** Words of SRAM per PE: `floor(sramBytesPerPe / wordBytes)` (ISPD 2020 "memlimit"). */
export function memoryWordsPerPe(m: Machine): number {
  return Math.floor(m.sramBytesPerPe / m.wordBytes);
}

/** Bytes a fabric link carries per cycle in one direction: `linkBitsPerCycle / 8` (4 for 32-bit links). */
export function linkBytesPerCycle(m: Machine): number {
  return m.linkBitsPerCycle / 8;
}

/**
 * Parses and validates a machine description.
 * @param text YAML text with the keys of `configs/wse2.yaml`.
 * @param file file name used in error messages (and stored as `source` when it is a path).
 * @throws UserError naming the file and the bad or unknown key.
 */
export function parseMachine(text: string, file: string): Machine {
  let raw: unknown;
  try {
    raw = yaml.load(text);
  } catch (e) {
    throw new UserError(`${file}: not valid YAML: ${(e as Error).message.split('\n')[0]}`);
  }
  const r = machineSchema.safeParse(raw);
  if (!r.success) {
    // an unknown key explains a missing one (a typo), so report it first
    const issue = r.error.issues.find((i) => i.code === 'unrecognized_keys') ?? r.error.issues[0];
    const key = issue.path.join('.') || '(top level)';
    let msg = issue.message;
    if (issue.code === 'unrecognized_keys') {
      const known = Object.keys(machineSchema.shape);
      const bad = issue.keys[0];
      const hint = closest(bad, known);
      msg = `unknown key '${bad}'${hint ? ` (did you mean '${hint}'?)` : ''}; expected one of ${known.join(', ')}`;
    }
    throw new UserError(`${file}: machine description key ${key}: ${msg}`);
  }
  const d = r.data;
  return {
    name: d.name,
    description: d.description ?? d.name,
    fabric: { width: d.fabric.width, height: d.fabric.height },
    sramBytesPerPe: d.sram_bytes_per_pe,
    clockHz: d.clock_hz,
    wordBytes: d.word_bytes,
    macsPerPePerCycle: d.macs_per_pe_per_cycle,
    linkBitsPerCycle: d.link_bits_per_cycle,
    hopLatencyCycles: d.hop_latency_cycles,
    wirePenalty: d.wire_penalty,
    ...(d.io_bytes_per_s === undefined ? {} : { ioBytesPerS: d.io_bytes_per_s }),
    source: path.isAbsolute(file) ? file : undefined,
  };
}

/**
 * Loads a machine by name (`wse1`, `wse2`, `wse3`) or by path to a YAML file.
 * @param nameOrPath a built-in name, or a path (anything with a `/`, or ending in `.yaml`/`.yml`).
 * @param baseDir directory a relative path resolves against (default: the working directory).
 * @throws UserError for an unknown name (listing the built-in ones), a missing file or a bad description.
 */
export function loadMachine(nameOrPath: string = DEFAULT_MACHINE, baseDir: string = process.cwd()): Machine {
  const isPath = /[\\/]/.test(nameOrPath) || /\.ya?ml$/i.test(nameOrPath);
  let file: string;
  if (isPath) {
    file = path.resolve(baseDir, nameOrPath);
    if (!fs.existsSync(file)) throw new UserError(`machine description '${nameOrPath}' not found (looked for ${file})`);
  } else {
    file = path.join(configsDir(), `${nameOrPath}.yaml`);
    if (!fs.existsSync(file)) {
      const hint = closest(nameOrPath, BUILTIN_MACHINES);
      throw new UserError(
        `unknown machine '${nameOrPath}'${hint ? ` (did you mean '${hint}'?)` : ''}; expected one of ` +
          `${BUILTIN_MACHINES.join(', ')} or the path of a machine YAML file`,
      );
    }
  }
  return parseMachine(fs.readFileSync(file, 'utf8'), file);
}

/**
 * Builds a machine in code (tests, the ISPD placer): WSE-2 figures with the given overrides.
 * @param over fields to replace; `fabric` and `sramBytesPerPe` are the usual ones.
 */
export function customMachine(over: Partial<Machine> & { name?: string } = {}): Machine {
  const base: Machine = {
    name: 'custom',
    description: 'custom machine',
    fabric: { width: 757, height: 996 },
    sramBytesPerPe: 49152,
    clockHz: 850e6,
    wordBytes: 2,
    macsPerPePerCycle: 1,
    linkBitsPerCycle: 32,
    hopLatencyCycles: 1,
    wirePenalty: 1,
    ioBytesPerS: 150e9,
  };
  return { ...base, ...over, fabric: { ...(over.fabric ?? base.fabric) } };
}
