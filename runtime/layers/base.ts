/**
 * The Layer base class (Keras semantics): a layer is configured once, creates its weights on first call
 * from the input shape, and can be called on traced tensors (inside `modelFn`) or on free tensors from
 * `layers.input()` (functional models, replayed when the model is applied inside `modelFn`).
 *
 * A concrete layer implements one method, {@link Layer.spec}: from the input tensors it checks shapes and
 * returns the IR op, its attributes, the output shape and the weights it needs.
 */
import { ACTIVATIONS, type Activation, type DType, type OpAttrs, type OpName, type RegularizerSpec, type Shape } from '../graph.ts';
import { UserError, closest } from '../errors.ts';
import { SymbolicTensor, formatShape, type CallableLayer, type CallOptions, type TraceScope } from '../symbolic.ts';

/** Arguments every layer accepts. */
export interface LayerArgs {
  /** Unique layer name; default: the Keras base name with a `_N` suffix. */
  name?: string;
}

/** A weight a layer needs. */
export interface WeightDecl {
  /** Keras weight name: kernel, bias, gamma, beta, moving_mean, moving_variance, embeddings. */
  weight: string;
  shape: number[];
  init: InitializerArg;
  trainable?: boolean;
  regularizer?: RegularizerSpec;
}

/** What a layer call lowers to. */
export interface LayerSpec<K extends OpName = OpName> {
  op: K;
  attrs: OpAttrs[K];
  out: { shape: Shape; dtype: DType };
  weights: WeightDecl[];
  /** The weights this call's node reads, by weight name (default: all of {@link weights}); a reverse embedding
   * call reads only the token table of a layer that owns two. */
  reads?: string[];
}

/** Keras initializer names (camelCase or snake_case), or `{ name, config }` from `initializers.*`. */
export type InitializerArg = string | { name: string; config?: Record<string, number> };

/** Initializers the numerics know (camelCase). */
export const INITIALIZERS = [
  'glorotUniform', 'glorotNormal', 'heNormal', 'heUniform', 'lecunNormal', 'lecunUniform',
  'randomNormal', 'randomUniform', 'truncatedNormal', 'zeros', 'ones', 'constant',
] as const;

/** Regularizer argument: `'l1'`, `'l2'` (Keras default factor 0.01), or `{ l1?, l2? }` from `regularizers.*`. */
export type RegularizerArg = 'l1' | 'l2' | RegularizerSpec;

/**
 * Keras / tfjs-layers `dataFormat` of the image layers: `'channelsLast'` (the default, Keras
 * `image_data_format()`): `[batch, h, w, c]`; `'channelsFirst'`: `[batch, c, h, w]`.
 */
export type DataFormat = 'channelsFirst' | 'channelsLast';

/** Keras data-format values, in tfjs-layers spelling. */
export const DATA_FORMATS: readonly DataFormat[] = ['channelsFirst', 'channelsLast'];

/** Axis permutation `[batch, c, h, w]` → `[batch, h, w, c]` (and its inverse). */
const TO_CHANNELS_LAST = [0, 2, 3, 1];
const TO_CHANNELS_FIRST = [0, 3, 1, 2];

/** Validates a `dataFormat` argument (undefined → 'channelsLast'). @throws UserError naming `layer` and the allowed values. */
export function dataFormatArg(layer: string, v: unknown): DataFormat {
  if (v === undefined) return 'channelsLast';
  if ((DATA_FORMATS as readonly unknown[]).includes(v)) return v as DataFormat;
  const hint = typeof v === 'string' ? closest(v.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase()), DATA_FORMATS) : undefined;
  throw new UserError(`${layer}: dataFormat must be 'channelsFirst' or 'channelsLast', got ${JSON.stringify(v)}${hint ? ` (did you mean '${hint}'?)` : ''}`);
}

/** Base class of all layers. */
export abstract class Layer implements CallableLayer {
  /** Keras class name, e.g. `Conv2D`. */
  abstract readonly className: string;
  /** Keras default name stem, e.g. `conv2d`, `max_pooling2d`. */
  abstract readonly baseName: string;
  /** Inputs the layer takes: 1, or 'many' for merge layers (add, concatenate) and losses. */
  protected readonly arity: number | 'many' = 1;

  constructor(readonly args: LayerArgs = {}) {}

  /**
   * The layout of the layer's single rank-4 input (and rank-4 output), `'channelsLast'` unless a layer with a
   * `dataFormat` argument sets it. For `'channelsFirst'`, {@link apply} checks the input is `[batch, c, h, w]`,
   * traces a `transpose` to `[batch, h, w, c]` (node `<layer>/to_channels_last`), the layer's channels-last op,
   * and a `transpose` of a rank-4 output back to `[batch, c, h, w]` (node `<layer>/to_channels_first`), so the
   * numerics are exactly those of channels-last on the transposed input; the compiler lowers both transposes
   * as free layout (docs/design.md, compiler/kernels/eltwise.ts). {@link spec} always sees channels-last shapes.
   */
  protected dataFormat: DataFormat = 'channelsLast';

  /**
   * Checks the inputs and describes the call.
   * @param inputs  input tensors (shapes with `null` batch dim).
   * @param training resolved training flag of this call.
   * @param options  the call's options (layer-specific ones such as `useCausalMask`).
   * @throws UserError naming the layer, the expected and the actual shape.
   */
  protected abstract spec(inputs: SymbolicTensor[], training: boolean, options: CallOptions): LayerSpec;

  /** The layer's name for messages before a trace assigned one. */
  protected displayName(): string {
    return this.currentName ?? this.args.name ?? this.baseName;
  }

  /** `layer '<name>' (<Class>)`, the prefix of every error about this layer. */
  protected label(): string {
    return `layer '${this.displayName()}' (${this.className})`;
  }

  /** Throws a UserError prefixed with {@link label}. */
  protected fail(message: string): never {
    throw new UserError(`${this.label()}: ${message}`);
  }

  /** Checks rank; `what` describes the expected layout, e.g. `[batch, h, w, c]`. */
  protected expectRank(x: SymbolicTensor, rank: number, what: string): void {
    if (x.rank !== rank) this.fail(`expected input of rank ${rank} ${what}, got shape ${formatShape(x.shape)}`);
  }

  /** Checks that every non-batch dimension of `x` is known. */
  protected staticDims(x: SymbolicTensor): number[] {
    const dims = x.shape.slice(1);
    if (dims.some((d) => d === null)) this.fail(`input shape ${formatShape(x.shape)} has unknown dimensions besides the batch`);
    return dims as number[];
  }

  /**
   * Calls the layer (Keras `layer(x)` / tfjs `layer.apply(x)`).
   * On traced tensors this records a node (and creates the weights on first call); on free tensors from
   * `layers.input()` it records history for a functional `Model`.
   * @throws UserError for shape errors, and when traced and free tensors are mixed.
   */
  apply(inputs: SymbolicTensor | SymbolicTensor[], options: CallOptions = {}): SymbolicTensor {
    let xs = Array.isArray(inputs) ? inputs : [inputs];
    if (!xs.every((x) => x instanceof SymbolicTensor)) this.fail('inputs must be symbolic tensors (features/labels of modelFn, or layers.input())');
    if (this.arity === 1 && xs.length !== 1) this.fail(`takes one input, got ${xs.length}`);
    if (this.arity === 'many' && xs.length < 2) this.fail(`takes a list of at least two inputs, got ${xs.length}`);
    const first = this.dataFormat === 'channelsFirst';
    if (first) for (const x of xs) this.expectRank(x, 4, '[batch, c, h, w] (dataFormat channelsFirst)');
    const permute = (shape: Shape, perm: number[]) => perm.map((p) => shape[p]);
    const outShape = (shape: Shape) => (first && shape.length === 4 ? permute(shape, TO_CHANNELS_FIRST) : shape);
    const traced = xs.filter((x) => x.source.kind === 'traced');
    if (traced.length === 0) {
      const view = first ? xs.map((x) => new SymbolicTensor(permute(x.shape, TO_CHANNELS_LAST), x.dtype, { kind: 'input', name: 'channels_last_view' })) : xs;
      const s = this.spec(view, options.training ?? false, options);
      return new SymbolicTensor(outShape(s.out.shape), s.out.dtype, { kind: 'history', layer: this, inputs: xs, options });
    }
    if (traced.length !== xs.length) this.fail('mixes tensors of modelFn with free tensors from layers.input()');
    const scope = (traced[0].source as { scope: TraceScope }).scope;
    const name = scope.layerName(this, this.baseName, this.args.name);
    const call = scope.nextNodeName(this);
    const relayout = (x: SymbolicTensor, perm: number[], suffix: string) =>
      scope.addNode(this, 'transpose', [x], { perm }, [], { shape: permute(x.shape, perm), dtype: x.dtype }, `${call}/${suffix}`);
    if (first) xs = xs.map((x) => relayout(x, TO_CHANNELS_LAST, 'to_channels_last'));
    const spec = this.withName(name, () => this.spec(xs, options.training ?? scope.training, options));
    let params = scope.layerParams(this);
    if (params.length === 0) {
      params = spec.weights.map((w) => scope.addParam(this, w.weight, w.shape, resolveInitializer(w.init, this.label()), { trainable: w.trainable, regularizer: w.regularizer }));
    } else {
      const want = spec.weights.map((w) => `${name}/${w.weight}[${w.shape}]`).join(', ');
      const have = params.map((p, i) => `${p}[${scope.params.find((q) => q.name === p)!.shape}]`).join(', ');
      if (want !== have) this.fail(`called again on inputs of another shape ${xs.map((x) => x.toString()).join(', ')}: needs weights ${want}, has ${have}`);
    }
    const reads = spec.reads ? params.filter((p) => spec.reads!.includes(p.slice(name.length + 1))) : params;
    const y = scope.addNode(this, spec.op, xs, spec.attrs, reads, spec.out);
    return first && y.rank === 4 ? relayout(y, TO_CHANNELS_FIRST, 'to_channels_first') : y;
  }

  /** The name the running trace gave this layer (set while {@link spec} runs). */
  private currentName?: string;
  private withName<T>(name: string, fn: () => T): T {
    this.currentName = name;
    try {
      return fn();
    } finally {
      this.currentName = undefined;
    }
  }
}

/** Normalises an int or pair argument; `layer` is the error prefix (e.g. `layer 'conv2d' (Conv2D)`) (`kernelSize: 3` → `[3, 3]`). */
export function pair(layer: string, arg: string, v: number | [number, number] | number[] | undefined, dflt: number): [number, number] {
  const p = v === undefined ? [dflt, dflt] : typeof v === 'number' ? [v, v] : v;
  if (p.length !== 2 || !p.every((x) => Number.isInteger(x) && x > 0)) {
    throw new UserError(`${layer}: ${arg} must be a positive integer or a pair of them, got ${JSON.stringify(v)}`);
  }
  return [p[0], p[1]];
}

/** Validates an activation name (Keras names; undefined/null → 'linear'). */
export function activationArg(layer: string, v: string | null | undefined): Activation {
  if (v === undefined || v === null) return 'linear';
  if ((ACTIVATIONS as readonly string[]).includes(v)) return v as Activation;
  const hint = closest(v, ACTIVATIONS);
  throw new UserError(`${layer}: unknown activation '${v}'${hint ? ` (did you mean '${hint}'?)` : ''}; supported: ${ACTIVATIONS.join(', ')}`);
}

/** Validates a padding argument. */
export function paddingArg(layer: string, v: string | undefined): 'valid' | 'same' {
  if (v === undefined) return 'valid';
  if (v === 'valid' || v === 'same') return v;
  throw new UserError(`${layer}: padding must be 'valid' or 'same', got '${v}'`);
}

/** Resolves a Keras initializer argument to a camelCase name and config. */
export function resolveInitializer(arg: InitializerArg, layer: string): { name: string; config?: Record<string, number> } {
  const obj = typeof arg === 'string' ? { name: arg } : arg;
  const camel = obj.name.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
  if (!(INITIALIZERS as readonly string[]).includes(camel)) {
    const hint = closest(camel, INITIALIZERS);
    throw new UserError(`${layer}: unknown initializer '${obj.name}'${hint ? ` (did you mean '${hint}'?)` : ''}; supported: ${INITIALIZERS.join(', ')}`);
  }
  return { name: camel, config: obj.config };
}

/** Resolves a regularizer argument; Keras' default factor for the strings 'l1'/'l2' is 0.01. */
export function regularizerArg(layer: string, v: RegularizerArg | null | undefined): RegularizerSpec | undefined {
  if (v === undefined || v === null) return undefined;
  if (v === 'l2') return { l2: 0.01 };
  if (v === 'l1') return { l1: 0.01 };
  if (typeof v === 'object' && (typeof v.l1 === 'number' || typeof v.l2 === 'number')) return v;
  throw new UserError(`${layer}: kernelRegularizer must be 'l1', 'l2', regularizers.l1(x), regularizers.l2(x) or regularizers.l1l2({l1, l2}), got ${JSON.stringify(v)}`);
}
