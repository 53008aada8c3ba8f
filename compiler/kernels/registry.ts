/**
 * The kernel-kind registry: `spec.kind` → its {@link KernelKindModule}, and Graph IR op → its lowering
 * (collected from the kind modules' `lowerings`). The built-in table is typed over ir.ts
 * `BuiltinKernelSpecs`, so a built-in kind without a module is a type error; more kinds are added at run
 * time with {@link registerKernelKind} (their spec type added to ir.ts `KernelSpecMap` by declaration
 * merging). See docs/kernels.md.
 */
import type { BuiltinKernelSpecs, KernelKind } from '../ir.ts';
import { cblock, conv, dblock } from './conv.ts';
import { eltwise } from './eltwise.ts';
import { embedding } from './embedding.ts';
import type { KernelKindModule, Lowering } from './kind.ts';
import { loss } from './loss.ts';
import { norm } from './norm.ts';
import { pool } from './pool.ts';
import { attention } from './attention.ts';
import { matmul } from './matmul.ts';
import { reduce, softmax } from './rowwise.ts';

/** Every built-in kind's module. */
export const BUILTIN_KERNEL_KINDS: { [K in keyof BuiltinKernelSpecs]: KernelKindModule<K> } = {
  conv,
  dblock,
  cblock,
  pool,
  norm,
  eltwise,
  loss,
  embedding,
  matmul,
  attention,
  softmax,
  reduce,
};

const kinds = new Map<string, KernelKindModule>();
const lowerings = new Map<string, Lowering>();
/** Graph IR ops with a lowering, in registration order (live: grows with {@link registerKernelKind}). */
export const LOWERED_OPS: string[] = [];

/**
 * Registers a kernel kind and the ops it lowers.
 * @throws Error when the kind, or one of its ops, is registered already.
 */
export function registerKernelKind(m: KernelKindModule): void {
  if (kinds.has(m.kind)) throw new Error(`kernel kind '${m.kind}' is registered already`);
  const ops = Object.entries(m.lowerings ?? {});
  for (const [op] of ops) if (lowerings.has(op)) throw new Error(`op '${op}' already has a lowering (kernel kind '${m.kind}')`);
  kinds.set(m.kind, m);
  for (const [op, f] of ops) {
    lowerings.set(op, f);
    LOWERED_OPS.push(op);
  }
}
for (const m of Object.values(BUILTIN_KERNEL_KINDS) as KernelKindModule[]) registerKernelKind(m);

/**
 * The module of a kernel kind.
 * @throws Error for a kind nobody registered (a kernel graph from elsewhere, or a missing registration).
 */
export function kernelKind<K extends KernelKind>(kind: K): KernelKindModule<K> {
  const m = kinds.get(kind);
  if (!m) throw new Error(`unknown kernel kind '${kind}' (registered: ${[...kinds.keys()].join(', ')})`);
  return m as KernelKindModule<K>;
}

/** The lowering of a Graph IR op, or undefined when no kind lowers it. */
export function loweringOf(op: string): Lowering | undefined {
  return lowerings.get(op);
}
