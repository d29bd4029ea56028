// The benchmarks' big corpus: the poems and Brown paragraphs of the test corpus, repeated until it holds
// the text asked for, split across zstd Parquet files. Written once per folder: a `done` marker makes a
// rerun reuse it.
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { writeParquetTexts } from '../ts/index.js';

/**
 * Writes `base` `repeats` times over into `files` Parquet files under `root`/input, 10,000 texts per
 * batch, unless `root`/done says it is there already. `transform(repeat)` gives the change made to each
 * text of that repeat (none by default).
 */
export function writeRepeatedCorpus(
  root: string,
  base: string[],
  repeats: number,
  files: number,
  transform: (repeat: number) => (text: string) => string = () => (text) => text,
): string {
  const input = path.join(root, 'input');
  if (existsSync(path.join(root, 'done'))) return input;
  rmSync(root, { recursive: true, force: true });
  mkdirSync(input, { recursive: true });
  const perFile = Math.ceil(repeats / files);
  for (let f = 0; f < files; f++) {
    const batches = function* () {
      for (let r = f * perFile; r < Math.min(repeats, (f + 1) * perFile); r++) {
        const change = transform(r);
        for (let i = 0; i < base.length; i += 10_000) yield base.slice(i, i + 10_000).map(change);
      }
    };
    writeParquetTexts(path.join(input, `part-${f}.parquet`), batches(), { compression: 'zstd', rowGroupSize: 20_000 });
    console.error(`wrote part-${f}.parquet`);
  }
  mkdirSync(path.join(root, 'done'));
  return input;
}
