/** The system rate (host/input/system-rate.ts): min(wafer, host I/O, input pipeline) and the bound named. */
import { describe, expect, it } from 'vitest';
import { ioSamplesPerS, systemRate } from '../../host/input/system-rate.ts';

describe('systemRate', () => {
  it('takes the slowest part and names it', () => {
    expect(systemRate({ wafer: 2.5e6, io: 4.8e7, input: 1.2e5 })).toEqual({ samplesPerS: 1.2e5, bound: 'input pipeline', waferSamplesPerS: 2.5e6, ioSamplesPerS: 4.8e7, inputSamplesPerS: 1.2e5 });
    expect(systemRate({ wafer: 2.5e6, io: 1e6, input: 3e6 }).bound).toBe('host I/O');
    expect(systemRate({ wafer: 2.5e6, io: 1e7, input: 3e6 }).bound).toBe('wafer');
  });
  it('parts not measured (0, undefined, Infinity) do not bind', () => {
    expect(systemRate({ wafer: 5, input: 0 })).toMatchObject({ samplesPerS: 5, bound: 'wafer', inputSamplesPerS: Infinity, ioSamplesPerS: Infinity });
    expect(systemRate({ wafer: 5, io: Infinity, input: undefined }).bound).toBe('wafer');
  });
  it('I/O: bytes/s over bytes per sample (MNIST 28×28 float32 + int32 label at 150 GB/s)', () => {
    expect(ioSamplesPerS(150e9, 28 * 28 * 4 + 4)).toBeCloseTo(150e9 / 3140, 6);
    expect(ioSamplesPerS(undefined, 3140)).toBe(Infinity);
    expect(ioSamplesPerS(150e9, 0)).toBe(Infinity);
  });
});
