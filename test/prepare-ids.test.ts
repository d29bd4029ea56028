// Every document's ids equal HF tokenizers' ids (the npm `tokenizers` package), whatever the input
// format, codec, row-group size or folder layout, with BOS / EOS as litgpt adds them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { appendFileSync, writeFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { writeParquetTexts } from '../ts/index.js';
import { awkwardDocuments, mixedCorpus, poems } from './support/corpus.js';
import { minimind3Tokenizer, minimindTokenizer, runCli } from './support/cli.js';
import { readDataset, referenceIds } from './support/dataset.js';
import { tempDir, writeCsv, writeJsonl } from './support/files.js';

const corpus = [...mixedCorpus(1200), ...awkwardDocuments, [...poems(3000)].join('\n\n')];

async function prepareAndCompare(inputDir: string, expectedTexts: string[], extra: string[] = [], tokenizer = minimindTokenizer) {
  const out = tempDir('out');
  const result = await runCli(['prepare', '--input_dir', inputDir, '--output_dir', out, '--tokenizer_path', tokenizer, '--val_fraction', '0', ...extra]);
  assert.equal(result.code, 0, result.stderr);
  const { train, val } = readDataset(out);
  assert.equal(val.length, 0);
  const expected = await referenceIds(tokenizer, expectedTexts);
  assert.equal(train.length, expected.length);
  for (let i = 0; i < expected.length; i++) assert.deepEqual(train[i], expected[i], `document ${i}`);
  return { out, result };
}

test('parquet in nested folders, several codecs and row-group sizes: ids equal HF tokenizers', async () => {
  const input = tempDir('parquet');
  const parts: Array<[string, string, number]> = [
    ['a/snappy.parquet', 'snappy', 7],
    ['a/b/zstd.parquet', 'zstd', 100],
    ['a/b/c/gzip.parquet', 'gzip', 1],
    ['brotli.parquet', 'brotli', 64],
    ['lz4.parquet', 'lz4', 1000],
    ['z-none.parquet', 'none', 50],
  ];
  const per = Math.ceil(corpus.length / parts.length);
  const byFile = new Map<string, string[]>();
  parts.forEach(([file, compression, rowGroupSize], i) => {
    const texts = corpus.slice(i * per, (i + 1) * per);
    byFile.set(file, texts);
    // A null and an empty text in every file: skipped and counted, never fatal.
    writeParquetTexts(path.join(input, file), [texts.slice(0, 3), [null, ''], texts.slice(3)], { compression, rowGroupSize });
  });
  // Sorted path order, documents in file order.
  const expected = [...byFile.keys()].sort().flatMap((f) => byFile.get(f)!);
  const { result } = await prepareAndCompare(input, expected, ['--chunk_size', '30000']);
  assert.match(result.stdout, /skipped 6 null and 6 empty texts/);
});

test('JSONL, with another text key and blank lines: ids equal HF tokenizers', async () => {
  const input = tempDir('jsonl');
  writeJsonl(path.join(input, 'x/1.jsonl'), corpus.slice(0, 600), 'content');
  writeJsonl(path.join(input, '2.jsonl'), [...corpus.slice(600), null], 'content');
  appendFileSync(path.join(input, '2.jsonl'), '\n   \n');
  await prepareAndCompare(input, [...corpus.slice(600), ...corpus.slice(0, 600)], ['--text_key', 'content', '--file_type', 'jsonl']);
});

test('JSON as HF datasets ship it (.jsonl.gz beside .jsonl, a .json array, a nested key): ids equal HF tokenizers', async () => {
  const input = tempDir('hf-json');
  const lines = (texts: string[]) => `${texts.map((text) => JSON.stringify({ id: 1, meta: { content: text } })).join('\n')}\n`;
  writeFileSync(path.join(input, 'a.jsonl.gz'), gzipSync(lines(corpus.slice(0, 500))));
  writeFileSync(path.join(input, 'b.jsonl'), lines(corpus.slice(500, 900)));
  await prepareAndCompare(input, corpus.slice(0, 900), ['--text_key', 'meta.content']);
  const arrays = tempDir('hf-json-array');
  writeFileSync(path.join(arrays, 'train.json'), JSON.stringify(corpus.slice(0, 300).map((text) => ({ meta: { content: text } }))));
  await prepareAndCompare(arrays, corpus.slice(0, 300), ['--text_key', 'meta.content']);
});

test('a folder of mixed kinds is read whole with --file_type auto, in sorted path order: ids equal HF tokenizers', async () => {
  const input = tempDir('mixed');
  writeParquetTexts(path.join(input, 'a.parquet'), [corpus.slice(0, 300)]);
  const jsonLines = corpus.slice(300, 600).map((text) => `${JSON.stringify({ text })}\n`);
  writeFileSync(path.join(input, 'b.jsonl.gz'), gzipSync(jsonLines.join('')));
  writeCsv(path.join(input, 'c/d.csv'), corpus.slice(600, 900));
  const { result } = await prepareAndCompare(input, corpus.slice(0, 900), ['--file_type', 'auto']);
  assert.match(result.stdout, /prepared 3 \.parquet, \.jsonl, \.csv files/);
});

test('CSV with quoted newlines, commas and quotes: ids equal HF tokenizers', async () => {
  const input = tempDir('csv');
  const texts = [...corpus.slice(0, 500), 'a "quoted", comma\nand a\r\nnewline'];
  writeCsv(path.join(input, 'data.csv'), texts);
  await prepareAndCompare(input, texts);
});

test('another tokenizer (minimind3): ids equal HF tokenizers', async () => {
  const input = tempDir('jsonl3');
  writeJsonl(path.join(input, 'a.jsonl'), corpus.slice(0, 400));
  await prepareAndCompare(input, corpus.slice(0, 400), [], minimind3Tokenizer);
});

test('the validation split holds about val_fraction of the documents, and train + val is the corpus', async () => {
  const input = tempDir('split');
  const texts = corpus.slice(0, 1000);
  writeJsonl(path.join(input, 'a.jsonl'), texts);
  const out = tempDir('out');
  const result = await runCli([
    'prepare',
    '--input_dir',
    input,
    '--output_dir',
    out,
    '--tokenizer_path',
    minimindTokenizer,
    '--val_fraction',
    '0.2',
    '--seed',
    '7',
  ]);
  assert.equal(result.code, 0, result.stderr);
  const { train, val } = readDataset(out);
  assert.ok(val.length > 150 && val.length < 250, `val has ${val.length} of 1000`);
  // Merging the two splits back in order gives every document exactly once.
  const expected = await referenceIds(minimindTokenizer, texts);
  let t = 0;
  let v = 0;
  for (const ids of expected) {
    if (t < train.length && JSON.stringify(train[t]) === JSON.stringify(ids)) t++;
    else if (v < val.length && JSON.stringify(val[v]) === JSON.stringify(ids)) v++;
    else assert.fail(`document ${t + v} is in neither split at its place`);
  }
  assert.equal(t + v, texts.length);
});
