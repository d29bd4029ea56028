// `minilm prepare --dedup ... --filters FILE` through the CLI, as a user runs it: what is kept is
// exactly the originals (their ids equal HF tokenizers'), the summary and `inspect` show what each rule
// dropped, a dry run writes only the report, a rerun with other screening is refused, and a bad filters
// file is named by file and line.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { mixedCorpus } from './support/corpus.js';
import { minimindTokenizer, runCli } from './support/cli.js';
import { readDataset, referenceIds } from './support/dataset.js';
import { tempDir } from './support/files.js';

const originals = mixedCorpus(600);
/** Every tenth original again, with its whitespace doubled and upper-cased: an exact duplicate once normalised. */
const copies = originals.filter((_, i) => i % 10 === 3).map((t) => `  ${t.replace(/ /g, '  ').toUpperCase()}\n`);
const junk = Array.from({ length: 12 }, (_, i) => Array.from({ length: 6 }, (_, k) => `https://example.com/${i}/${k}`).join('\n'));

function corpusDir(): string {
  const dir = tempDir('screen-in');
  const lines = (texts: string[]) => texts.map((text) => `${JSON.stringify({ meta: { content: text } })}\n`).join('');
  fs.writeFileSync(path.join(dir, 'a.jsonl.gz'), gzipSync(lines(originals)));
  fs.writeFileSync(path.join(dir, 'b.jsonl.gz'), gzipSync(lines([...copies, ...junk])));
  return dir;
}

function filtersFile(text: string): string {
  const file = path.join(tempDir('filters'), 'filters.yaml');
  fs.writeFileSync(file, text);
  return file;
}

const base = (input: string, out: string) => [
  'prepare',
  '--input_dir',
  input,
  '--output_dir',
  out,
  '--tokenizer_path',
  minimindTokenizer,
  '--val_fraction',
  '0',
  '--text_key',
  'meta.content',
];

test('dedup exact and a filters file keep exactly the originals, and the report says what went', async () => {
  const input = corpusDir();
  const out = tempDir('screen-out');
  const filters = filtersFile('symbol_lines: {}\nlength:\n  min_chars: 1\n');
  const args = [...base(input, out), '--dedup', 'exact', '--filters', filters];

  const dry = await runCli([...args, '--dry_run_filters']);
  assert.equal(dry.code, 0, dry.stderr);
  assert.match(dry.stdout, /dry run: nothing tokenized/);
  assert.match(dry.stdout, new RegExp(`dropped ${copies.length + junk.length} `));
  assert.match(dry.stdout, new RegExp(`filter symbol_lines +${junk.length} `));
  assert.match(dry.stdout, new RegExp(`dedup  exact +${copies.length} .*b\\.jsonl\\.gz row 1 = a\\.jsonl\\.gz row 4`));
  assert.ok(!fs.existsSync(path.join(out, 'train')), 'a dry run tokenizes nothing');

  const real = await runCli(args);
  assert.equal(real.code, 0, real.stderr);
  const { train } = readDataset(out);
  assert.deepEqual(train, await referenceIds(minimindTokenizer, originals));
  const report = JSON.parse(fs.readFileSync(path.join(out, 'filter-report.json'), 'utf8'));
  assert.equal(report.kept, originals.length);
  assert.deepEqual(
    report.rules.map((r: { rule: string; dropped: number }) => [r.rule, r.dropped]),
    [['symbol_lines', junk.length]],
  );

  const inspect = await runCli(['inspect', out]);
  assert.equal(inspect.code, 0, inspect.stderr);
  assert.match(inspect.stdout, /screening \(filter-report\.json\)/);
  assert.match(inspect.stdout, new RegExp(`kept ${originals.length}, dropped ${copies.length + junk.length}`));

  const other = await runCli([...base(input, out), '--dedup', 'exact', 'minhash', '--filters', filters]);
  assert.equal(other.code, 2);
  assert.match(other.stderr, /differs in: dedup, minhash/);
});

test('a bad filters file is named by file and line, with what was expected', async () => {
  const input = corpusDir();
  const cases: Array<[string, RegExp]> = [
    ['length: {}\nrepetiton: {}\n', /filters\.yaml:2: unknown rule 'repetiton'; did you mean repetition\?/],
    ['script:\n  scripts: [Han]\n  min_fracton: 0.5\n', /filters\.yaml:3: unknown setting script\.min_fracton; did you mean script\.min_fraction\?/],
    ['symbol_lines:\n  max_fraction: 1.5\n', /filters\.yaml:2: symbol_lines\.max_fraction must be a number from 0 to 1, not 1\.5/],
    ['blocklist:\n  file: missing.txt\n', /filters\.yaml:2: blocklist\.file: no such file: .*missing\.txt/],
    ['repetition:\n  top_ngram_char_fraction: {two: 0.2}\n', /filters\.yaml:2: repetition\.top_ngram_char_fraction: n must be a whole number/],
    ['- length\n', /filters\.yaml:1: expected a mapping of rules/],
    ['length: {min_chars: 10, max_chars: 5}\n', /min_chars \(10\) is above max_chars \(5\)/],
    ['script: {scripts: [Hanzi]}\n', /unknown script 'Hanzi' in script\.scripts/],
  ];
  for (const [text, expected] of cases) {
    const result = await runCli([...base(input, tempDir('bad-filters')), '--filters', filtersFile(text)]);
    assert.notEqual(result.code, 0, text);
    assert.match(result.stderr, expected, text);
    assert.doesNotMatch(result.stderr, /at .*\.js:\d+/, 'no stack trace');
  }
});
