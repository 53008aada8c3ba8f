/**
 * Keras models: functional (`new Model({ inputs, outputs })`), subclassed
 * (`class M extends Model { call(inputs, training) { … } }`) and `Sequential`. Applying a model inside
 * `modelFn` records the same nodes as calling its layers directly, so all three styles trace to identical
 * graphs.
 */
import { UserError } from './errors.ts';
import { SymbolicTensor, scopeOf, type CallableLayer, type CallOptions } from './symbolic.ts';

/** What a model can be applied to: one tensor, a list, or a dict keyed like the functional inputs' names. */
export type ModelInputs = SymbolicTensor | SymbolicTensor[] | Record<string, SymbolicTensor>;

/** Arguments of a functional model. */
export interface ModelArgs {
  inputs?: SymbolicTensor | SymbolicTensor[];
  outputs?: SymbolicTensor;
  name?: string;
}

/**
 * A Keras model. Subclasses override {@link Model.call}; a functional model is built from `inputs` made by
 * `layers.input()` and the `outputs` computed from them.
 */
export class Model implements CallableLayer {
  readonly className: string = 'Model';
  readonly name: string;
  private readonly inputs?: SymbolicTensor[];
  private readonly outputs?: SymbolicTensor;

  /** @throws UserError if `outputs` were not computed from `inputs`. */
  constructor(args: ModelArgs = {}) {
    this.name = args.name ?? 'model';
    if (args.inputs || args.outputs) {
      if (!args.inputs || !args.outputs) throw new UserError(`model '${this.name}': a functional model needs both inputs and outputs`);
      this.inputs = Array.isArray(args.inputs) ? args.inputs : [args.inputs];
      this.outputs = args.outputs;
      for (const x of this.inputs) {
        if (x.source.kind !== 'input') throw new UserError(`model '${this.name}': inputs must come from layers.input()`);
      }
      const reached = new Set<SymbolicTensor>();
      const visit = (t: SymbolicTensor): void => {
        if (reached.has(t)) return;
        reached.add(t);
        if (t.source.kind === 'history') t.source.inputs.forEach(visit);
        else if (t.source.kind === 'input' && !this.inputs!.includes(t)) {
          throw new UserError(`model '${this.name}': output depends on input '${t.source.name}' which is not among the model's inputs`);
        }
        else if (t.source.kind === 'traced') throw new UserError(`model '${this.name}': outputs must be computed from layers.input() tensors`);
      };
      visit(this.outputs);
    }
  }

  /**
   * The forward computation of a subclassed model.
   * @param inputs   what {@link Model.apply} received.
   * @param training true in training (dropout active, batch norm on batch statistics).
   */
  call(inputs: ModelInputs, training: boolean): SymbolicTensor {
    void inputs;
    void training;
    throw new UserError(`model '${this.name}': a subclass of Model must override call(inputs, training), or pass { inputs, outputs }`);
  }

  /**
   * Applies the model to tensors of `modelFn` (Keras `model(x, training=…)`).
   * @throws UserError if the inputs do not match the functional model's inputs.
   */
  apply(inputs: ModelInputs, options: CallOptions = {}): SymbolicTensor {
    const flat = inputs instanceof SymbolicTensor ? [inputs] : Array.isArray(inputs) ? inputs : Object.values(inputs);
    const scope = scopeOf(flat, `model '${this.name}'`);
    const training = options.training ?? scope.training;
    if (!this.outputs) return this.call(inputs, training);
    return this.replay(this.bind(inputs), { ...options, training: options.training });
  }

  /** Maps the functional inputs to the given tensors (by name for a dict, else by position). */
  private bind(inputs: ModelInputs): Map<SymbolicTensor, SymbolicTensor> {
    const mine = this.inputs!;
    const names = mine.map((x) => (x.source as { name: string }).name);
    let given: SymbolicTensor[];
    if (inputs instanceof SymbolicTensor) given = [inputs];
    else if (Array.isArray(inputs)) given = inputs;
    else if (mine.length === 1 && Object.keys(inputs).length === 1) given = Object.values(inputs);
    else {
      given = names.map((n) => {
        const t = (inputs as Record<string, SymbolicTensor>)[n];
        if (!t) throw new UserError(`model '${this.name}': input '${n}' not found among features ${Object.keys(inputs).join(', ')}`);
        return t;
      });
    }
    if (given.length !== mine.length) throw new UserError(`model '${this.name}': expects ${mine.length} input(s) (${names.join(', ')}), got ${given.length}`);
    const map = new Map<SymbolicTensor, SymbolicTensor>();
    mine.forEach((x, i) => {
      const g = given[i];
      const ok = g.rank === x.rank && x.shape.every((d, j) => d === null || d === g.shape[j]) && g.dtype === x.dtype;
      if (!ok) throw new UserError(`model '${this.name}': input '${names[i]}' expects ${x.dtype} ${x}, got ${g.dtype} ${g}`);
      map.set(x, g);
    });
    return map;
  }

  /** Re-runs the recorded layer calls on traced tensors, in definition order. */
  private replay(bound: Map<SymbolicTensor, SymbolicTensor>, options: CallOptions): SymbolicTensor {
    const order: SymbolicTensor[] = [];
    const seen = new Set<SymbolicTensor>();
    const collect = (t: SymbolicTensor): void => {
      if (seen.has(t)) return;
      seen.add(t);
      if (t.source.kind === 'history') {
        t.source.inputs.forEach(collect);
        order.push(t);
      }
    };
    collect(this.outputs!);
    order.sort((a, b) => a.seq - b.seq);
    for (const t of order) {
      const src = t.source as Extract<SymbolicTensor['source'], { kind: 'history' }>;
      const args = src.inputs.map((x) => bound.get(x)!);
      const training = src.options.training ?? options.training;
      bound.set(t, src.layer.apply(args.length === 1 ? args[0] : args, { ...src.options, training }));
    }
    return bound.get(this.outputs!)!;
  }
}

/** A linear stack of layers (Keras `Sequential`). */
export class Sequential extends Model {
  override readonly className: string = 'Sequential';
  readonly layers: CallableLayer[];

  constructor(args: { layers?: CallableLayer[]; name?: string } = {}) {
    super({ name: args.name ?? 'sequential' });
    this.layers = [...(args.layers ?? [])];
  }

  /** Appends a layer. */
  add(layer: CallableLayer): void {
    this.layers.push(layer);
  }

  override call(inputs: ModelInputs, training: boolean): SymbolicTensor {
    if (!(inputs instanceof SymbolicTensor)) throw new UserError(`model '${this.name}': a Sequential model takes one tensor`);
    return this.layers.reduce((x, l) => l.apply(x, { training }), inputs);
  }
}

/** Creates a functional model (tfjs `tf.model`). */
export function model(args: ModelArgs): Model {
  return new Model(args);
}

/** Creates a {@link Sequential} model (tfjs `tf.sequential`). */
export function sequential(args: { layers?: CallableLayer[]; name?: string } = {}): Sequential {
  return new Sequential(args);
}
