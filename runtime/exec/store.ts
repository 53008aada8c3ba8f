/**
 * The parameter store of an executor: the current value of every parameter of a {@link Graph} and the
 * optimizer slots of its trainable ones, as tfjs tensors on the wasm backend; named copies for
 * checkpoints; regularisation; and the optimizer update itself (`../optimizers/update.ts`), applied once
 * per step with the gradients summed over all shards.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Graph, ParamInfo } from '../graph.ts';
import { initialize } from '../initializers.ts';
import { fmtShape } from '../kernels/util.ts';
import { learningRateAt } from '../optimizers/schedule.ts';
import { isZeroPenalty, penalty, penaltyGrad } from '../optimizers/regularization.ts';
import { applyUpdate, clipByGlobalNorm, slotSuffixes } from '../optimizers/update.ts';

/** A named array (parameter or slot) for checkpoints: `shape` as the parameter's, `data` row-major. */
export interface NamedArray {
  name: string;
  shape: number[];
  data: Float32Array;
}

const sizeOfShape = tf.util.sizeFromShape;

function entriesOf(values: Record<string, Float32Array> | NamedArray[]): (readonly [string, Float32Array])[] {
  return Array.isArray(values) ? values.map((v) => [v.name, v.data] as const) : Object.entries(values);
}

/** Parameter values and optimizer slots of one graph (see the module comment). */
export class ParamStore {
  private readonly info = new Map<string, ParamInfo>();
  private readonly values = new Map<string, tf.Tensor>();
  /** Slots by param name, in `slotSuffixes` order. */
  private readonly slots = new Map<string, tf.Tensor[]>();
  private disposed = false;

  /**
   * Creates every parameter (from `initial`, else from its initializer) and zero optimizer slots for the
   * trainable ones. The wasm backend must be initialised.
   * @throws Error naming the parameter when it is declared twice, an initial value names an unknown
   *   parameter, or has the wrong size.
   */
  constructor(
    readonly graph: Graph,
    initial: Record<string, Float32Array> = {},
  ) {
    for (const p of graph.params) {
      if (this.info.has(p.name)) throw new Error(`graph: parameter '${p.name}' is declared twice`);
      this.info.set(p.name, p);
    }
    for (const name of Object.keys(initial)) if (!this.info.has(name)) throw new Error(`initial value for unknown parameter '${name}'`);
    for (const p of graph.params) this.values.set(p.name, this.makeParam(p, initial[p.name] ?? initialize(p.initializer, p.shape)));
    if (graph.optimizer) {
      const n = slotSuffixes(graph.optimizer).length;
      for (const p of graph.params) if (p.trainable) this.slots.set(p.name, Array.from({ length: n }, () => tf.zeros(p.shape)));
    }
  }

  private makeParam(p: ParamInfo, v: Float32Array): tf.Tensor {
    if (v.length !== sizeOfShape(p.shape)) {
      throw new Error(`parameter '${p.name}': expected ${sizeOfShape(p.shape)} values for shape ${fmtShape(p.shape)}, got ${v.length}`);
    }
    return tf.tensor(v, p.shape, 'float32');
  }

  /** @throws Error once the store is disposed. */
  check(): void {
    if (this.disposed) throw new Error('executor is disposed');
  }

  /** The declaration of parameter `name`, if the graph has one. */
  param(name: string): ParamInfo | undefined {
    return this.info.get(name);
  }

  /** The current value of parameter `name` (owned by the store: do not dispose). */
  value(name: string): tf.Tensor {
    return this.values.get(name)!;
  }

  /** Every current parameter value and slot (tensors a step must not dispose). */
  tensors(): Set<tf.Tensor> {
    const out = new Set<tf.Tensor>(this.values.values());
    for (const s of this.slots.values()) for (const t of s) out.add(t);
    return out;
  }

  /** Parameter names in graph order. */
  get names(): string[] {
    return this.graph.params.map((p) => p.name);
  }

  /** Every parameter's value (copies), in graph order. */
  getParams(): NamedArray[] {
    this.check();
    return this.graph.params.map((p) => ({ name: p.name, shape: p.shape.slice(), data: (this.values.get(p.name)!.dataSync() as Float32Array).slice() }));
  }

  /**
   * Replaces parameter values (any subset).
   * @throws Error naming the parameter when it is unknown or the size does not match its shape.
   */
  setParams(values: Record<string, Float32Array> | NamedArray[]): void {
    this.check();
    for (const [name, data] of entriesOf(values)) {
      const p = this.info.get(name);
      if (!p) throw new Error(`setParams: unknown parameter '${name}'`);
      this.assign(name, this.makeParam(p, data));
    }
  }

  /** Every optimizer slot (copies), named `<param>/<suffix>` (tfjs names, see `../optimizers/update.ts`). */
  getSlots(): NamedArray[] {
    this.check();
    const out: NamedArray[] = [];
    if (!this.graph.optimizer) return out;
    const suffixes = slotSuffixes(this.graph.optimizer);
    for (const p of this.graph.params) {
      const s = this.slots.get(p.name);
      if (!s) continue;
      s.forEach((t, i) => out.push({ name: `${p.name}/${suffixes[i]}`, shape: p.shape.slice(), data: (t.dataSync() as Float32Array).slice() }));
    }
    return out;
  }

  /**
   * Replaces optimizer slots (any subset) by `<param>/<suffix>` name.
   * @throws Error naming the slot when it is unknown or has the wrong size, or if the graph has no optimizer.
   */
  setSlots(values: Record<string, Float32Array> | NamedArray[]): void {
    this.check();
    if (!this.graph.optimizer) throw new Error('setSlots: the graph has no optimizer');
    const suffixes = slotSuffixes(this.graph.optimizer);
    for (const [name, data] of entriesOf(values)) {
      const cut = name.lastIndexOf('/');
      const slots = this.slots.get(name.slice(0, cut));
      const k = suffixes.indexOf(name.slice(cut + 1));
      if (cut < 0 || !slots || k < 0) throw new Error(`setSlots: unknown slot '${name}' (slots are <trainable param>/${suffixes.join('|')})`);
      const p = this.info.get(name.slice(0, cut))!;
      if (data.length !== sizeOfShape(p.shape)) throw new Error(`setSlots: slot '${name}' needs ${sizeOfShape(p.shape)} values, got ${data.length}`);
      slots[k].dispose();
      slots[k] = tf.tensor(data, p.shape, 'float32');
    }
  }

  /** Makes `t` the value of parameter `name` (the store takes ownership; the old value is disposed). */
  assign(name: string, t: tf.Tensor): void {
    this.values.get(name)?.dispose();
    this.values.set(name, t);
  }

  /** Σ of the regularisation penalties of all parameters (loss units). */
  regularizationLoss(): number {
    let total = 0;
    for (const p of this.graph.params) {
      if (isZeroPenalty(p.regularizer)) continue;
      const t = penalty(p.regularizer!, this.values.get(p.name)!);
      total += t.dataSync()[0];
      t.dispose();
    }
    return total;
  }

  /**
   * Applies the graph's optimizer at global step `step` to the trainable parameters in `only` (default:
   * all) that have a gradient in `grads` (the global gradients, summed over shards), each plus its
   * regularisation gradient, all scaled by min(1, globalClipnorm / global norm) when the optimizer clips
   * (params `optimizer.max_gradient_norm`; the norm over every trainable gradient, `clipByGlobalNorm`).
   * Parameters without a gradient are left unchanged (as tfjs optimizers do). Does not dispose `grads`.
   * @returns the learning rate used (`../optimizers/schedule.ts`).
   * @throws Error if the graph has no optimizer.
   */
  applyGradients(grads: ReadonlyMap<string, tf.Tensor>, step: number, only?: ReadonlySet<string>): number {
    this.check();
    const spec = this.graph.optimizer;
    if (!spec) throw new Error('the graph has no optimizer (traced in a mode other than train?)');
    const lr = learningRateAt(spec.learningRate, step);
    // every trainable gradient plus its regularisation gradient; the global norm (globalClipnorm) is taken over
    // all of them, whichever subset `only` updates
    const withPenalty = new Map<string, tf.Tensor>();
    for (const p of this.graph.params) {
      const g0 = grads.get(p.name);
      if (!p.trainable || !g0) continue;
      withPenalty.set(p.name, isZeroPenalty(p.regularizer) ? g0 : tf.tidy(() => tf.add(g0, penaltyGrad(p.regularizer!, this.values.get(p.name)!))));
    }
    const names = [...withPenalty.keys()];
    const clipped = spec.globalClipnorm ? clipByGlobalNorm(names.map((nm) => withPenalty.get(nm)!), spec.globalClipnorm).grads : undefined;
    const made = new Set<tf.Tensor>();
    names.forEach((nm, i) => {
      for (const t of [withPenalty.get(nm)!, clipped?.[i]]) if (t && t !== grads.get(nm)) made.add(t);
    });
    for (const p of this.graph.params) {
      if (!withPenalty.has(p.name) || (only && !only.has(p.name))) continue;
      const g = clipped ? clipped[names.indexOf(p.name)] : withPenalty.get(p.name)!;
      const value = this.values.get(p.name)!;
      const slots = this.slots.get(p.name)!;
      const res = applyUpdate(spec, value, g, slots, lr, step);
      value.dispose();
      tf.dispose(slots);
      this.values.set(p.name, res.value);
      this.slots.set(p.name, res.slots);
    }
    tf.dispose([...made]);
    return lr;
  }

  /** Frees parameters and slots; the store (and its executor) cannot be used afterwards. Idempotent. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const t of this.values.values()) t.dispose();
    for (const s of this.slots.values()) tf.dispose(s);
    this.values.clear();
    this.slots.clear();
  }
}
