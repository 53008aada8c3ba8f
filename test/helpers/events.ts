/**
 * A TensorBoard event-file reader written apart from the product's writer (host/summaries.ts): its own
 * CRC-32C table, record framing and protobuf wire-format decoding (no protobufjs, no tfrecord.ts).
 */
import { expect } from 'vitest';

const TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();
function crc32c(b: Uint8Array): number {
  let c = 0xffffffff;
  for (const x of b) c = TABLE[(c ^ x) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
const masked = (b: Uint8Array) => {
  const c = crc32c(b);
  return (((c >>> 15) | (c << 17)) + 0xa282ead8) >>> 0;
};

export function readRecords(buf: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let o = 0;
  while (o < buf.length) {
    const len = Number(buf.readBigUInt64LE(o));
    expect(buf.readUInt32LE(o + 8)).toBe(masked(buf.subarray(o, o + 8)));
    const data = buf.subarray(o + 12, o + 12 + len);
    expect(buf.readUInt32LE(o + 12 + len)).toBe(masked(data));
    out.push(data);
    o += 16 + len;
  }
  return out;
}

type Field = { no: number; wire: number; value: number | bigint | Buffer };
function fields(b: Buffer): Field[] {
  const out: Field[] = [];
  let o = 0;
  const varint = () => {
    let r = 0n;
    let s = 0n;
    for (;;) {
      const x = b[o++];
      r |= BigInt(x & 0x7f) << s;
      s += 7n;
      if (x < 0x80) return r;
    }
  };
  while (o < b.length) {
    const key = Number(varint());
    const no = key >> 3;
    const wire = key & 7;
    if (wire === 0) out.push({ no, wire, value: varint() });
    else if (wire === 1) out.push({ no, wire, value: b.readDoubleLE((o += 8) - 8) });
    else if (wire === 5) out.push({ no, wire, value: b.readFloatLE((o += 4) - 4) });
    else if (wire === 2) {
      const n = Number(varint());
      out.push({ no, wire, value: b.subarray(o, (o += n)) });
    } else throw new Error(`wire type ${wire}`);
  }
  return out;
}


/** Every scalar of an event file as `[step, tag, value]`, checking framing and CRCs; also the file_version. */
export function readScalars(buf: Buffer): { fileVersion: string; scalars: [number, string, number][] } {
  const recs = readRecords(buf);
  const fileVersion = fields(recs[0]).find((f) => f.no === 3)!.value.toString();
  const scalars: [number, string, number][] = [];
  for (const r of recs.slice(1)) {
    const fs_ = fields(r);
    expect(typeof fs_.find((f) => f.no === 1)!.value).toBe('number'); // wall_time, double
    const step = Number(fs_.find((f) => f.no === 2)?.value ?? 0);
    const summary = fs_.find((f) => f.no === 5);
    if (!summary) continue;
    for (const v of fields(summary.value as Buffer)) {
      const val = fields(v.value as Buffer);
      scalars.push([step, val.find((f) => f.no === 1)!.value.toString(), val.find((f) => f.no === 2)!.value as number]);
    }
  }
  return { fileVersion, scalars };
}
