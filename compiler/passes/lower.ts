/**
 * Pass `lower`: Graph → KernelGraph. Maps Keras layers onto the wafer's kernel library: every Graph IR op is
 * lowered by the kernel-kind module that registered it (`compiler/kernels/`, looked up in registry.ts); this
 * pass is the bookkeeping around them (the {@link LowerContext}: kernels, fusion, aliases, edges).
 *
 * ## Kernel library
 * | kernel | made of | model |
 * | --- | --- | --- |
 * | conv | `conv2d` (+ bias + activation, as traced), `conv2dTranspose`, `dense` and `reverseEmbedding` (1 × 1 convs on the last axis) | docs/design.md §7 |
 * | pool | `maxPooling2d`, `averagePooling2d`, `globalAveragePooling2d` (window = the whole image) | depthwise window |
 * | norm | `batchNormalization` / `layerNormalization` not fused into a conv | per-element + reduction |
 * | eltwise | `add`, `sub`, `mul`, `div`, `where`, `sqrt`, `rsqrt`, `concatenate`, `activation`, `dropout` that cannot be fused; `gather` with per-sample indices | per-element |
 * | loss | `sparseSoftmaxCrossEntropy`, `softmaxCrossEntropy`, `sigmoidCrossEntropy`, `meanSquaredError` | per-element + reduction |
 * | embedding | `embedding`, `tokenAndPositionEmbedding` | lookup |
 * | matmul | `matMul` (two activations) | batched products, streamed right operand |
 * | attention | `multiHeadAttention` | projections + scores + softmax + context, weights on the PEs |
 * | softmax / reduce | `softmax`; `sum`, `mean` | row-wise + row reductions |
 *
 * Free layout (the output aliases the input): `flatten`, `reshape`, `transpose`, `slice`, `gather` with
 * constant indices, `dropout` out of training. Each kind's model is in its module in `compiler/kernels/`.
 * The full-size ones (all but `slice` and `gather`) are views: an edge carrying one names the viewed tensor
 * (`viewOf`), so one producer's tensor sent to several consumers in different layouts (a channels-first
 * layer's transposes) is still one multicast group.
 *
 * ## Fusion
 * A layer is fused into the kernel producing its input when that input is the kernel's latest output and
 * is read by nothing else (no other layer, prediction, metric or loss):
 * - `batchNormalization` after a conv kernel: +4 epilogue ops per output element (normalise, scale, shift,
 *   statistics);
 * - `activation` after conv / pool / norm / eltwise / matmul / attention kernels: + the activation's ops (`ACTIVATION_OPS`, kernels/costs.ts);
 * - `dropout` in training (after the same kinds): +1 op (mask multiply); out of training it is the identity
 *   and free;
 * - `add`, `sub`, `mul`, `div`, `where` after conv / norm / eltwise / matmul / attention kernels (a residual
 *   add into the branch's last conv, as in the ISPD dblock, or into an attention layer): their ops per extra
 *   input, the other inputs become edges into that kernel; `sqrt`, `rsqrt` fuse as activations.
 *
 * ## Work per mode
 * TRAIN lowers forward, backward and weight-update work: 3 copies for kernels with trainable weights (conv,
 * norm with gamma/beta, embedding), 2 for the others (forward and input gradient). EVAL and PREDICT lower
 * forward work only (1 copy). Metrics are computed by the host from streamed predictions and are not lowered.
 */
import { UserError } from '../../runtime/errors.ts';
import { sizeOf, type Graph, type GraphNode, type TensorInfo } from '../../runtime/graph.ts';
import type { Copies, Kernel, KernelEdge, KernelGraph, KernelSpec } from '../ir.ts';
import type { LowerContext, LoweringKernel } from '../kernels/kind.ts';
import { kernelKind, loweringOf } from '../kernels/registry.ts';
import type { Machine } from '../machine.ts';

/** A source of a tensor value: a kernel or a graph input. */
type Source = { kernel: string } | { external: string };

interface Building extends Kernel {
  /** The tensor id the kernel currently ends with (fusion only continues from it). */
  tail: string;
  hasWeights: boolean;
}

/** Per-sample dimensions: the batch axis removed (a tensor without one — a loss, a reduction over the batch —
 * keeps its shape). */
/** Aliased ops whose output holds exactly the input's data (see the module comment). */
const FULL_VIEWS = new Set(['flatten', 'reshape', 'transpose', 'dropout']);

const dims = (t: TensorInfo): number[] => (t.shape[0] === null ? t.shape.slice(1) : t.shape).map((d) => d as number);

/**
 * Pass `lower`.
 * @param graph a validated graph.
 * @param machine supplies the word size for bytes per sample.
 * @returns kernels in data-flow order, edges with bytes per sample, and node → kernel map.
 * @throws UserError for shapes a kernel cannot take (e.g. conv2d on a non-image tensor).
 */
export function lower(graph: Graph, machine: Pick<Machine, 'wordBytes'>): KernelGraph {
  const train = graph.mode === 'train';
  const tensors = new Map<string, TensorInfo>();
  for (const t of Object.values(graph.inputs.features)) tensors.set(t.id, t);
  if (graph.inputs.labels) tensors.set(graph.inputs.labels.id, graph.inputs.labels);
  for (const n of graph.nodes) for (const o of n.outputs) tensors.set(o.id, o);
  const paramSize = new Map(graph.params.map((p) => [p.name, p.shape.reduce((a, b) => a * b, 1)]));
  const trainable = new Map(graph.params.map((p) => [p.name, p.trainable]));

  // readers of every tensor: consuming nodes, plus outputs (predictions, loss, metrics)
  const readers = new Map<string, number>();
  const read = (id: string) => readers.set(id, (readers.get(id) ?? 0) + 1);
  for (const n of graph.nodes) for (const id of n.inputs) read(id);
  for (const id of Object.values(graph.predictions)) read(id);
  if (graph.loss) read(graph.loss);
  for (const m of Object.values(graph.metrics)) for (const id of m.inputs) read(id);

  const kernels: Building[] = [];
  const byName = new Map<string, Building>();
  const source = new Map<string, Source>();
  for (const t of Object.values(graph.inputs.features)) source.set(t.id, { external: t.id });
  if (graph.inputs.labels) source.set(graph.inputs.labels.id, { external: graph.inputs.labels.id });
  const nodeKernel: Record<string, string> = {};
  const aliasOfExternal: { node: string; tensor: string }[] = [];
  // full-size layout views → the tensor they view (edges carry it as `viewOf`, for multicast and ingress)
  const viewOf = new Map<string, string>();
  // kernel inputs: (consumer kernel, tensor id as consumed)
  const uses: { kernel: string; tensor: string }[] = [];

  const tensor = (id: string): TensorInfo => {
    const t = tensors.get(id);
    if (!t) throw new UserError(`tensor '${id}' is not produced by any layer`);
    return t;
  };
  const srcOf = (id: string): Source => {
    const s = source.get(id);
    if (!s) throw new UserError(`tensor '${id}' is used before it is produced`);
    return s;
  };
  const copiesFor = (hasWeights: boolean): Copies => (!train ? 1 : hasWeights ? 3 : 2);
  const weightsOf = (n: GraphNode) => n.params.reduce((s, p) => s + (paramSize.get(p) ?? 0), 0);
  const hasTrainable = (n: GraphNode) => n.params.some((p) => trainable.get(p));

  const newKernel = (n: GraphNode, spec: KernelSpec, op: string, hasWeights: boolean): Building => {
    const k: Building = {
      name: n.name,
      op,
      layers: [n.name],
      spec,
      copies: copiesFor(hasWeights),
      paramWords: weightsOf(n),
      tail: n.outputs[0].id,
      hasWeights,
    };
    kernels.push(k);
    byName.set(k.name, k);
    nodeKernel[n.name] = k.name;
    for (const id of n.inputs) uses.push({ kernel: k.name, tensor: id });
    for (const o of n.outputs) source.set(o.id, { kernel: k.name });
    return k;
  };
  /** The kernel `id` can be fused into, if any: its producer's latest output, read only once. */
  const fusableInto = (id: string, kinds: readonly string[]): Building | null => {
    const s = source.get(id);
    if (!s || !('kernel' in s)) return null;
    const k = byName.get(s.kernel)!;
    if (k.tail !== id || (readers.get(id) ?? 0) !== 1 || !kinds.includes(k.spec.kind)) return null;
    return k;
  };
  const fuse = (k: Building, n: GraphNode, ops: number, label: string) => {
    k.layers.push(n.name);
    k.op += `+${label}`;
    k.paramWords += weightsOf(n);
    if (hasTrainable(n) && !k.hasWeights) {
      k.hasWeights = true;
      k.copies = copiesFor(true);
    }
    const m = kernelKind(k.spec.kind);
    if (!m.fuseOps) throw new Error(`internal: kernel kind '${k.spec.kind}' takes no fused ops ('${n.name}')`);
    m.fuseOps(k.spec, ops);
    k.tail = n.outputs[0].id;
    nodeKernel[n.name] = k.name;
    for (const o of n.outputs) source.set(o.id, { kernel: k.name });
  };
  const alias = (n: GraphNode) => {
    const s = srcOf(n.inputs[0]);
    source.set(n.outputs[0].id, s);
    if (FULL_VIEWS.has(n.op)) viewOf.set(n.outputs[0].id, viewOf.get(n.inputs[0]) ?? n.inputs[0]);
    if ('kernel' in s) {
      const k = byName.get(s.kernel)!;
      nodeKernel[n.name] = k.name;
      if (k.tail === n.inputs[0] && (readers.get(n.inputs[0]) ?? 0) === 1) k.tail = n.outputs[0].id;
    } else aliasOfExternal.push({ node: n.name, tensor: n.outputs[0].id });
  };

  const byRef = (k: LoweringKernel): Building => {
    const b = byName.get(k.name);
    if (!b) throw new Error(`internal: no kernel '${k.name}'`);
    return b;
  };
  const cx: LowerContext = {
    train,
    tensor,
    dims,
    hasTrainable,
    newKernel,
    fusableInto,
    fuse: (k, n, ops, label) => fuse(byRef(k), n, ops, label),
    use: (k, id) => {
      uses.push({ kernel: k.name, tensor: id });
    },
    alias,
  };
  for (const n of graph.nodes) {
    tensor(n.inputs[0]);
    const lowering = loweringOf(n.op);
    if (!lowering) throw new UserError(`layer '${n.name}': op '${n.op}' has no lowering`);
    lowering(n, cx);
  }

  // edges: one per (producer, consumer, tensor)
  const edges: KernelEdge[] = [];
  const seen = new Set<string>();
  for (const u of uses) {
    const s = srcOf(u.tensor);
    const from = 'kernel' in s ? s.kernel : s.external;
    if ('kernel' in s && s.kernel === u.kernel) continue;
    const key = `${from}\u0000${u.kernel}\u0000${u.tensor}`;
    if (seen.has(key)) continue;
    seen.add(key);
    const t = tensor(u.tensor);
    const external = !('kernel' in s);
    edges.push({
      from,
      to: u.kernel,
      tensor: u.tensor,
      ...(viewOf.has(u.tensor) ? { viewOf: viewOf.get(u.tensor) } : {}),
      shape: dims(t),
      bytesPerSample: sizeOf(t.shape) * machine.wordBytes,
      external,
      backward: train && !external && t.dtype === 'float32',
    });
  }
  for (const a of aliasOfExternal) {
    const u = uses.find((x) => x.tensor === a.tensor);
    if (u) nodeKernel[a.node] = u.kernel;
  }
  return {
    formatVersion: 1,
    mode: graph.mode,
    kernels: kernels.map(({ tail: _t, hasWeights: _h, ...k }) => ({ ...k, spec: { ...k.spec } })),
    edges,
    nodeKernel,
  };
}
