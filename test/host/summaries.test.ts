import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { SummaryWriter } from '../../host/summaries.ts';
import { readRecords, readScalars } from '../helpers/events.ts';

describe('TensorBoard event files', () => {
  it('frame each event with masked CRC-32C and encode scalars as tensorflow.Event protos', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'csrun-ev-'));
    const w = new SummaryWriter(dir);
    w.scalars({ loss: 0.5, learning_rate: 0.001 }, 10);
    w.scalars({ loss: 0.25 }, 20);
    w.close();
    expect(path.basename(w.file)).toMatch(/^events\.out\.tfevents\.\d+\./);
    const buf = fs.readFileSync(w.file);
    expect(readRecords(buf)).toHaveLength(3);
    const { fileVersion, scalars } = readScalars(buf);
    expect(fileVersion).toBe('brain.Event:2');
    expect(scalars).toEqual([[10, 'loss', 0.5], [10, 'learning_rate', Math.fround(0.001)], [20, 'loss', 0.25]]);
  });
});
