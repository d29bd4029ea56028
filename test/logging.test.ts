// Metric files the training loop writes: litgpt's CSV layout and TensorBoard event files.
// The event files are read back by a decoder written here from the format description, not by the
// writer's own code, so a mistake shared by writer and reader cannot hide.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { CsvMetricsLogger, litgptCsvMetricsFile } from '../ts/log/csv-metrics.js';
import { TensorBoardWriter, crc32c } from '../ts/log/tensorboard.js';

const columns = ['step', 'iter', 'tokens', 'loss', 'learning_rate', 'tokens_per_sec', 'mfu', 'val_loss', 'val_ppl'];

function tempFolder(t: { after: (fn: () => void) => void }, name: string): string {
  const dir = mkdtempSync(path.join(tmpdir(), `minilm-${name}-`));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('CSV: header, one row per log call, empty cells for missing metrics', (t) => {
  const file = litgptCsvMetricsFile(tempFolder(t, 'csv'));
  assert.match(file, /logs[\\/]csv[\\/]version_0[\\/]metrics\.csv$/);
  const logger = CsvMetricsLogger.open(file, columns);
  logger.log(1, { iter: 8, tokens: 4096, loss: 0.1 + 0.2, learning_rate: 6e-4 });
  logger.log(2, { val_loss: NaN, val_ppl: Infinity, mfu: -Infinity });
  logger.close();
  assert.equal(readFileSync(file, 'utf8'), [columns.join(','), '1,8,4096,0.30000000000000004,0.0006,,,,', '2,,,,,,-inf,nan,inf', ''].join('\n'));
});

test('CSV: resumeAfterStep keeps earlier rows byte for byte and drops later and torn ones', (t) => {
  const file = path.join(tempFolder(t, 'csv-resume'), 'nested', 'metrics.csv');
  const first = CsvMetricsLogger.open(file, columns);
  for (let step = 1; step <= 5; step++) first.log(step, { loss: 1 / step });
  first.close();
  const original = readFileSync(file, 'utf8');
  writeFileSync(file, `${original}6,,,0.16`); // a row cut short by a kill mid-write

  const resumed = CsvMetricsLogger.open(file, columns, { resumeAfterStep: 3 });
  resumed.log(4, { loss: 0.2 });
  resumed.close();
  const keptPrefix = `${original.split('\n').slice(0, 4).join('\n')}\n`;
  assert.equal(readFileSync(file, 'utf8'), `${keptPrefix}4,,,0.2,,,,,\n`);
  assert.deepEqual(readdirSync(path.dirname(file)), ['metrics.csv'], 'no temp file left behind');

  // Without resumeAfterStep an existing file is replaced.
  CsvMetricsLogger.open(file, columns).close();
  assert.equal(readFileSync(file, 'utf8'), `${columns.join(',')}\n`);
});

test('CSV: unknown metric and mismatched header on resume are errors that name them', (t) => {
  const file = path.join(tempFolder(t, 'csv-errors'), 'metrics.csv');
  const logger = CsvMetricsLogger.open(file, columns);
  assert.throws(() => logger.log(1, { los: 1 }), /"los"/);
  logger.log(1, { loss: 1 });
  logger.close();
  const before = readFileSync(file, 'utf8');
  assert.throws(
    () => CsvMetricsLogger.open(file, ['step', 'loss'], { resumeAfterStep: 1 }),
    (err: Error) => err.message.includes(file) && err.message.includes(columns.join(',')) && err.message.includes('step,loss'),
  );
  assert.equal(readFileSync(file, 'utf8'), before, 'a refused resume leaves the file alone');
});

test('CSV: a run logged by an older minilm, without val_bpb, resumes with its rows moved into the new columns', (t) => {
  const file = path.join(tempFolder(t, 'csv-upgrade'), 'metrics.csv');
  writeFileSync(file, 'step,loss,val_loss\n1,2.5,\n2,2.4,2.6\n3,2.3,\n');
  const logger = CsvMetricsLogger.open(file, ['step', 'loss', 'val_loss', 'val_bpb'], { resumeAfterStep: 2 });
  logger.log(3, { loss: 2.2, val_bpb: 1.5 });
  logger.close();
  assert.equal(readFileSync(file, 'utf8'), 'step,loss,val_loss,val_bpb\n1,2.5,,\n2,2.4,2.6,\n3,2.2,,1.5\n');
});

// ---- An independent TFRecord + protobuf reader, bit by bit rather than table-driven. ----

function crc32cBitwise(bytes: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of bytes) {
    crc ^= byte;
    for (let bit = 0; bit < 8; bit++) crc = (crc >>> 1) ^ (0x82f63b78 & -(crc & 1));
  }
  return (crc ^ 0xffffffff) >>> 0;
}

function unmasked(masked: number): number {
  const rotated = (masked - 0xa282ead8) >>> 0;
  return ((rotated >>> 17) | (rotated << 15)) >>> 0;
}

function readRecords(bytes: Buffer): Buffer[] {
  const records: Buffer[] = [];
  let at = 0;
  while (at < bytes.length) {
    const lengthBytes = bytes.subarray(at, at + 8);
    assert.equal(unmasked(bytes.readUInt32LE(at + 8)), crc32cBitwise(lengthBytes), `length CRC of record ${records.length}`);
    const length = Number(bytes.readBigUInt64LE(at));
    const data = bytes.subarray(at + 12, at + 12 + length);
    assert.equal(unmasked(bytes.readUInt32LE(at + 12 + length)), crc32cBitwise(data), `data CRC of record ${records.length}`);
    records.push(data);
    at += 12 + length + 4;
  }
  return records;
}

type Field = { field: number; value: number | Buffer };

function decodeFields(bytes: Buffer): Field[] {
  const fields: Field[] = [];
  let at = 0;
  const readVarint = () => {
    let value = 0n;
    for (let shift = 0n; ; shift += 7n) {
      const byte = bytes[at++];
      value |= BigInt(byte & 0x7f) << shift;
      if (byte < 0x80) return Number(value);
    }
  };
  while (at < bytes.length) {
    const key = readVarint();
    const field = key >>> 3;
    switch (key & 7) {
      case 0:
        fields.push({ field, value: readVarint() });
        break;
      case 1:
        fields.push({ field, value: bytes.readDoubleLE(at) });
        at += 8;
        break;
      case 5:
        fields.push({ field, value: bytes.readFloatLE(at) });
        at += 4;
        break;
      case 2: {
        const length = readVarint();
        fields.push({ field, value: bytes.subarray(at, at + length) });
        at += length;
        break;
      }
      default:
        assert.fail(`unexpected wire type ${key & 7}`);
    }
  }
  return fields;
}

interface DecodedEvent {
  wallTime?: number;
  step: number;
  fileVersion?: string;
  scalars: Array<[string, number]>;
}

function decodeEvent(bytes: Buffer): DecodedEvent {
  const event: DecodedEvent = { step: 0, scalars: [] };
  for (const { field, value } of decodeFields(bytes)) {
    if (field === 1) event.wallTime = value as number;
    if (field === 2) event.step = value as number;
    if (field === 3) event.fileVersion = (value as Buffer).toString('utf8');
    if (field === 5) {
      for (const summaryValue of decodeFields(value as Buffer).filter((f) => f.field === 1)) {
        const parts = decodeFields(summaryValue.value as Buffer);
        const tag = (parts.find((f) => f.field === 1)!.value as Buffer).toString('utf8');
        event.scalars.push([tag, parts.find((f) => f.field === 2)!.value as number]);
      }
    }
  }
  return event;
}

test('CRC32C matches the standard check value, table-driven and bitwise', () => {
  const check = Buffer.from('123456789', 'ascii');
  assert.equal(crc32c(check), 0xe3069283);
  assert.equal(crc32cBitwise(check), 0xe3069283);
  const random = Buffer.from(Array.from({ length: 1000 }, (_, i) => (i * 7919 + 13) & 0xff));
  assert.equal(crc32c(random), crc32cBitwise(random));
});

test('TensorBoard: event file with a version record and scalars that an independent reader decodes', (t) => {
  const dir = path.join(tempFolder(t, 'tb'), 'logs', 'tensorboard');
  const writer = new TensorBoardWriter(dir);
  const second = new TensorBoardWriter(dir);
  second.close();
  writer.addScalar('loss', 2.5, 0, 1700000000.25);
  writer.addScalar('loss', 2.25, 300, 1700000001.5);
  writer.flush();
  writer.addScalars(2 ** 53 - 1, { 'train/loss': 1.75, learning_rate: 6e-4 });
  assert.throws(() => writer.addScalar('loss', 1, -1), /non-negative/);
  writer.close();

  const names = readdirSync(dir).sort();
  assert.equal(names.length, 2, 'two writers in one second get two files');
  for (const name of names) assert.match(name, /^events\.out\.tfevents\.\d{10}\..+\.\d+\.\d+$/);

  const events = readRecords(readFileSync(writer.file)).map(decodeEvent);
  assert.equal(events[0].fileVersion, 'brain.Event:2');
  assert.ok(Math.abs(events[0].wallTime! - Date.now() / 1000) < 60);
  assert.deepEqual(
    events.slice(1).map((e) => [e.step, e.scalars]),
    [
      [0, [['loss', 2.5]]],
      [300, [['loss', 2.25]]],
      [
        2 ** 53 - 1,
        [
          ['train/loss', 1.75],
          ['learning_rate', Math.fround(6e-4)],
        ],
      ],
    ],
  );
  assert.equal(events[1].wallTime, 1700000000.25);
  assert.equal(events[2].wallTime, 1700000001.5);
  assert.equal(readRecords(readFileSync(second.file)).length, 1, 'a file with only its version record');
});
