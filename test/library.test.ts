// The library API as another Node app uses it: progress, a responsive event loop, AbortSignal, and the
// example program the README and docs/library.md point to (examples/library.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { prepare, isCancelled, inspectDataset, writeParquetTexts, type PrepareProgress } from '../ts/index.js';
import { poems } from './support/corpus.js';
import { minimindTokenizer, repoRoot } from './support/cli.js';
import { tempDir } from './support/files.js';

function corpus(files: number): string {
  const input = tempDir('lib-in');
  const texts = [...poems(files * 4000)];
  for (let i = 0; i < files; i++) {
    writeParquetTexts(path.join(input, `p${i}.parquet`), [texts.slice(i * 4000, (i + 1) * 4000)]);
  }
  return input;
}

test('prepare() resolves to the summary, reports progress, and leaves the event loop free', async () => {
  const input = corpus(6);
  const outputDir = tempDir('lib-out');
  const reports: PrepareProgress[] = [];
  let ticks = 0;
  const timer = setInterval(() => ticks++, 10);
  const started = Date.now();
  const summary = await prepare(
    { inputDir: input, outputDir, tokenizerPath: minimindTokenizer, numWorkers: 2 },
    { onProgress: (p) => reports.push(p), progressIntervalMs: 50 },
  ).finally(() => clearInterval(timer));
  const elapsed = Date.now() - started;
  assert.equal(summary.files, 6);
  assert.equal(summary.train.documents + summary.val.documents, 24_000);
  assert.ok(summary.val.documents > 0, 'a default validation split is held out');
  assert.ok(reports.length >= 2, `progress was reported (${reports.length} times)`);
  assert.equal(reports.at(-1)!.filesDone, 6);
  // A 10 ms timer kept firing while the native work ran.
  assert.ok(ticks >= elapsed / 10 / 3, `${ticks} timer ticks in ${elapsed} ms`);
  const report = await inspectDataset(outputDir, { samples: 1 });
  assert.equal(report.splits[0].documents, summary.train.documents);
  assert.match(report.splits[0].samples[0], /\p{Script=Han}/u);
});

test('an AbortSignal stops prepare cleanly, and running again resumes to the end', async () => {
  const input = corpus(8);
  const outputDir = tempDir('lib-abort');
  const controller = new AbortController();
  const options = { inputDir: input, outputDir, tokenizerPath: minimindTokenizer, numWorkers: 1 };
  const run = prepare(options, {
    signal: controller.signal,
    progressIntervalMs: 20,
    onProgress: (p) => p.filesDone >= 2 && controller.abort(),
  });
  await assert.rejects(run, (e: unknown) => isCancelled(e));
  assert.ok(!existsSync(path.join(outputDir, 'train/index.json')), 'no index.json for an unfinished dataset');
  const summary = await prepare(options);
  assert.ok(summary.filesResumed >= 2, `resumed after ${summary.filesResumed} files`);
  assert.equal(summary.train.documents + summary.val.documents, 32_000);
});

test('the library example (examples/library.ts, linked from the README) runs as written: prepare, pretrain, report, generate', async () => {
  const work = tempDir('lib-example');
  const example = spawnSync(process.execPath, ['--import', 'tsx', path.join(repoRoot, 'examples/library.ts'), corpus(2), minimindTokenizer, work], {
    cwd: repoRoot,
    encoding: 'utf8',
    timeout: 600_000,
  });
  assert.equal(example.status, 0, example.stderr);
  assert.match(example.stdout, /prepared \d+ training tokens/);
  const vals = [...example.stdout.matchAll(/val_loss (\d+\.\d+)/g)].map((m) => Number(m[1]));
  assert.ok(vals.length >= 3 && vals.at(-1)! < vals[0] - 1, `validation loss falls: ${vals.join(' -> ')}`);
  assert.ok(existsSync(path.join(work, 'run/report.html')) && existsSync(path.join(work, 'run/loss.png')));
  assert.match(example.stdout, /^床前明月光/m);
});
