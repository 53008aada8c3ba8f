/**
 * The contract of a kernel kind: everything the compiler knows about one kind of kernel lives in ONE module
 * of `compiler/kernels/` implementing {@link KernelKindModule}, looked up by `spec.kind` in the registry
 * (registry.ts), as tfjs looks its kernels up by name. A kind module gives:
 * - the cost model: rectangle (PEs), cycles per sample, SRAM words per PE and useful ops per sample at given
 *   execution parameters ({@link KernelKindModule.cost}; docs/design.md §7);
 * - its execution parameter keys, the sizing enumeration of its legal rectangles ({@link KernelShapes}) and
 *   the finest splits (for "does not fit" messages);
 * - the output elements per sample it sends downstream (bytes on its outgoing edges = elements × word bytes);
 * - a one-line description for the kernel list, and optionally how fused epilogue work is added;
 * - the Graph IR ops it lowers ({@link Lowering}s, keyed by op name).
 *
 * Adding a kind: docs/kernels.md.
 */
import type { TensorInfo, GraphNode } from '../../runtime/graph.ts';
import type { ExecParams, KernelKind, SpecOf } from '../ir.ts';

/** What a kernel costs at given execution parameters. */
export interface KernelCost {
  /** R0 rectangle, PEs. */
  width: number;
  height: number;
  /** Cycles per sample. */
  cyclesPerSample: number;
  /** SRAM words needed by each PE. */
  memoryWordsPerPe: number;
  /** Useful operations (MACs for conv) per sample and copy: the work a perfectly efficient kernel does. */
  opsPerSample: number;
}

/** Receives one legal rectangle: R0 height and width, and up to three numbers identifying the split. */
export type ShapeVisitor = (height: number, width: number, a: number, b: number, c: number) => void;

/**
 * A kernel prepared for sizing (split candidates computed once): enumerates its useful legal rectangles at a
 * target time and maps a reported rectangle back to execution parameters.
 */
export interface KernelShapes {
  /**
   * Visits the useful legal rectangles at target time τ: for every candidate split, the smallest one meeting τ
   * and the SRAM limit (widened to `minSide` if needed). Only rectangles whose sides are both in
   * `minSide … maxDim` are visited; `(a, b, c)` identify the split for {@link execFor}.
   * @param tau target cycles per sample (integer).
   * @param mem SRAM words per PE.
   * @param maxDim largest side a rectangle may have (the fabric's larger dimension).
   * @param macs `machine.macsPerPePerCycle`.
   * @param minSide smallest side a rectangle may have (transmission-aware sizing; 1 = no constraint).
   */
  forEachShape(tau: number, mem: number, maxDim: number, macs: number, visit: ShapeVisitor, minSide: number): void;
  /**
   * Execution parameters of the rectangle `forEachShape` reported as (a, b, c) at the same τ, memory limit and
   * minSide.
   * @throws Error when (a, b, c) is not a shape forEachShape reports.
   */
  execFor(tau: number, mem: number, macs: number, a: number, b: number, c: number, minSide: number): ExecParams;
  /**
   * Visits the finest splits whose rectangle can fit a `lo × hi` fabric (the candidates for the least memory
   * per PE any legal split reaches; the visitor may receive splits that turn out not to fit or to be out of
   * range — the caller checks them with `cost`).
   */
  forEachFinestSplit(lo: number, hi: number, visit: (exec: ExecParams) => void): void;
}

/** A kernel under construction in `lower`, as a lowering sees it. */
export interface LoweringKernel {
  readonly name: string;
  readonly spec: SpecOf<KernelKind>;
}

/**
 * What `lower` offers a {@link Lowering}: tensors, kernel creation, fusion and aliasing (lower.ts implements
 * it). Shapes include the batch axis; `dims` drops it.
 */
export interface LowerContext {
  /** True in TRAIN (3/2 copies; dropout active). */
  readonly train: boolean;
  /** The tensor with this id. @throws UserError when no layer produces it. */
  tensor(id: string): TensorInfo;
  /** Per-sample dimensions of a tensor (batch axis removed). */
  dims(t: TensorInfo): number[];
  /** True when the node has a trainable parameter. */
  hasTrainable(n: GraphNode): boolean;
  /** Starts a kernel named after `n` computing `n`'s outputs from its inputs (`hasWeights`: 3 copies in TRAIN). */
  newKernel(n: GraphNode, spec: SpecOf<KernelKind>, op: string, hasWeights: boolean): LoweringKernel;
  /** The kernel tensor `id` can be fused into — its producer's latest output, read by nothing else — when
   * the producer is of one of `kinds`; else null. */
  fusableInto(id: string, kinds: readonly string[]): LoweringKernel | null;
  /** Fuses `n` into kernel `k` with `ops` extra ops per output element (the kind's `fuseOps`); `label` is
   * appended to the kernel's op. */
  fuse(k: LoweringKernel, n: GraphNode, ops: number, label: string): void;
  /** Marks tensor `id` as an input of kernel `k` (an edge unless `k` produces it). */
  use(k: LoweringKernel, id: string): void;
  /** `n`'s output is its first input, relabelled (pure layout: free). */
  alias(n: GraphNode): void;
}

/** Lowers one Graph IR node through the {@link LowerContext}. @throws UserError for shapes it cannot take. */
export type Lowering = (n: GraphNode, cx: LowerContext) => void;

/** One kernel kind (module doc). `S` is the kind's spec type. */
export interface KernelKindModule<K extends KernelKind = KernelKind> {
  kind: K;
  /** Names of the execution parameters, in the order the `.paint` format lists them. */
  execKeys(spec: SpecOf<K>): string[];
  /**
   * Cost at given execution parameters.
   * @param copies 3, 2 or 1 (ir.ts `Copies`).
   * @param macs `machine.macsPerPePerCycle`.
   * @throws RangeError when an execution parameter is missing, not an integer, < 1 or larger than the
   *   dimension it splits.
   */
  cost(spec: SpecOf<K>, exec: ExecParams, copies: number, macs: number): KernelCost;
  /** Useful work per sample and copy (independent of execution parameters). */
  ops(spec: SpecOf<K>): number;
  /** Output elements per sample (what leaves the kernel downstream or through the wafer edge). */
  outputElements(spec: SpecOf<K>): number;
  /** Prepares the sizing enumeration. */
  shapes(spec: SpecOf<K>, copies: number): KernelShapes;
  /** One-line description of the spec for the kernel list (`kind K=…`). */
  describe(spec: SpecOf<K>): string;
  /** Adds `ops` fused element-wise ops per output element to the spec (absent: the kind takes no fusion). */
  fuseOps?(spec: SpecOf<K>, ops: number): void;
  /** Graph IR ops this kind lowers, by op name. */
  lowerings?: Record<string, Lowering>;
}

/** `⌈a/b⌉`. */
export const cdiv = (a: number, b: number): number => Math.ceil(a / b);

/**
 * An execution parameter of `exec`, checked.
 * @throws RangeError unless `exec[key]` is an integer in `1 … max`.
 */
export function need(exec: ExecParams, key: string, max: number, what: string): number {
  const v = exec[key];
  if (!Number.isInteger(v) || v < 1 || v > max) {
    throw new RangeError(`execution parameter ${key}=${v} of ${what} must be an integer in 1..${max}`);
  }
  return v;
}

const bpCache = new Map<number, Int32Array>();
/**
 * Split factors worth considering for a dimension of size X: for every distinct value q of ⌈X/v⌉, the
 * smallest v giving it (a larger v with the same quotient only costs area). Ascending; about 2√X values.
 */
export function splitCandidates(X: number): Int32Array {
  let got = bpCache.get(X);
  if (got) return got;
  const out: number[] = [];
  let v = 1;
  while (v <= X) {
    out.push(v);
    const q = Math.ceil(X / v);
    if (q <= 1) break;
    v = Math.ceil(X / (q - 1));
  }
  got = Int32Array.from(out);
  bpCache.set(X, got);
  return got;
}

/** Sorted union of the split candidates of several dimension sizes. */
export function unionCandidates(xs: readonly number[]): Int32Array {
  const s = new Set<number>();
  for (const x of xs) for (const v of splitCandidates(x)) s.add(v);
  return Int32Array.from([...s].sort((a, b) => a - b));
}

/** A split widened so that `copies · x` reaches `minSide`, capped at `cap`. */
export const widen = (x: number, cap: number, copies: number, minSide: number): number => Math.min(cap, Math.max(x, Math.ceil(minSide / copies)));
