/** The ElasticDL model-file adapter (host/input/elasticdl.ts): the seed's snake_case `eval_metrics_fn`. */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { adaptElasticDL } from '../../host/input/elasticdl.ts';
import { loadModelDir, traceModel } from '../../host/model-dir.ts';
import * as mod from '../../examples/mnist_elasticdl/model.ts';

const DIR = path.resolve(__dirname, '../../examples/mnist_elasticdl');
const signature = { features: { image: { shape: [28, 28], dtype: 'float32' as const } }, labels: { shape: [], dtype: 'int32' as const } };

describe('ElasticDL model files', () => {
  it('eval_metrics_fn (snake_case, as the seed writes it) gives the same eval metrics as evalMetricsFn', async () => {
    const md = await loadModelDir(DIR);
    const camel = traceModel(md, 'eval', signature as never);
    const { evalMetricsFn, ...rest } = mod;
    const snake = traceModel({ ...md, modelFn: adaptElasticDL({ ...rest, eval_metrics_fn: evalMetricsFn }, 'model.ts') }, 'eval', signature as never);
    expect(Object.keys(snake.metrics)).toEqual(Object.keys(camel.metrics));
    expect(Object.keys(snake.metrics).length).toBeGreaterThan(0);
    expect(() => adaptElasticDL({ ...mod, eval_metrics_fn: evalMetricsFn }, 'model.ts')).toThrow(/model\.ts: exports both 'evalMetricsFn' and 'eval_metrics_fn'/);
  });
});
