// The sample corpus: Tang and Song poetry from the `chinese-poetry` npm package (a dev dependency, so
// installed by `npm install` in a clone and never committed), as "title\nline\nline..." documents.
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { MinilmError } from '../errors.js';

interface Poem {
  title?: string;
  rhythmic?: string;
  author?: string;
  paragraphs?: string[];
}

function packageDir(): string {
  try {
    return path.dirname(createRequire(import.meta.url).resolve('chinese-poetry/package.json'));
  } catch {
    throw new MinilmError(
      'the sample corpus needs the `chinese-poetry` package: run `npm install` in the minilm folder (it is a dev dependency)',
      'InvalidArg',
    );
  }
}

/** A poem as the package has it: title (or a ci's tune name), author and lines. */
export interface PoemRecord {
  title: string;
  author: string;
  paragraphs: string[];
}

/** Tang poems then Song ci, file by file in a fixed order, until `limit` poems. */
export function* poemRecords(limit = Infinity): Generator<PoemRecord> {
  let count = 0;
  const root = packageDir();
  const sources: Array<[string, RegExp]> = [
    ['dist/quantangshi', /^poet\.(tang|song)\.\d+\.json$/],
    ['dist/songci', /^ci\.song\.\d+\.json$/],
  ];
  for (const [dir, pattern] of sources) {
    const full = path.join(root, dir);
    const files = readdirSync(full)
      .filter((f) => pattern.test(f))
      .sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
    for (const file of files) {
      const items = JSON.parse(readFileSync(path.join(full, file), 'utf8')) as Poem[];
      for (const poem of items) {
        if (!poem.paragraphs?.length) continue;
        yield { title: poem.title ?? poem.rhythmic ?? '', author: poem.author ?? '', paragraphs: poem.paragraphs };
        if (++count >= limit) return;
      }
    }
  }
}

/** The poems as "title\nline\nline..." documents. */
export function* poems(limit = Infinity): Generator<string> {
  for (const poem of poemRecords(limit)) yield [poem.title, ...poem.paragraphs].join('\n');
}
