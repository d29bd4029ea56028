// Determinism and crash safety: the bytes written do not depend on the worker count, and a run killed
// (kill -9) or stopped (Ctrl-C) at any moment resumes to exactly the bytes of an uninterrupted run.
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { writeParquetTexts } from '../ts/index.js';
import { poems, brownParagraphs } from './support/corpus.js';
import { minimindTokenizer, runCli, startCli } from './support/cli.js';
import { readSplit } from './support/dataset.js';
import { tempDir } from './support/files.js';

const FILES = 16;
let input = '';
let reference = '';

function args(out: string, workers: number): string[] {
  return [
    'prepare',
    '--input_dir',
    input,
    '--output_dir',
    out,
    '--tokenizer_path',
    minimindTokenizer,
    '--chunk_size',
    '60000',
    '--val_fraction',
    '0.01',
    '--num_workers',
    String(workers),
  ];
}

/** Every file of a prepared dataset (train/, val/), name -> bytes. */
function datasetFiles(out: string): Map<string, Buffer> {
  const files = new Map<string, Buffer>();
  for (const split of ['train', 'val']) {
    for (const name of readdirSync(path.join(out, split)).sort()) files.set(`${split}/${name}`, readFileSync(path.join(out, split, name)));
  }
  return files;
}

function assertSameDataset(out: string, expected: string): void {
  const a = datasetFiles(out);
  const b = datasetFiles(expected);
  assert.deepEqual([...a.keys()], [...b.keys()]);
  for (const [name, bytes] of a) assert.ok(bytes.equals(b.get(name)!), `${name} differs`);
}

/** An index.json, where one exists, only ever names complete chunks. */
function assertNoDanglingIndex(out: string): void {
  for (const split of ['train', 'val']) {
    if (existsSync(path.join(out, split, 'index.json'))) readSplit(path.join(out, split));
  }
}

function filesDone(out: string): number {
  try {
    return (JSON.parse(readFileSync(path.join(out, '.minilm-prepare.json'), 'utf8')) as { files_done: number }).files_done;
  } catch {
    return 0;
  }
}

before(async () => {
  input = tempDir('resume-in');
  const zh = [...poems(48_000)];
  const en = [...brownParagraphs(8_000)];
  const per = Math.ceil(zh.length / FILES);
  for (let i = 0; i < FILES; i++) {
    const texts = [...zh.slice(i * per, (i + 1) * per), ...en.slice(i * 500, (i + 1) * 500)];
    writeParquetTexts(path.join(input, `part-${String(i).padStart(2, '0')}.parquet`), [texts], { rowGroupSize: 1000 });
  }
  reference = tempDir('resume-ref');
  const result = await runCli(args(reference, 2));
  assert.equal(result.code, 0, result.stderr);
});

test('the output does not depend on --num_workers', async () => {
  const out = tempDir('workers');
  const result = await runCli(args(out, 1));
  assert.equal(result.code, 0, result.stderr);
  assertSameDataset(out, reference);
  assert.ok(datasetFiles(reference).size > 10, 'the corpus spans many chunks');
});

/** The chunk files in train/, as name:inode: a chunk written again under the same name (atomically,
 * so as a new file) counts as another one. */
function chunkFiles(out: string): Set<string> {
  const dir = path.join(out, 'train');
  const chunks = new Set<string>();
  try {
    for (const name of readdirSync(dir)) {
      if (/^chunk-\d+-\d+\.bin$/.test(name)) chunks.add(`${name}:${statSync(path.join(dir, name)).ino}`);
    }
  } catch {
    // Not there yet, or renamed while listed: seen on the next look.
  }
  return chunks;
}

/** Whether a chunk file has been written since `before` was listed. */
function newChunk(out: string, before: Set<string>): boolean {
  return [...chunkFiles(out)].some((chunk) => !before.has(chunk));
}

type Run = ReturnType<typeof startCli>;

/** Waits until the running prepare has reached `what`; fails if it ends first. */
async function waitFor(run: Run, what: string, reached: () => boolean): Promise<void> {
  const started = Date.now();
  while (!reached()) {
    if (run.child.exitCode !== null || run.child.signalCode !== null) assert.fail(`the run ended before ${what}: ${(await run.done).stderr}`);
    if (Date.now() - started > 60_000) assert.fail(`the run did not reach ${what} within a minute`);
    await sleep(5);
  }
}

test('kill -9 at several moments, then a rerun: identical to an uninterrupted run', async () => {
  const out = tempDir('killed');
  // Each kill lands right after a known event, each a different state to recover from: (1) just after
  // the first file is committed; (2) mid-file, after the resumed run has committed a file of its own and
  // then written a chunk the state does not list yet; (3) mid-file again, once the resumed run has written
  // a chunk (typically before its first commit, rewriting one the last run wrote after its commit).
  // Each waits, given the chunk files there were before the run started, until its run is where it is killed.
  let lastDone = 0;
  const kills: Array<(run: Run, chunksBefore: Set<string>) => Promise<void>> = [
    (run) => waitFor(run, 'its first committed file', () => filesDone(out) >= 1),
    async (run) => {
      const resumedAfter = lastDone;
      await waitFor(run, 'a file committed by the resumed run', () => filesDone(out) > resumedAfter);
      const committed = chunkFiles(out);
      await waitFor(run, 'a chunk written after that commit', () => newChunk(out, committed));
    },
    (run, chunksBefore) => waitFor(run, 'a chunk written by the resumed run', () => newChunk(out, chunksBefore)),
  ];
  for (const [i, reached] of kills.entries()) {
    const chunksBefore = chunkFiles(out);
    const run = startCli(args(out, 2));
    await reached(run, chunksBefore);
    run.child.kill('SIGKILL');
    const result = await run.done;
    assert.equal(result.signal, 'SIGKILL', `run ${i} finished before it could be killed`);
    assertNoDanglingIndex(out);
    assert.ok(filesDone(out) >= lastDone, 'committed progress never goes back');
    lastDone = filesDone(out);
  }
  assert.ok(lastDone > 0 && lastDone < FILES, `killed mid-run (files done: ${lastDone})`);
  const result = await runCli(args(out, 2));
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, new RegExp(`resumed after ${lastDone} finished files`));
  assertSameDataset(out, reference);
  const leftovers = readdirSync(path.join(out, 'train')).filter((n) => n.startsWith('.'));
  assert.deepEqual(leftovers, [], 'no journals or temporary files remain');
});

test('with --dedup: kill -9 while screening, then while tokenizing, then a rerun: identical output and report', async () => {
  const dedup = ['--dedup', 'exact', 'minhash'];
  const expected = tempDir('dedup-ref');
  const uninterrupted = await runCli([...args(expected, 2), ...dedup]);
  assert.equal(uninterrupted.code, 0, uninterrupted.stderr);
  const out = tempDir('dedup-killed');
  const screen = (name: string) => existsSync(path.join(out, 'screen', name));
  const kills: Array<[string, (run: Run) => Promise<void>]> = [
    ['screening under way', (run) => waitFor(run, 'screening', () => screen('runs') && !screen('screen.json'))],
    ['a file tokenized after the screen was saved', (run) => waitFor(run, 'a committed file', () => screen('screen.json') && filesDone(out) >= 1)],
  ];
  for (const [moment, reached] of kills) {
    const run = startCli([...args(out, 2), ...dedup]);
    await reached(run);
    run.child.kill('SIGKILL');
    assert.equal((await run.done).signal, 'SIGKILL', `the run finished before it was killed at: ${moment}`);
  }
  assert.ok(filesDone(out) < FILES, 'killed mid-run');
  const result = await runCli([...args(out, 2), ...dedup]);
  assert.equal(result.code, 0, result.stderr);
  assertSameDataset(out, expected);
  const report = (dir: string) => readFileSync(path.join(dir, 'filter-report.json'), 'utf8');
  assert.equal(report(out), report(expected));
  assert.match(result.stdout, /dropped [\d,]+ \(/, 'the corpus has duplicates to drop');
});

test('Ctrl-C stops cleanly with exit code 130; the rerun resumes to identical output', async () => {
  const out = tempDir('sigint');
  const run = startCli(args(out, 2));
  await waitFor(run, 'its second committed file', () => filesDone(out) >= 2);
  run.child.kill('SIGINT');
  const stopped = await run.done;
  assert.equal(stopped.code, 130, stopped.stderr);
  assert.match(stopped.stderr, /run the same command again to resume/);
  assert.doesNotMatch(stopped.stderr, /panicked|at .*\.js:\d+/);
  const result = await runCli(args(out, 1));
  assert.equal(result.code, 0, result.stderr);
  assertSameDataset(out, reference);
  const again = await runCli(args(out, 2));
  assert.equal(again.code, 0);
  assert.match(again.stdout, /already complete/);
});

test('a finished output is refused under other settings, naming what differs', async () => {
  const result = await runCli([...args(reference, 2), '--seed', '1']);
  assert.equal(result.code, 2);
  assert.match(result.stderr, /other settings \(differs in: seed\)/);
});
