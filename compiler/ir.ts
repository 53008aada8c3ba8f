/**
 * The compiler's intermediate representations, from the kernel graph that `lower` makes out of the Graph IR
 * (runtime/graph.ts) to the Plan that the wafer simulator loads. Each pass is a function from one of these to
 * the next (docs/design.md §1):
 *
 * ```
 * Graph ──validate──► Graph ──lower──► KernelGraph ──size──► SizedGraph ──place──► PlacedGraph ──route──► RoutedGraph ──plan──► Plan
 * ```
 *
 * All of them are plain JSON (written between passes by `--dump-ir DIR`).
 *
 * Units: cycles are fabric clock cycles; memory is in words of `machine.wordBytes` bytes; bytes are bytes;
 * coordinates are PE columns (x, 0 … fabric.width−1) and rows (y, 0 … fabric.height−1).
 */
import type { Machine } from './machine.ts';
import type { Mode } from '../runtime/graph.ts';

/**
 * A convolution in the ISPD 2020 / docs/design.md §7 model: `H × W` input image (rows × columns), `R × S` filter,
 * `C` input and `K` output channels, strides `T` (rows) and `U` (columns). A dense layer is `H = W = R = S
 * = T = U = 1` (or `H` = the positions of a rank > 2 input). `epilogueOps` are extra cycles per output
 * element for fused element-wise work (bias-free epilogue: batch norm, activation, residual add, dropout);
 * 0 for ISPD kernels.
 */
export interface ConvSpec {
  kind: 'conv';
  H: number;
  W: number;
  R: number;
  S: number;
  C: number;
  K: number;
  T: number;
  U: number;
  epilogueOps: number;
}

/**
 * ISPD 2020 ResNet blocks (docs/design.md §9), `H × W` input with `F` output channels.
 * dblock: 1×1 F→F/4, 3×3 F/4→F/4, 1×1 F/4→F.
 * cblock: 1×1 F/2→F/4, 3×3 F/4→F/4 stride 2, 1×1 at H/2×W/2 F/4→F, 1×1 F/2→F stride 2.
 */
export interface BlockSpec {
  kind: 'dblock' | 'cblock';
  H: number;
  W: number;
  F: number;
}

/** Max / average pooling (and global average pooling: `R = H`, `S = W`, `T = H`, `U = W`): a depthwise
 * window over an `H × W × C` input, window `R × S`, strides `T`, `U`; `epilogueOps` per output element for
 * fused element-wise work (activation, dropout). */
export interface PoolSpec {
  kind: 'pool';
  H: number;
  W: number;
  C: number;
  R: number;
  S: number;
  T: number;
  U: number;
  epilogueOps: number;
}

/** Batch / layer normalisation over an `H × W × C` tensor (statistics per channel), `opsPerElement` cycles
 * per element (see estimate.ts). */
export interface NormSpec {
  kind: 'norm';
  H: number;
  W: number;
  C: number;
  opsPerElement: number;
}

/** Element-wise work on `N` elements per sample with `arity` inputs (add, concatenate, standalone
 * activation or dropout), `opsPerElement` cycles per element. */
export interface EltwiseSpec {
  kind: 'eltwise';
  N: number;
  arity: number;
  opsPerElement: number;
}

/** A loss over `N` elements per sample (classes for softmax cross-entropy), `opsPerElement` cycles each. */
export interface LossSpec {
  kind: 'loss';
  N: number;
  opsPerElement: number;
}

/** An embedding lookup: table `V × D`, `L` lookups per sample. */
export interface EmbeddingSpec {
  kind: 'embedding';
  V: number;
  D: number;
  L: number;
}

/**
 * A batched matrix product of two streamed operands (tf.matMul of two activations): per sample `B`
 * independent products `[M, K] · [K, N]` (`B` = the product of the leading per-sample axes). See
 * kernels/matmul.ts. `epilogueOps`: fused element-wise ops per output element.
 */
export interface MatmulSpec {
  kind: 'matmul';
  B: number;
  M: number;
  K: number;
  N: number;
  epilogueOps: number;
}

/**
 * Keras MultiHeadAttention on `T` queries and `S` keys/values (kernels/attention.ts): `H` heads of `dk`
 * (query/key) and `dv` (value) dimensions; inputs of `Dq`, `Dk`, `Dv` features; output `Do` features.
 * `scoreOps`: cycles per attention score (softmax, mask, dropout); `epilogueOps`: fused element-wise ops per
 * output element (bias, residual add, dropout).
 */
export interface AttentionSpec {
  kind: 'attention';
  T: number;
  S: number;
  H: number;
  dk: number;
  dv: number;
  Dq: number;
  Dk: number;
  Dv: number;
  Do: number;
  scoreOps: number;
  epilogueOps: number;
}

/**
 * A row-wise operation on `R` rows of `L` elements per sample (kernels/rowwise.ts): `softmax` (along the
 * rows: max, exp, sum, divide) or `reduce` (sum / mean of each row to one element), `opsPerElement` cycles
 * per element.
 */
export interface RowwiseSpec {
  kind: 'softmax' | 'reduce';
  R: number;
  L: number;
  opsPerElement: number;
}

/** The built-in kernel kinds and their specs; each has a module in `compiler/kernels/` (registry.ts). */
export interface BuiltinKernelSpecs {
  conv: ConvSpec;
  dblock: BlockSpec;
  cblock: BlockSpec;
  pool: PoolSpec;
  norm: NormSpec;
  eltwise: EltwiseSpec;
  loss: LossSpec;
  embedding: EmbeddingSpec;
  matmul: MatmulSpec;
  attention: AttentionSpec;
  softmax: RowwiseSpec;
  reduce: RowwiseSpec;
}

/** Kernel kind → spec. Open for declaration merging: a kind added with `registerKernelKind` adds its spec
 * here (`declare module '…/compiler/ir.ts' { interface KernelSpecMap { toy: ToySpec } }`; docs/kernels.md). */
export interface KernelSpecMap extends BuiltinKernelSpecs {}

/** A kernel kind. */
export type KernelKind = keyof KernelSpecMap;
/** The spec of kind `K`. */
export type SpecOf<K extends KernelKind> = KernelSpecMap[K];
/** The formal arguments of a kernel (its tensor shapes); `compiler/kernels/<kind>.ts` has each kind's model. */
export type KernelSpec = KernelSpecMap[KernelKind];

/**
 * Execution parameters (split factors) of a kernel, by kind (docs/design.md §7, §9):
 * conv `{h, w, c, k}`; dblock `{h, w, c1, c2, c3, k1, k2, k3}`; cblock `{h, w, c1…c4, k1…k4}`;
 * pool and norm `{h, w, c}`; eltwise and loss `{h, w}`; embedding `{v, k}`; matmul `{b, m, k, n}`; attention
 * `{h, t, k}`; softmax and reduce `{r, l}`. All are integers ≥ 1.
 */
export type ExecParams = Record<string, number>;

/** Copies of a kernel's work laid side by side: 3 = forward, backward, weight update (TRAIN, kernels with
 * weights); 2 = forward, backward (TRAIN, kernels without weights); 1 = forward only (EVAL, PREDICT). */
export type Copies = 1 | 2 | 3;

/** A kernel of the lowered graph: one or more fused Graph IR layers. */
export interface Kernel {
  /** Unique name: the first fused layer's name (or the kgraph node name). */
  name: string;
  /** What it computes, e.g. `conv2d+batchNormalization+relu`, `dense`, `maxPooling2d`. */
  op: string;
  /** Names of the Graph IR nodes fused into it, in graph order. */
  layers: string[];
  spec: KernelSpec;
  copies: Copies;
  /** Trainable + non-trainable parameter words it stores (all PEs together, one copy). */
  paramWords: number;
}

/** Data flowing from one kernel (or a graph input) to another, once per sample. */
export interface KernelEdge {
  /** Producer kernel name, or a graph input tensor id (`features/<key>`, `labels`) when `external`. */
  from: string;
  /** Consumer kernel name. */
  to: string;
  /** Graph IR tensor id carried (or the kgraph edge label). */
  tensor: string;
  /** When `tensor` is a full-size layout view (transpose, reshape, flatten, identity dropout) of another tensor:
   * that tensor's id (the data actually sent: views of one producer's tensor share its multicast group,
   * compiler/fabric.ts `multicastKey`). Absent otherwise. */
  viewOf?: string;
  /** Per-sample tensor shape (batch dimension removed). */
  shape: number[];
  /** Bytes per sample: elements × machine word bytes. */
  bytesPerSample: number;
  /** True when `from` is a graph input entering the fabric at its west edge (x = 0). */
  external: boolean;
  /** True when gradients flow back along the edge in TRAIN (false for inputs and labels). */
  backward: boolean;
}

/** Output of `lower`. */
export interface KernelGraph {
  formatVersion: 1;
  mode: Mode;
  /** Kernels in a topological (data-flow) order. */
  kernels: Kernel[];
  edges: KernelEdge[];
  /** Graph IR node name → the kernel that computes it (nodes fused away as pure layout map to their
   * producer's kernel; nodes not lowered — metrics — are absent). */
  nodeKernel: Record<string, string>;
}

/** A kernel with execution parameters and the costs they imply (estimate.ts). */
export interface SizedKernel extends Kernel {
  exec: ExecParams;
  /** Unrotated (R0) rectangle, PEs: width along x, height along y. */
  width: number;
  height: number;
  /** Cycles per sample (the kernel's steady-state interval). */
  cyclesPerSample: number;
  /** Words of SRAM each PE of the kernel needs. */
  memoryWordsPerPe: number;
}

/** One row (or column, when transposed) of a floorplan: kernels side by side in data-flow order. */
export interface FloorplanRow {
  /** Row height (PEs). */
  height: number;
  /** Kernel names in the row, in data-flow order; `rotated` means placed R90 (width and height swapped). */
  kernels: { name: string; rotated: boolean }[];
}

/** The shelf floorplan chosen with the execution parameters (passes/floorplan.ts): rows stacked from y = 0; when
 * `transposed`, rows are columns stacked from x = 0 (the problem solved on the transposed fabric). */
export interface Floorplan {
  transposed: boolean;
  rows: FloorplanRow[];
}

/** Output of `size`. */
export interface SizedGraph extends Omit<KernelGraph, 'kernels'> {
  kernels: SizedKernel[];
  /** The target time every kernel meets: the max of `cyclesPerSample`. */
  targetCycles: number;
  /** Lower bound on the max kernel time from area alone (sum of smallest areas ≤ fabric). */
  areaBoundCycles: number;
  floorplan: Floorplan;
}

/** Kernel placements on the fabric. */
export type Rotation = 'R0' | 'R90';

/** A placed kernel: occupies columns `x … x+width−1` and rows `y … y+height−1`; `width`/`height` are the
 * footprint as placed (R90 swaps the estimate's width and height). */
export interface PlacedKernel extends SizedKernel {
  x: number;
  y: number;
  rotation: Rotation;
}

/** Output of `place`. */
export interface PlacedGraph extends Omit<SizedGraph, 'kernels'> {
  kernels: PlacedKernel[];
  /** Σ over kernel→kernel edges of the L1 distance between rectangle centres, PEs. */
  wirelength: number;
}

/**
 * A Manhattan route: a bundle of `lanes` parallel lanes, each an L-shaped path of PE hops.
 * For order `HV`, lane i (0 ≤ i < lanes) visits `(start[0], firstTrack+i) → (secondTrack+lanes−1−i,
 * firstTrack+i) → (secondTrack+lanes−1−i, end[1])`: along a row of the source, then along a column of the
 * destination. For `VH`, x and y swap roles: `(firstTrack+i, start[1]) → (firstTrack+i, secondTrack+lanes−1−i)
 * → (end[0], secondTrack+lanes−1−i)`. Each lane carries `bytesPerSample / lanes`; see fabric.ts.
 */
export interface Route {
  from: string;
  to: string;
  tensor: string;
  /** As {@link KernelEdge.viewOf}. */
  viewOf?: string;
  bytesPerSample: number;
  external: boolean;
  backward: boolean;
  order: 'HV' | 'VH';
  /** Source anchor (source centre PE; for external inputs `[0, y]` on the west edge). */
  start: [number, number];
  /** Destination anchor (destination centre PE). */
  end: [number, number];
  lanes: number;
  firstTrack: number;
  secondTrack: number;
  /** Hops of the anchor-to-anchor path: `|end.x − start.x| + |end.y − start.y|`. */
  hops: number;
}

/** A directed fabric link and what crosses it per sample. `dir`: E (+x), W (−x), N (+y), S (−y). */
export interface LinkLoad {
  x: number;
  y: number;
  dir: 'E' | 'W' | 'N' | 'S';
  bytesPerSample: number;
}

/** Output of `route`. */
export interface RoutedGraph extends Omit<PlacedGraph, 'kernels'> {
  kernels: PlacedKernel[];
  routes: Route[];
  /** The busiest directed link (null when nothing is routed). */
  busiestLink: LinkLoad | null;
}

/**
 * The performance figures of a plan (estimate.ts `planEstimate`), for batches of `Plan.batchSize` samples.
 * Rates are samples per second; `samplesPerS` is the effective rate at the plan's batch size (pipeline fill
 * included), every other rate and `computeUtilization` are steady-state figures (pipeline full).
 */
export interface PlanEstimate {
  /** Steady-state cycles between samples: max(computeCycles, transmissionCycles). */
  intervalCycles: number;
  /** Slowest kernel's cycles per sample. */
  computeCycles: number;
  /** Busiest link's bytes per sample / link bytes per cycle. */
  transmissionCycles: number;
  /** Effective rate at the plan's batch size B: `B · clockHz / (fillCycles + (B − 1) · intervalCycles)`, the
   * rate a run with batches of B simulates (the report's "estimated samples/s"). */
  samplesPerS: number;
  /** Steady-state rate `clockHz / intervalCycles` = min(computeSamplesPerS, transmissionSamplesPerS): what
   * the slowest kernel and the busiest link allow with the pipeline full (the limit of `samplesPerS` as B
   * grows). */
  steadyStateSamplesPerS: number;
  /** `clockHz / computeCycles` (the slowest kernel alone; Infinity without kernels). */
  computeSamplesPerS: number;
  /** `clockHz / transmissionCycles` (the busiest link alone; Infinity when nothing is routed). */
  transmissionSamplesPerS: number;
  /** Cycles for the first sample to traverse the pipeline (critical path; forward and backward in TRAIN). */
  fillCycles: number;
  /** Kernels on the critical path, in order. */
  criticalPath: string[];
  /** PEs used by kernels / fabric PEs. */
  activePeFraction: number;
  /** Useful MACs (ops) per interval / (active PEs × interval): steady state, not reduced by the fill. */
  computeUtilization: number;
  /** Name of the slowest kernel, or `link (x,y,dir)` when transmission limits. */
  bottleneck: string;
  /** Data-parallel replicas (absent: 1): fill and interval are one replica's, every rate the whole wafer's. */
  replicas?: number;
  /** Cycles per batch of the replicas' gradient all-reduce (absent: 0). */
  allreduceCycles?: number;
}

/** The axis the fabric is cut along: 'x' cuts columns (regions side by side), 'y' rows (stacked). */
export type CutAxis = 'x' | 'y';

/** One replica count the compiler tried. */
export interface ReplicaTrial {
  replicas: number;
  /** Estimated samples/s of the whole wafer with this many replicas (0 when it did not fit). */
  samplesPerS: number;
  /** Why it did not fit (the compiler's message), when it did not. */
  error?: string;
}

/** How a plan's kernels are replicated over the fabric (absent on a one-replica plan; compiler/replicas.ts). */
export interface ReplicaLayout {
  /** K ≥ 1 (1: `multireplica` chose one replica; the trials are still recorded). */
  count: number;
  axis: CutAxis;
  /** The region each replica is compiled for, PEs. */
  region: { width: number; height: number };
  /** Offset of replica i's copy of every kernel and route (replica 0: `{x: 0, y: 0}`), PEs. */
  offsets: { x: number; y: number }[];
  /** Samples per batch each replica takes: ⌈B / K⌉. */
  samplesPerReplica: number;
  /** One replica's samples/s at that batch (its own estimate). */
  samplesPerSPerReplica: number;
  /** Gradient words reduced per batch (all trainable parameters; 0 outside TRAIN). */
  allreduceWords: number;
  /** Words over the busiest boundary link, each way (L of the module comment). */
  allreduceLinkWords: number;
  /** Cycles per batch of the all-reduce (module comment). */
  allreduceCycles: number;
  /** Every K tried, in order (the chosen one included). */
  tried: ReplicaTrial[];
}

/** The compiled artifact (`plan.json`): what the wafer simulator loads. */
export interface Plan {
  /** Bumped whenever the Plan format changes incompatibly (2: `batchSize`, batch-aware `estimate`). */
  formatVersion: 2;
  /** Version of the compiler that wrote it (part of the cache key). */
  compilerVersion: string;
  /** sha256 of the inputs (graph, machine, compile options, compiler version): the compile cache key. */
  inputHash: string;
  /** sha256 of the plan's content (everything but this field). */
  hash: string;
  mode: Mode;
  machine: Machine;
  /** Samples per batch the plan was compiled for (part of the compile-cache key): `estimate.samplesPerS` is
   * the rate at this batch size. */
  batchSize: number;
  /** Placed kernels, in data-flow (topological) order for compiled models (kgraph problems: file order). */
  kernels: PlacedKernel[];
  edges: KernelEdge[];
  /** `routes[i]` is the route of `edges[i]`. */
  routes: Route[];
  nodeKernel: Record<string, string>;
  targetCycles: number;
  areaBoundCycles: number;
  wirelength: number;
  busiestLink: LinkLoad | null;
  estimate: PlanEstimate;
  /** K data-parallel replicas of these kernels and routes (compiler/replicas.ts); absent: one replica. */
  replicas?: ReplicaLayout;
}
