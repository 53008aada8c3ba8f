/**
 * Symbolic tensors and the trace scope that records layer calls into a {@link Graph}.
 *
 * A {@link SymbolicTensor} is either
 * - *traced*: produced inside {@link withTraceScope} (the features/labels handed to `modelFn`, and every
 *   layer output computed from them); it has a tensor id in the graph under construction; or
 * - *free* (a Keras "KerasTensor"): made by `layers.input()` outside any trace, or computed from one. It
 *   records its history (layer, inbound tensors, call options) so that a functional `Model` can replay
 *   the calls on traced tensors later.
 *
 * Layer names and parameters are assigned per trace, in the order layers are first called, so a layer
 * object built once at module load (ElasticDL style) traces to the same graph in every mode, and the
 * functional and subclassing styles give identical graphs.
 */
import type { DType, Graph, GraphNode, InitializerSpec, Mode, OpAttrs, OpName, ParamInfo, RegularizerSpec, Shape, TensorInfo } from './graph.ts';
import { UserError } from './errors.ts';

/** Where a symbolic tensor comes from. */
export type TensorSource =
  | { kind: 'traced'; scope: TraceScope; id: string }
  | { kind: 'input'; name: string }
  | { kind: 'history'; layer: CallableLayer; inputs: SymbolicTensor[]; options: CallOptions };

/** Options of a layer call (`layer.apply(x, { training })`). */
export interface CallOptions {
  /** Force training (true) or inference (false) behaviour of dropout / batch norm; default: mode is 'train'. */
  training?: boolean;
  /** MultiHeadAttention (Keras `use_causal_mask`): query position t attends only to key positions ≤ t. */
  useCausalMask?: boolean;
  /** Embedding and TokenAndPositionEmbedding (Keras-NLP ReversibleEmbedding `reverse=True`): map vectors
   * `[batch, …, outputDim]` to logits `[batch, …, inputDim]` with the transposed token table (tied weights). */
  reverse?: boolean;
}

/** Anything that can be applied to symbolic tensors: a layer or a model. */
export interface CallableLayer {
  /** The class name shown in summaries, e.g. `Conv2D`. */
  readonly className: string;
  apply(inputs: SymbolicTensor | SymbolicTensor[], options?: CallOptions): SymbolicTensor;
}

/** A tensor of a model under construction: shape (batch dim `null`) and dtype, no values. */
export class SymbolicTensor {
  private static created = 0;
  /** Creation order; a functional model replays its layer calls in this order (its definition order). */
  readonly seq = SymbolicTensor.created++;

  constructor(
    readonly shape: Shape,
    readonly dtype: DType,
    readonly source: TensorSource,
  ) {}

  /** Number of dimensions, batch included. */
  get rank(): number {
    return this.shape.length;
  }

  /** The graph tensor id (traced tensors only). */
  get id(): string {
    if (this.source.kind !== 'traced') throw new Error('internal: id of an untraced tensor');
    return this.source.id;
  }

  /** The shape in Keras notation, e.g. `(None, 28, 28, 1)`. */
  toString(): string {
    return formatShape(this.shape);
  }
}

/** `(None, 26, 26, 32)`; scalars as `()`. */
export function formatShape(shape: Shape): string {
  const parts = shape.map((d) => (d === null ? 'None' : String(d)));
  return `(${parts.join(', ')}${parts.length === 1 ? ',' : ''})`;
}

/** 32-bit FNV-1a hash of a string (used to derive per-parameter seeds). */
export function hashString(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** Per-layer state of one trace: its name and the parameters it created. */
interface LayerRecord {
  name: string;
  params: string[];
  calls: number;
}

/** The graph under construction while `modelFn` runs. */
export class TraceScope {
  readonly nodes: GraphNode[] = [];
  readonly params: ParamInfo[] = [];
  private readonly names = new Set<string>();
  private readonly counters = new Map<string, number>();
  private readonly layers = new Map<object, LayerRecord>();

  constructor(
    readonly mode: Mode,
    readonly seed: number,
  ) {}

  /** Default of `training` for dropout / batch norm: true in 'train' mode. */
  get training(): boolean {
    return this.mode === 'train';
  }

  /** A graph input tensor (`features/<key>` or `labels`). */
  input(id: string, shape: Shape, dtype: DType): SymbolicTensor {
    return new SymbolicTensor(shape, dtype, { kind: 'traced', scope: this, id });
  }

  /**
   * The name of `layer` in this trace: the user's name if given, else its Keras base name made unique
   * with `_1`, `_2`, ... in first-call order (Keras' convention).
   * @throws UserError when two layers were given the same explicit name.
   */
  layerName(layer: object, base: string, explicit?: string): string {
    let rec = this.layers.get(layer);
    if (!rec) {
      let name: string;
      if (explicit) {
        if (this.names.has(explicit)) throw new UserError(`two layers are named '${explicit}'; layer names must be unique`);
        name = explicit;
      } else {
        let n = this.counters.get(base) ?? 0;
        name = n === 0 ? base : `${base}_${n}`;
        while (this.names.has(name)) name = `${base}_${++n}`;
        this.counters.set(base, n + 1);
      }
      this.names.add(name);
      rec = { name, params: [], calls: 0 };
      this.layers.set(layer, rec);
    }
    return rec.name;
  }

  /** True if `layer` already created its parameters in this trace. */
  isBuilt(layer: object): boolean {
    return (this.layers.get(layer)?.params.length ?? 0) > 0;
  }

  /** The parameters `layer` created in this trace (in creation order). */
  layerParams(layer: object): string[] {
    return this.layers.get(layer)?.params ?? [];
  }

  /**
   * Creates a parameter `<layer name>/<weight>` owned by `layer`.
   * The initializer seed is derived from the run seed and the parameter name (FNV-1a), so it does not
   * depend on the order in which layers are built.
   */
  addParam(
    layer: object,
    weight: string,
    shape: number[],
    init: { name: string; config?: Record<string, number> },
    opts: { trainable?: boolean; regularizer?: RegularizerSpec } = {},
  ): string {
    const rec = this.layers.get(layer);
    if (!rec) throw new Error('internal: addParam before layerName');
    const name = `${rec.name}/${weight}`;
    const initializer: InitializerSpec = { name: init.name, seed: hashString(`${this.seed}/${name}`), config: init.config ?? {} };
    const p: ParamInfo = { name, shape, dtype: 'float32', initializer, trainable: opts.trainable ?? true };
    if (opts.regularizer && (opts.regularizer.l1 || opts.regularizer.l2)) p.regularizer = opts.regularizer;
    this.params.push(p);
    rec.params.push(name);
    return name;
  }

  /**
   * Records one node and returns its output tensor.
   * @param layer the calling layer (its name and call count name the node: `conv2d`, then `conv2d_call1`
   *   for a second call of the same layer, which shares the parameters).
   * @param innerName for a helper node inside a layer call (the layout transposes of a channels-first layer):
   *   its name, `<call's node name>/<what>` as TensorFlow names ops inside a layer's scope; the call count
   *   is left alone.
   */
  addNode<K extends OpName>(
    layer: object,
    op: K,
    inputs: SymbolicTensor[],
    attrs: OpAttrs[K],
    params: string[],
    out: { shape: Shape; dtype: DType },
    innerName?: string,
  ): SymbolicTensor {
    const rec = this.layers.get(layer);
    if (!rec) throw new Error('internal: addNode before layerName');
    const nodeName = innerName ?? this.nextNodeName(layer);
    if (innerName === undefined) rec.calls++;
    const output: TensorInfo = { id: `${nodeName}:0`, shape: out.shape, dtype: out.dtype };
    for (const x of inputs) {
      if (x.source.kind !== 'traced' || x.source.scope !== this) {
        throw new UserError(`layer '${rec.name}': its input was not computed from this modelFn's features or labels`);
      }
    }
    this.nodes.push({ name: nodeName, op, inputs: inputs.map((x) => x.id), outputs: [output], attrs, params } as GraphNode);
    return new SymbolicTensor(out.shape, out.dtype, { kind: 'traced', scope: this, id: output.id });
  }

  /** The name {@link addNode} gives `layer`'s next call node (`conv2d`, `conv2d_call1`, …). */
  nextNodeName(layer: object): string {
    const rec = this.layers.get(layer);
    if (!rec) throw new Error('internal: nextNodeName before layerName');
    return rec.calls === 0 ? rec.name : `${rec.name}_call${rec.calls}`;
  }

  /** The finished graph (without loss/metrics/optimizer, which the trace driver adds). */
  toGraph(inputs: Graph['inputs']): Graph {
    return {
      formatVersion: 1,
      mode: this.mode,
      seed: this.seed,
      inputs,
      nodes: this.nodes,
      params: this.params,
      predictions: {},
      metrics: {},
    };
  }
}

let active: TraceScope | null = null;

/** The trace currently running `modelFn`, or null outside tracing. */
export function currentScope(): TraceScope | null {
  return active;
}

/** Runs `fn` with `scope` as the active trace (nesting is an error). */
export function withTraceScope<T>(scope: TraceScope, fn: () => T): T {
  if (active) throw new Error('internal: nested traces');
  active = scope;
  try {
    return fn();
  } finally {
    active = null;
  }
}

/** The scope the given traced tensors belong to; throws a UserError naming `what` otherwise. */
export function scopeOf(tensors: SymbolicTensor[], what: string): TraceScope {
  for (const t of tensors) if (t.source.kind === 'traced') return t.source.scope;
  throw new UserError(`${what}: needs tensors computed inside modelFn (from its features or labels)`);
}
