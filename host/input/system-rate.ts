/**
 * The system's rate (docs/design.md §10, "the wafer is one part of a system"): a run on a CS system is bound
 * by the slowest of three parts,
 * - the wafer: the simulated samples/s of the plan (its own fabric, buffers and stash);
 * - host-to-wafer I/O: the machine's `io_bytes_per_s` ÷ bytes per sample of input (features and labels);
 * - the input pipeline: what the input workers can produce, from their own busy time per sample
 *   (host/support-server.ts `capacitySamplesPerSecond`), never from the rate at which csrun's host numerics
 *   take batches, which is the emulator's cost and no part of the simulated system.
 * system samples/s = min(wafer, I/O, input pipeline), and the bound is the part that sets it.
 */

/** The part of the system that bounds its rate. */
export type SystemBound = 'wafer' | 'host I/O' | 'input pipeline';

/** A system rate with its parts (samples/s; Infinity where a part is not known to bind). */
export interface SystemRate {
  samplesPerS: number;
  bound: SystemBound;
  waferSamplesPerS: number;
  ioSamplesPerS: number;
  inputSamplesPerS: number;
}

/**
 * Combines the parts' rates.
 * @param parts samples/s of the wafer (required, > 0), of host I/O and of the input pipeline (0, undefined
 *   or non-finite: not measured, so not a bound).
 * @returns the minimum and the part that sets it (ties go to the wafer, then I/O).
 */
export function systemRate(parts: { wafer: number; io?: number; input?: number }): SystemRate {
  const known = (x: number | undefined) => (x !== undefined && Number.isFinite(x) && x > 0 ? x : Infinity);
  const wafer = parts.wafer;
  const io = known(parts.io);
  const input = known(parts.input);
  const samplesPerS = Math.min(wafer, io, input);
  const bound: SystemBound = samplesPerS === wafer ? 'wafer' : samplesPerS === io ? 'host I/O' : 'input pipeline';
  return { samplesPerS, bound, waferSamplesPerS: wafer, ioSamplesPerS: io, inputSamplesPerS: input };
}

/**
 * Samples/s the host-to-wafer link carries: `ioBytesPerS` ÷ `bytesPerSample`.
 * @returns Infinity when the machine has no I/O bandwidth or a sample has no bytes.
 */
export function ioSamplesPerS(ioBytesPerS: number | undefined, bytesPerSample: number): number {
  return ioBytesPerS && bytesPerSample > 0 ? ioBytesPerS / bytesPerSample : Infinity;
}

/** `2.37e+06 samples/s (system 1.17e+05, input-bound)`-style suffix parts: the bound's adjective. */
export function boundLabel(r: SystemRate): string {
  return r.bound === 'wafer' ? 'wafer-bound' : r.bound === 'host I/O' ? 'I/O-bound' : 'input-bound';
}
