// A sharded prepare as a cluster runs it: a 3-task Slurm job array (its environment variables only)
// writing into one output folder at once, each task running the quality filters on its own files, the
// merge refusing until every shard is done, and the merged dataset (and filter report) being those of
// a one-machine prepare, in the same order. Where each task's shard
// comes from (Slurm, litdata, Kubernetes) is checked on its own.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { chooseShard } from '../ts/data/shard.js';
import { minimindTokenizer, runCli } from './support/cli.js';
import { poems } from './support/corpus.js';
import { tempDir, writeJsonl } from './support/files.js';

/** A split's documents (their token bytes), in index.json's order. */
function documents(split: string): Buffer[] {
  const index = JSON.parse(fs.readFileSync(path.join(split, 'index.json'), 'utf8')) as { chunks: { filename: string }[] };
  return index.chunks.flatMap(({ filename }) => {
    const chunk = fs.readFileSync(path.join(split, filename));
    const items = chunk.readUInt32LE(0);
    const offsets = Array.from({ length: items + 1 }, (_, i) => chunk.readUInt32LE(4 + 4 * i));
    return offsets.slice(0, -1).map((start, i) => chunk.subarray(start, offsets[i + 1]));
  });
}

test('a 3-task Slurm array prepares into one folder, merges once all are done, and holds the one-machine dataset', async () => {
  const input = tempDir('shards-input');
  const all = [...poems(3000)];
  // Files of different sizes, so the shards cut by bytes, not by count.
  const sizes = [200, 700, 300, 300, 900, 100, 500];
  let start = 0;
  sizes.forEach((size, i) => {
    writeJsonl(path.join(input, `part-${i}.jsonl`), all.slice(start, start + size));
    start += size;
  });
  // A rule that drops the short poems, so that the shards' filters have work to do.
  const filters = path.join(tempDir('shards-filters'), 'filters.yaml');
  fs.writeFileSync(filters, 'length:\n  min_chars: 40\n');
  const args = (output: string) => [
    'prepare',
    '--filters',
    filters,
    '--input_dir',
    input,
    '--output_dir',
    output,
    '--tokenizer_path',
    minimindTokenizer,
    '--chunk_size',
    '20000',
    '--val_fraction',
    '0.05',
  ];
  const single = tempDir('shards-single');
  const whole = await runCli(args(single));
  assert.equal(whole.code, 0, whole.stderr);

  const output = tempDir('shards-output');
  const task = (id: number) => runCli(args(output), { SLURM_ARRAY_TASK_ID: String(id), SLURM_ARRAY_TASK_COUNT: '3', SLURM_ARRAY_TASK_MIN: '0' });
  const [first, second] = await Promise.all([task(0), task(1)]);
  for (const run of [first, second]) assert.equal(run.code, 0, run.stderr);
  assert.match(first.stdout, /shard 0 of 3 \(from SLURM_ARRAY_TASK_ID, SLURM_ARRAY_TASK_COUNT\)/);
  assert.match(first.stdout, /when all 3 shards are done: npx minilm prepare --merge /);

  const early = await runCli(['prepare', '--merge', output]);
  assert.notEqual(early.code, 0);
  assert.match(early.stderr, /shard 2 of 3 \(.*shard-2-of-3\) is missing: run `minilm prepare --shard 2\/3`/);
  assert.ok(!fs.existsSync(path.join(output, 'train', 'index.json')), 'no index over part of the data');

  const third = await task(2);
  assert.equal(third.code, 0, third.stderr);
  const merged = await runCli(['prepare', '--merge', output]);
  assert.equal(merged.code, 0, merged.stderr);
  assert.match(merged.stdout, /merged 3 shards of 7 input files into /);
  for (const split of ['train', 'val']) {
    const [got, want] = [documents(path.join(output, split)), documents(path.join(single, split))];
    assert.ok(want.length > 0);
    assert.equal(got.length, want.length, `${split}: documents`);
    assert.ok(
      got.every((doc, i) => doc.equals(want[i])),
      `${split}: the same documents in the same order`,
    );
  }
  assert.ok(fs.existsSync(path.join(output, 'tokenizer', 'tokenizer.json')));
  const report = (folder: string) => JSON.parse(fs.readFileSync(path.join(folder, 'filter-report.json'), 'utf8'));
  assert.ok(report(single).dropped > 0, 'the filter dropped some poems');
  assert.deepEqual(report(output), report(single), "the shards' reports add up to the one-machine report");
  // Dedup compares documents across the whole input: a shard refuses it.
  const dedup = await runCli([...args(tempDir('shards-dedup')), '--shard', '0/3', '--dedup', 'exact']);
  assert.notEqual(dedup.code, 0);
  assert.match(dedup.stderr, /dedup does not run with --shard: it compares documents across the whole input/);
  const inspect = await runCli(['inspect', output]);
  assert.equal(inspect.code, 0, inspect.stderr);
});

test('a shard comes from --shard, or from a Slurm array, litdata or a Kubernetes indexed Job', () => {
  assert.deepEqual(chooseShard('1/4', undefined, {}), { index: 1, count: 4, source: '--shard' });
  assert.equal(chooseShard(undefined, undefined, {}), null);
  assert.equal(chooseShard('none', undefined, { SLURM_ARRAY_TASK_ID: '2', SLURM_ARRAY_TASK_COUNT: '4' }), null);
  // An array numbered from 1 (--array=1-4): the task's place in it.
  assert.equal(chooseShard(undefined, undefined, { SLURM_ARRAY_TASK_ID: '4', SLURM_ARRAY_TASK_COUNT: '4', SLURM_ARRAY_TASK_MIN: '1' })?.index, 3);
  assert.deepEqual(chooseShard(undefined, undefined, { DATA_OPTIMIZER_NODE_RANK: '1', DATA_OPTIMIZER_NUM_NODES: '2' })?.count, 2);
  assert.equal(chooseShard(undefined, 5, { JOB_COMPLETION_INDEX: '4' })?.index, 4);
  assert.throws(() => chooseShard(undefined, undefined, { JOB_COMPLETION_INDEX: '4' }), /JOB_COMPLETION_INDEX is set .* give --num_shards/);
  assert.throws(() => chooseShard('3/3', undefined, {}), /--shard: shard 3 of 3: expected a shard from 0 to 2/);
  assert.throws(() => chooseShard('1-3', undefined, {}), /--shard 1-3: expected I\/N/);
});
