/**
 * The safetensors export (docs/design.md §5 "Export"): a model's weights only — no optimizer slots, no
 * `global_step` — in the standard safetensors layout (runtime/checkpoint.ts `encodeSafetensors`), readable by
 * the `safetensors` package, PyTorch or any reader of the format. Tensor names are the Keras weight names
 * (`<layer>/<weight>`) and layouts Keras' (conv kernels `[kh, kw, cin, cout]`, dense kernels `[in, units]`).
 * `__metadata__` records `producer: csrun`, `layout: keras-channels-last` and `global_step`.
 */
import { encodeSafetensors, type StoredTensor } from '../../runtime/checkpoint.ts';
import type { Graph } from '../../runtime/graph.ts';

/**
 * Serialises the parameters of `graph` (in the graph's parameter order) to safetensors bytes.
 * @param weights float32 values of every graph parameter by name, sized as its shape (host/commands/export.ts
 *   `checkpointWeights` checks them).
 * @param globalStep the checkpoint's step, stored in `__metadata__`.
 * @throws Error if a parameter's values do not match its shape.
 */
export function toSafetensors(graph: Graph, weights: Record<string, Float32Array>, globalStep: number): Uint8Array {
  const tensors: Record<string, StoredTensor> = {};
  for (const p of graph.params) {
    tensors[p.name] = { dtype: 'F32', shape: p.shape, data: weights[p.name] };
  }
  return encodeSafetensors(tensors, () => ({ producer: 'csrun', layout: 'keras-channels-last', global_step: String(globalStep) }));
}
