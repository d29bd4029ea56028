// The quickstart as a newcomer runs it (shortened with --poems and --max_steps): every step, the printed
// sample and paths, and a second run that reuses each step's output.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { runCli } from './support/cli.js';
import { tempDir } from './support/files.js';

test('quickstart builds the corpus, tokenizer, dataset and model, prints a sample, and reuses them when run again', async () => {
  const root = tempDir('quickstart');
  const args = ['quickstart', '--data_dir', path.join(root, 'data'), '--out_dir', path.join(root, 'out'), '--poems', '2000', '--max_steps', '4'];
  const first = await runCli(args);
  assert.equal(first.code, 0, first.stderr);
  for (const step of ['1/5 sample corpus', '2/5 tokenizer', '3/5 prepare', '4/5 pretrain', '5/5 generate']) assert.match(first.stderr, new RegExp(step));
  assert.match(first.stderr, /step 4: val_loss/);
  assert.match(first.stdout, /^床前明月光.+/m);
  assert.match(first.stdout, /checkpoint +\S+out\/final/);
  for (const file of [
    'data/raw/poems.parquet',
    'data/tokenizer/tokenizer.json',
    'data/prepared/train/index.json',
    'out/final/model.safetensors',
    'out/report.html',
    'out/loss.png',
  ]) {
    assert.ok(fs.existsSync(path.join(root, file)), file);
  }

  const again = await runCli(args);
  assert.equal(again.code, 0, again.stderr);
  assert.equal((again.stderr.match(/reusing/g) ?? []).length, 3, again.stderr);
  assert.doesNotMatch(again.stderr, /training \d/);
  assert.match(again.stdout, /already complete; nothing to do/);
  const sample = (stdout: string) => /^床前明月光.*$/m.exec(stdout)![0];
  assert.equal(sample(again.stdout), sample(first.stdout), 'the same checkpoint and seed give the same sample');
});
