/**
 * TensorBoard summaries: scalar events in `events.out.tfevents.*` files, as tf.summary / tf.estimator write
 * them, readable by TensorBoard and `tf.compat.v1.train.summary_iterator`.
 *
 * A file is a sequence of TFRecord records (framing and masked CRC-32C: host/data/readers/tfrecord.ts), each a
 * serialised `tensorflow.Event` protocol buffer (tensorflow/core/util/event.proto): the first carries
 * `file_version = "brain.Event:2"`, the others `wall_time`, `step` and a `Summary` of `{ tag, simple_value }`
 * values (tensorflow/core/framework/summary.proto). Protobuf encoding: protobufjs.
 * {@link readScalarEvents} reads them back (for `csrun report --html`'s training curves).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import protobuf from 'protobufjs';
import { ensureDir } from '../runtime/fs.ts';
import { decodeRecords, encodeRecord } from './data/readers/tfrecord.ts';

// Only the fields we write, with their numbers from event.proto and summary.proto.
const root = protobuf.Root.fromJSON({
  nested: {
    tensorflow: {
      nested: {
        Event: {
          fields: {
            wall_time: { type: 'double', id: 1 },
            step: { type: 'int64', id: 2 },
            file_version: { type: 'string', id: 3 },
            summary: { type: 'Summary', id: 5 },
          },
        },
        Summary: {
          fields: { value: { rule: 'repeated', type: 'Value', id: 1 } },
          nested: { Value: { fields: { tag: { type: 'string', id: 1 }, simple_value: { type: 'float', id: 2 } } } },
        },
      },
    },
  },
});
const EventType = root.lookupType('tensorflow.Event');

/** The file-name prefix TensorBoard looks for. */
export const EVENTS_PREFIX = 'events.out.tfevents.';

/**
 * Appends scalar summaries to a new event file in `dir`.
 * Events are buffered and appended to the file by {@link SummaryWriter.flush} (also on close).
 */
export class SummaryWriter {
  /** Absolute path of the event file. */
  readonly file: string;
  private pending: Uint8Array[] = [];

  /** Creates `dir` if needed and the event file `events.out.tfevents.<unix seconds>.<hostname>.<pid>`. */
  constructor(dir: string) {
    ensureDir(dir);
    this.file = path.join(dir, `${EVENTS_PREFIX}${Math.floor(Date.now() / 1000)}.${os.hostname()}.${process.pid}`);
    fs.writeFileSync(this.file, encodeRecord(EventType.encode({ wall_time: Date.now() / 1000, file_version: 'brain.Event:2' }).finish()));
  }

  /**
   * Records scalars at a global step.
   * @param values tag → value (e.g. `{ loss: 0.31, learning_rate: 0.001 }`); non-finite values are written
   *   as they are (TensorBoard shows NaN/Inf).
   * @param step   global step (integer ≥ 0).
   */
  scalars(values: Record<string, number>, step: number): void {
    const value = Object.entries(values).map(([tag, simple_value]) => ({ tag, simple_value }));
    this.pending.push(encodeRecord(EventType.encode({ wall_time: Date.now() / 1000, step, summary: { value } }).finish()));
  }

  /** Appends buffered events to the file. */
  flush(): void {
    if (this.pending.length === 0) return;
    fs.appendFileSync(this.file, Buffer.concat(this.pending));
    this.pending = [];
  }

  /** Flushes; the writer must not be used afterwards. */
  close(): void {
    this.flush();
  }
}

/** Scalars of one tag: steps and values in file order (a resumed run appends to a new file: sorted by step). */
export interface ScalarSeries {
  steps: number[];
  values: number[];
}

/**
 * Every scalar summary of the event files directly in `dir` (`events.out.tfevents.*`, not recursing: an
 * estimator's eval events live in `dir/eval`), by tag, sorted by step; a step written twice (a run resumed
 * from an earlier checkpoint) keeps the later file's value. Non-scalar events are skipped.
 * @returns tag → series; `{}` when `dir` has no event file or does not exist.
 * @throws UserError naming the file when a record is truncated or fails its CRC.
 */
export function readScalarEvents(dir: string): Record<string, ScalarSeries> {
  if (!fs.existsSync(dir)) return {};
  const files = fs
    .readdirSync(dir)
    .filter((f) => f.startsWith(EVENTS_PREFIX))
    .sort();
  const byTag = new Map<string, Map<number, number>>();
  for (const f of files) {
    const file = path.join(dir, f);
    for (const rec of decodeRecords(fs.readFileSync(file), file)) {
      const ev = EventType.toObject(EventType.decode(rec), { longs: Number, defaults: true }) as { step?: number; summary?: { value?: { tag?: string; simple_value?: number }[] } };
      for (const v of ev.summary?.value ?? []) {
        if (!v.tag || v.simple_value === undefined) continue;
        let m = byTag.get(v.tag);
        if (!m) byTag.set(v.tag, (m = new Map()));
        m.set(ev.step ?? 0, v.simple_value);
      }
    }
  }
  const out: Record<string, ScalarSeries> = {};
  for (const [tag, m] of [...byTag].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const steps = [...m.keys()].sort((a, b) => a - b);
    out[tag] = { steps, values: steps.map((s) => m.get(s)!) };
  }
  return out;
}
