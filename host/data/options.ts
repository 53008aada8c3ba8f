/**
 * tf.data.Options (the part csrun uses) and the lineage of a `Dataset`: the graph of ops that made
 * it, which the support server reads to decide how to shard a pipeline across its input workers.
 */

/**
 * tf.data.Options (the part csrun uses), attached with `Dataset.withOptions`.
 * `autoShardPolicy` (tf.data.experimental.AutoShardPolicy) tells the support server how to split the
 * dataset across its N input workers when `inputFn` was given an `InputContext` (input.ts):
 * - `'AUTO'` (default): if the pipeline already contains `shard(N, i)` for this worker, leave it; else
 *   behave as `'DATA'`.
 * - `'DATA'`: every worker builds the whole pipeline and keeps batches i, i+N, i+2N, … (the merged order
 *   is then the same for every N; upstream work that cannot be skipped lazily is repeated per worker).
 * - `'OFF'`: no sharding; every worker's batches are used as they are (the inputFn must shard itself).
 */
export interface DatasetOptions {
  autoShardPolicy?: 'AUTO' | 'DATA' | 'OFF';
}

/** One node of a dataset's lineage (the op that made it and its input datasets). */
export interface DatasetNode {
  op: string;
  args: Record<string, unknown>;
  inputs: DatasetNode[];
  options?: DatasetOptions;
}

/** Calls `visit` on every node of a lineage (depth first, inputs after the node). */
export function walkLineage(node: DatasetNode, visit: (n: DatasetNode) => void): void {
  visit(node);
  for (const i of node.inputs) walkLineage(i, visit);
}

/** The options in effect for a dataset: options set closer to the output override upstream ones. */
export function datasetOptions(ds: { readonly node: DatasetNode }): DatasetOptions {
  const chain: DatasetOptions[] = [];
  walkLineage(ds.node, (n) => {
    if (n.options) chain.push(n.options);
  });
  return Object.assign({}, ...chain.reverse());
}

/**
 * Whether the dataset's lineage contains `shard(numShards, index)` (the inputFn sharded itself by its
 * InputContext).
 */
export function hasShard(ds: { readonly node: DatasetNode }, numShards: number, index: number): boolean {
  let found = false;
  walkLineage(ds.node, (n) => {
    if (n.op === 'shard' && n.args.numShards === numShards && n.args.index === index) found = true;
  });
  return found;
}
