/**
 * Pass `validate`: Graph → Graph (unchanged). Rejects, with one message naming the layer, what the wafer
 * cannot run: ops outside the kernel library, non-static shapes, unsupported dtypes, dangling tensors.
 * Whether the graph fits the machine is checked after `lower` by `checkFit` (fit.ts) (it needs kernels).
 */
import { UserError } from '../../runtime/errors.ts';
import { LOSS_OPS, type Graph, type GraphNode, type OpAttrs, type Shape } from '../../runtime/graph.ts';
import { LOWERED_OPS } from '../kernels/registry.ts';

/** Graph IR ops the wafer runs: those some kernel kind lowers (compiler/kernels/registry.ts; live, grows
 * with `registerKernelKind`). */
export const SUPPORTED_OPS: readonly string[] = LOWERED_OPS;

/** Expected input ranks (including the batch axis) of ops that need one. */
const RANK: Record<string, number> = { conv2d: 4, conv2dTranspose: 4, maxPooling2d: 4, averagePooling2d: 4, globalAveragePooling2d: 4 };

function describe(n: GraphNode): string {
  return `layer '${n.name}' (${n.op})`;
}

function checkShape(shape: Shape, where: string): void {
  if (!Array.isArray(shape) || shape.length === 0) throw new UserError(`${where}: shape ${JSON.stringify(shape)} has no batch axis`);
  if (shape[0] !== null) throw new UserError(`${where}: shape [${shape.map(String).join(', ')}] must have the symbolic batch dimension (null) first`);
  checkStatic(shape, where, 1);
}

/** Every dimension from `from` on is a positive integer. @throws UserError naming the dimension. */
function checkStatic(shape: Shape, where: string, from = 0): void {
  for (let i = from; i < shape.length; i++) {
    const d = shape[i];
    if (d === null || !Number.isInteger(d) || d < 1) {
      throw new UserError(`${where}: shape [${shape.map(String).join(', ')}] is not static (dimension ${i} must be a positive integer; the wafer needs static shapes)`);
    }
  }
}

/**
 * Pass `validate`.
 * @param graph the traced Graph IR.
 * @returns the same graph.
 * @throws UserError for an unsupported op (naming the layer and listing {@link SUPPORTED_OPS}), a
 *   non-static shape, an unsupported dtype, an input tensor no node produces, a wrong input rank, a graph
 *   without nodes, or a TRAIN graph without loss or optimizer.
 */
export function validate(graph: Graph): Graph {
  if (graph.formatVersion !== 1) throw new UserError(`graph format version ${String(graph.formatVersion)} is not supported (expected 1)`);
  const known = new Map<string, { shape: Shape; dtype: string }>();
  for (const [key, t] of Object.entries(graph.inputs.features)) {
    checkShape(t.shape, `feature '${key}'`);
    known.set(t.id, t);
  }
  if (graph.inputs.labels) {
    checkShape(graph.inputs.labels.shape, 'labels');
    known.set(graph.inputs.labels.id, graph.inputs.labels);
  }
  if (!graph.nodes.length) throw new UserError('the model has no layers: modelFn must apply at least one layer to its features');
  const supported = new Set<string>(SUPPORTED_OPS);
  const params = new Set(graph.params.map((p) => p.name));
  const batchless = new Set<string>();
  for (const n of graph.nodes) {
    if (!supported.has(n.op)) {
      throw new UserError(`${describe(n)}: op '${n.op}' is not supported on the wafer; supported ops: ${SUPPORTED_OPS.join(', ')}`);
    }
    n.inputs.forEach((id, i) => {
      const t = known.get(id);
      if (!t) throw new UserError(`${describe(n)}: input ${i} '${id}' is not produced by an earlier layer or a graph input`);
      if (RANK[n.op] !== undefined && i === 0 && t.shape.length !== RANK[n.op]) {
        throw new UserError(`${describe(n)}: expects a rank-${RANK[n.op]} input [batch, height, width, channels], got shape [${t.shape.map(String).join(', ')}]`);
      }
    });
    for (const p of n.params) if (!params.has(p)) throw new UserError(`${describe(n)}: parameter '${p}' is not declared in the graph`);
    for (const o of n.outputs) {
      if (o.dtype !== 'float32' && o.dtype !== 'int32') throw new UserError(`${describe(n)}: dtype '${String(o.dtype)}' is not supported (float32, int32)`);
      // a loss, a sum / mean over the batch axis, and what is computed from them have no batch axis
      const acrossBatch = LOSS_OPS.includes(n.op as (typeof LOSS_OPS)[number]) || ((n.op === 'sum' || n.op === 'mean') && (n.attrs as OpAttrs['sum']).axis.includes(0));
      if (acrossBatch || n.inputs.some((id) => batchless.has(id))) {
        checkStatic(o.shape, describe(n));
        batchless.add(o.id);
      } else checkShape(o.shape, describe(n));
      known.set(o.id, o);
    }
  }
  if (graph.mode === 'train') {
    if (!graph.loss) throw new UserError('modelFn returned no loss in TRAIN mode (EstimatorSpec needs loss and trainOp)');
    if (!graph.optimizer) throw new UserError('modelFn returned no trainOp in TRAIN mode (call optimizer.minimize(loss))');
  }
  if (graph.loss && !known.has(graph.loss)) throw new UserError(`the loss tensor '${graph.loss}' is not produced by any layer`);
  for (const [k, id] of Object.entries(graph.predictions)) {
    if (!known.has(id)) throw new UserError(`prediction '${k}' refers to tensor '${id}', which no layer produces`);
  }
  return graph;
}
