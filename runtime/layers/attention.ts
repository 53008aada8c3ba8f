/**
 * Keras `MultiHeadAttention` (Keras 3 call convention) on rank-3 inputs: one `multiHeadAttention` node per call
 * (kernel in `../kernels/multiHeadAttention.ts`).
 */
import type { SymbolicTensor, CallOptions } from '../symbolic.ts';
import { Layer, regularizerArg, type InitializerArg, type LayerArgs, type LayerSpec, type RegularizerArg } from './base.ts';

/** Keras MultiHeadAttention arguments (`attention_axes` is not supported: attention is over axis 1). */
export interface MultiHeadAttentionArgs extends LayerArgs {
  numHeads: number;
  /** Size of each head of query and key. */
  keyDim: number;
  /** Size of each head of value; default keyDim. */
  valueDim?: number;
  /** Dropout rate on the attention probabilities (training only); default 0. */
  dropout?: number;
  /** Biases on the four projections; default true. */
  useBias?: boolean;
  /** Last dimension of the output (an int or `[int]`); default the query's last dimension. */
  outputShape?: number | [number];
  /** Default glorotUniform (Keras fans of the `[in, heads, size]` kernels). */
  kernelInitializer?: InitializerArg;
  /** Default zeros. */
  biasInitializer?: InitializerArg;
  kernelRegularizer?: RegularizerArg | null;
  /** Not in Keras: GPT-J rotary position embeddings (modelzoo `rotary_dim`) on the first rotaryDim dimensions of
   * each query and key head (even, ≤ keyDim; query and key of one length). Default 0: none. */
  rotaryDim?: number;
}

/** Options of a MultiHeadAttention call (Keras 3 `attention_mask`, `use_causal_mask`, `training`). */
export interface MultiHeadAttentionCallOptions extends CallOptions {
  /** `[batch, T, S]`, nonzero where query position t may attend to key position s (float32 or int32). */
  attentionMask?: SymbolicTensor;
}

/**
 * Multi-head attention. `apply([query, value, key?], { attentionMask?, useCausalMask?, training? })`: query
 * `[batch, T, Dq]`, value `[batch, S, Dv]`, key `[batch, S, Dk]` (default: value) → `[batch, T, outputShape]`.
 * Weights (Keras names): `query/kernel [Dq, numHeads, keyDim]`, `query/bias [numHeads, keyDim]`, `key/kernel`,
 * `key/bias`, `value/kernel [Dv, numHeads, valueDim]`, `value/bias`, `attention_output/kernel [numHeads,
 * valueDim, out]`, `attention_output/bias [out]`.
 */
export class MultiHeadAttention extends Layer {
  readonly className = 'MultiHeadAttention';
  readonly baseName = 'multi_head_attention';
  protected override readonly arity = 'many' as const;
  constructor(override readonly args: MultiHeadAttentionArgs) {
    super(args);
    for (const k of ['numHeads', 'keyDim'] as const) {
      if (!Number.isInteger(args?.[k]) || args[k] <= 0) this.fail(`${k} must be a positive integer, got ${JSON.stringify(args?.[k])}`);
    }
    if (args.valueDim !== undefined && !(Number.isInteger(args.valueDim) && args.valueDim > 0)) this.fail(`valueDim must be a positive integer, got ${JSON.stringify(args.valueDim)}`);
    const d = args.dropout ?? 0;
    if (!(typeof d === 'number' && d >= 0 && d < 1)) this.fail(`dropout must be in [0, 1), got ${JSON.stringify(args.dropout)}`);
    this.outputDim();
    const r = args.rotaryDim ?? 0;
    if (!(Number.isInteger(r) && r >= 0 && r % 2 === 0 && r <= args.keyDim)) this.fail(`rotaryDim must be an even integer in [0, keyDim = ${args.keyDim}], got ${JSON.stringify(args.rotaryDim)}`);
  }

  /** The outputShape argument as a number, or undefined (query's last dimension). */
  private outputDim(): number | undefined {
    const o = this.args.outputShape;
    if (o === undefined) return undefined;
    const v = Array.isArray(o) && o.length === 1 ? o[0] : o;
    if (!(typeof v === 'number' && Number.isInteger(v) && v > 0)) this.fail(`outputShape must be a positive integer or [integer], got ${JSON.stringify(o)}`);
    return v as number;
  }

  /**
   * Calls the layer on `[query, value]`, `[query, value, key]` or `[query, value, key, attentionMask]`.
   * @throws UserError for other input counts, a mask given twice, or shape errors (naming the layer and shapes).
   */
  override apply(inputs: SymbolicTensor | SymbolicTensor[], options: MultiHeadAttentionCallOptions = {}): SymbolicTensor {
    const xs = Array.isArray(inputs) ? inputs.slice() : [inputs];
    const { attentionMask, ...rest } = options;
    if (xs.length < 2 || xs.length > 4) this.fail(`takes [query, value], [query, value, key] or [query, value, key, attentionMask], got ${xs.length} tensor(s)`);
    if (xs.length === 2) xs.push(xs[1]);
    if (attentionMask) {
      if (xs.length === 4) this.fail('attentionMask is given both as the fourth input and as an option');
      xs.push(attentionMask);
    }
    return super.apply(xs, rest);
  }

  protected spec(xs: SymbolicTensor[], training: boolean, options: CallOptions): LayerSpec<'multiHeadAttention'> {
    const [q, v, k, mask] = xs;
    const names = ['query', 'value', 'key'];
    [q, v, k].forEach((x, i) => {
      this.expectRank(x, 3, `[batch, sequence, features] for the ${names[i]}`);
      if (x.dtype !== 'float32') this.fail(`${names[i]} must be float32, got ${x.dtype} ${x}`);
    });
    const [t, dq] = this.staticDims(q);
    const [s, dv] = this.staticDims(v);
    const [sk, dk] = this.staticDims(k);
    if (sk !== s) this.fail(`key ${k} and value ${v} must have the same sequence length`);
    const rotaryDim = this.args.rotaryDim ?? 0;
    if (rotaryDim && s !== t) this.fail(`rotary embeddings need query ${q} and key ${k} of the same length`);
    if (mask && (mask.rank !== 3 || mask.shape[1] !== t || mask.shape[2] !== s)) this.fail(`attentionMask ${mask} must be [batch, ${t}, ${s}] (query length, key length)`);
    const h = this.args.numHeads;
    const ek = this.args.keyDim;
    const ev = this.args.valueDim ?? ek;
    const out = this.outputDim() ?? dq;
    const useBias = this.args.useBias ?? true;
    const kernel = this.args.kernelInitializer ?? 'glorotUniform';
    const bias = this.args.biasInitializer ?? 'zeros';
    const regularizer = regularizerArg(this.label(), this.args.kernelRegularizer);
    const proj = (name: string, kshape: number[], bshape: number[]) => [
      { weight: `${name}/kernel`, shape: kshape, init: kernel, regularizer },
      ...(useBias ? [{ weight: `${name}/bias`, shape: bshape, init: bias }] : []),
    ];
    return {
      op: 'multiHeadAttention',
      attrs: {
        numHeads: h, keyDim: ek, valueDim: ev, outputDim: out, dropout: this.args.dropout ?? 0, useBias,
        useCausalMask: options.useCausalMask ?? false, rotaryDim, hasAttentionMask: !!mask, training,
      },
      out: { shape: [q.shape[0], t, out], dtype: 'float32' },
      weights: [...proj('query', [dq, h, ek], [h, ek]), ...proj('key', [dk, h, ek], [h, ek]), ...proj('value', [dv, h, ev], [h, ev]), ...proj('attention_output', [h, ev, out], [out])],
    };
  }
}

/** Creates a {@link MultiHeadAttention} layer. */
export function multiHeadAttention(args: MultiHeadAttentionArgs): MultiHeadAttention {
  return new MultiHeadAttention(args);
}
