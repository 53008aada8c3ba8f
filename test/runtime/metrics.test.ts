/** The summed streaming metrics: perplexity and the binary segmentation metrics (modelzoo UNet mIOU, DSC, MPCA). */
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { computeMetric, metricResult } from '../../runtime/exec/metrics.ts';
import type { MetricSpec } from '../../runtime/graph.ts';
import { initBackend } from '../../runtime/backend.ts';

describe('metrics', () => {
  it('perplexity: e^(mean −log softmax[label]) over every position and every batch', async () => {
    await initBackend();
    const spec: MetricSpec = { op: 'perplexity', inputs: ['y', 'z'] };
    const logits = [[0, 0, Math.log(2)], [1, 1, 1]]; // p(label): 2/4 (label 2), 1/3 (label 0)
    const v = new Map<string, tf.Tensor>([['y', tf.tensor2d([[2, 0]], [1, 2], 'int32')], ['z', tf.tensor3d([logits])]]);
    const a = computeMetric('ppl', spec, v);
    expect(a.sums[1]).toBe(2);
    expect(a.sums[0]).toBeCloseTo(Math.log(2) + Math.log(3), 5);
    expect(metricResult(spec, a)).toBeCloseTo(Math.sqrt(6), 4);
    tf.dispose([...v.values()]);
  });

  it('confusion counts of masks thresholded at 0.5 give mIOU, Dice, MPCA by hand', async () => {
    await initBackend();
    const labels = [1, 1, 1, 0, 0, 0, 0, 1];
    const probs = [0.9, 0.6, 0.2, 0.7, 0.1, 0.3, 0.4, 0.8]; // tp 3, fn 1, fp 1, tn 3
    const v = new Map<string, tf.Tensor>([['y', tf.tensor(labels, [2, 4])], ['p', tf.tensor(probs, [2, 4])]]);
    const sums = (op: MetricSpec['op']) => computeMetric(op, { op, inputs: ['y', 'p'] }, v);
    expect(sums('dice').sums).toEqual([3, 1, 1, 3]);
    expect(metricResult({ op: 'dice', inputs: [] }, sums('dice'))).toBeCloseTo(6 / 8, 6);
    expect(metricResult({ op: 'meanIou', inputs: [] }, sums('meanIou'))).toBeCloseTo((3 / 5 + 3 / 5) / 2, 6);
    expect(metricResult({ op: 'meanPerClassAccuracy', inputs: [] }, sums('meanPerClassAccuracy'))).toBeCloseTo((3 / 4 + 3 / 4) / 2, 6);
    // no foreground anywhere: dice 1 (agreement), mIOU over the one class present
    expect(metricResult({ op: 'dice', inputs: [] }, { sums: [0, 0, 0, 8] })).toBe(1);
    expect(metricResult({ op: 'meanIou', inputs: [] }, { sums: [0, 0, 0, 8] })).toBe(1);
    tf.dispose([...v.values()]);
  });
});
