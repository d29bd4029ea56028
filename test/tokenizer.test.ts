// `minilm tokenizer train` writes a tokenizer HF tokenizers loads and prepare accepts; `inspect` reports.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { readFileSync } from 'node:fs';
import { Tokenizer } from 'tokenizers';
import { writeParquetTexts } from '../ts/index.js';
import { mixedCorpus } from './support/corpus.js';
import { runCli } from './support/cli.js';
import { readDataset, referenceIds } from './support/dataset.js';
import { tempDir } from './support/files.js';

test('train a BPE, load it with HF tokenizers, prepare with it, inspect the result', async () => {
  const input = tempDir('tok-in');
  const texts = mixedCorpus(3000);
  writeParquetTexts(path.join(input, 'a.parquet'), [texts.slice(0, 1500)]);
  writeParquetTexts(path.join(input, 'b/b.parquet'), [texts.slice(1500)]);
  const tokDir = tempDir('tok');
  const trained = await runCli(['tokenizer', 'train', '--input_dir', input, '--output_dir', tokDir, '--vocab_size', '1000']);
  assert.equal(trained.code, 0, trained.stderr);
  assert.match(trained.stdout, /trained a 1,000-token tokenizer on 3,000 documents/);

  const hf = Tokenizer.fromFile(path.join(tokDir, 'tokenizer.json'));
  assert.equal(hf.getVocabSize(true), 1000);
  const sample = '床前明月光 The jury said';
  assert.equal(await hf.decode([...(await hf.encode(sample)).getIds()], false), sample, 'byte-level BPE round-trips');
  const config = JSON.parse(readFileSync(path.join(tokDir, 'tokenizer_config.json'), 'utf8'));
  assert.equal(config.eos_token, '</s>');
  assert.equal(hf.tokenToId('<unk>'), 0);
  assert.equal(hf.tokenToId('</s>'), 2);

  const out = tempDir('tok-out');
  const prepared = await runCli(['prepare', '--input_dir', input, '--output_dir', out, '--tokenizer_path', tokDir, '--val_fraction', '0']);
  assert.equal(prepared.code, 0, prepared.stderr);
  assert.deepEqual(readDataset(out).train, await referenceIds(tokDir, texts));

  const inspected = await runCli(['inspect', out]);
  assert.equal(inspected.code, 0, inspected.stderr);
  assert.match(inspected.stdout, /train .*\n\s+3,000 documents, [\d,]+ tokens, 1 chunks, int16, item_loader TokensLoader/);
  assert.match(inspected.stdout, /distinct token ids seen, largest \d+ \(tokenizer vocabulary: 1,000\)/);
  assert.match(inspected.stdout, /sample 1: /);
});

test('tokenizer train on a deterministic sample', async () => {
  const input = tempDir('tok-sample-in');
  writeParquetTexts(path.join(input, 'a.parquet'), [mixedCorpus(2000)]);
  const train = (dir: string, extra: string[]) => runCli(['tokenizer', 'train', '--input_dir', input, '--output_dir', dir, '--vocab_size', '600', ...extra]);
  const [a, b] = [tempDir('tok-sample-a'), tempDir('tok-sample-b')];
  const first = await train(a, ['--sample_fraction', '0.25']);
  assert.equal(first.code, 0, first.stderr);
  const documents = Number(/on ([\d,]+) documents/.exec(first.stdout)![1].replace(/,/g, ''));
  assert.ok(documents > 380 && documents < 620, first.stdout);
  assert.equal((await train(b, ['--sample_fraction', '0.25'])).code, 0);
  assert.equal(readFileSync(path.join(a, 'tokenizer.json'), 'utf8'), readFileSync(path.join(b, 'tokenizer.json'), 'utf8'), 'the same sample');
  const capped = await train(tempDir('tok-sample-c'), ['--max_documents', '300']);
  assert.match(capped.stdout, /on 300 documents/);
  const bad = await train(tempDir('tok-sample-d'), ['--sample_fraction', '0']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--sample_fraction must be a number above 0 and at most 1, not 0/);
});

test('tokenizer train and inspect explain bad input', async () => {
  const bad = await runCli(['tokenizer', 'train', '--input_dir', tempDir('empty'), '--output_dir', tempDir('x')]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /holds no \.parquet, \.jsonl \(\.jsonl\.gz, \.jsonl\.zst, \.json\) or \.csv files/);
  const small = await runCli(['tokenizer', 'train', '--input_dir', tempDir('e'), '--output_dir', tempDir('x'), '--vocab_size', '10']);
  assert.match(small.stderr, /vocab_size must be at least 259/);
  const missing = await runCli(['inspect', tempDir('nothing')]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /no index\.json here nor in train\/ or val\//);
});
