// Scalars in TensorBoard's own event-file format, written by hand so training needs no TensorFlow,
// no protobuf library and no Python: TFRecord framing around hand-encoded `Event` protobufs.
import { closeSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';

const CRC32C_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let crc = i;
    for (let bit = 0; bit < 8; bit++) crc = crc & 1 ? (crc >>> 1) ^ 0x82f63b78 : crc >>> 1;
    table[i] = crc >>> 0;
  }
  return table;
})();

/** CRC-32C (Castagnoli), the checksum TFRecord uses; crc32c("123456789") is 0xE3069283. */
export function crc32c(bytes: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of bytes) crc = CRC32C_TABLE[(crc ^ byte) & 0xff] ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

/** TFRecord stores checksums masked, because a CRC of data that itself holds CRCs is weak. */
export function maskedCrc32c(bytes: Uint8Array): number {
  const crc = crc32c(bytes);
  return (((crc >>> 15) | (crc << 17)) + 0xa282ead8) >>> 0;
}

/** One TFRecord: length, its checksum, the data, the data's checksum. */
export function tfRecord(data: Uint8Array): Buffer {
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(data.length));
  const lengthCrc = Buffer.alloc(4);
  lengthCrc.writeUInt32LE(maskedCrc32c(length));
  const dataCrc = Buffer.alloc(4);
  dataCrc.writeUInt32LE(maskedCrc32c(data));
  return Buffer.concat([length, lengthCrc, data, dataCrc]);
}

// Protobuf wire types used by Event, Summary and Summary.Value.
const VARINT = 0;
const FIXED64 = 1;
const LENGTH_DELIMITED = 2;
const FIXED32 = 5;

function fieldKey(field: number, wireType: number): Buffer {
  return varint((field << 3) | wireType);
}

// Arithmetic rather than bit operators, which would cut the value to 32 bits.
function varint(value: number): Buffer {
  const bytes: number[] = [];
  let rest = value;
  while (rest >= 0x80) {
    bytes.push((rest % 0x80) | 0x80);
    rest = Math.floor(rest / 0x80);
  }
  bytes.push(rest);
  return Buffer.from(bytes);
}

function lengthDelimited(field: number, payload: Uint8Array): Buffer {
  return Buffer.concat([fieldKey(field, LENGTH_DELIMITED), varint(payload.length), payload]);
}

function double(field: number, value: number): Buffer {
  const bytes = Buffer.alloc(8);
  bytes.writeDoubleLE(value);
  return Buffer.concat([fieldKey(field, FIXED64), bytes]);
}

function float(field: number, value: number): Buffer {
  const bytes = Buffer.alloc(4);
  bytes.writeFloatLE(value);
  return Buffer.concat([fieldKey(field, FIXED32), bytes]);
}

interface EventFields {
  wallTime: number;
  step: number;
  fileVersion?: string;
  scalars?: Array<[tag: string, value: number]>;
}

/** Event { double wall_time = 1; int64 step = 2; string file_version = 3; Summary summary = 5; } */
function encodeEvent(event: EventFields): Buffer {
  const parts = [double(1, event.wallTime), fieldKey(2, VARINT), varint(event.step)];
  if (event.fileVersion !== undefined) parts.push(lengthDelimited(3, Buffer.from(event.fileVersion, 'utf8')));
  if (event.scalars !== undefined) {
    // Summary { repeated Value value = 1; }  Value { string tag = 1; float simple_value = 2; }
    const values = event.scalars.map(([tag, value]) => lengthDelimited(1, Buffer.concat([lengthDelimited(1, Buffer.from(tag, 'utf8')), float(2, value)])));
    parts.push(lengthDelimited(5, Buffer.concat(values)));
  }
  return Buffer.concat(parts);
}

// Distinguishes files that one process opens within the same second, as TensorBoard's writers do.
let filesOpened = 0;

export class TensorBoardWriter {
  readonly file: string;
  private fd: number | null;
  private pending: Buffer[] = [];

  constructor(dir: string) {
    mkdirSync(dir, { recursive: true });
    const seconds = Math.floor(Date.now() / 1000);
    this.file = path.join(dir, `events.out.tfevents.${seconds}.${hostname()}.${process.pid}.${filesOpened++}`);
    this.fd = openSync(this.file, 'wx');
    // TensorBoard recognises an event file by this first record.
    this.pending.push(tfRecord(encodeEvent({ wallTime: Date.now() / 1000, step: 0, fileVersion: 'brain.Event:2' })));
    this.flush();
  }

  /** Queues one scalar; it reaches the file on the next flush(), addScalars() or close(). */
  addScalar(tag: string, value: number, step: number, wallTimeSeconds: number = Date.now() / 1000): void {
    this.queue(step, [[tag, value]], wallTimeSeconds);
  }

  /** Writes all values as one event at this step and flushes, so a crash loses nothing logged before it. */
  addScalars(step: number, values: Record<string, number>): void {
    this.queue(step, Object.entries(values), Date.now() / 1000);
    this.flush();
  }

  flush(): void {
    if (this.fd === null || this.pending.length === 0) return;
    const bytes = Buffer.concat(this.pending);
    this.pending = [];
    let written = 0;
    while (written < bytes.length) written += writeSync(this.fd, bytes, written, bytes.length - written);
  }

  close(): void {
    if (this.fd === null) return;
    this.flush();
    closeSync(this.fd);
    this.fd = null;
  }

  private queue(step: number, scalars: Array<[string, number]>, wallTime: number): void {
    if (this.fd === null) throw new Error(`TensorBoard writer for ${this.file} is already closed`);
    if (!Number.isSafeInteger(step) || step < 0) throw new Error(`TensorBoard step must be a non-negative integer up to 2^53, got ${step}`);
    this.pending.push(tfRecord(encodeEvent({ wallTime, step, scalars })));
  }
}
