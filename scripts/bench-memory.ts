// `npm run bench:memory`: peak memory of the two passes whose state grows with the corpus, on a corpus of
// distinct documents: prepare's dedup screen (--dedup exact minhash, --dry_run_filters: the screen alone)
// and `minilm tokenizer train` (whole, and on a --sample_fraction sample). Not a test: prints a Markdown
// table for BENCHMARKS.md.
//
//   npm run bench:memory -- --target_mb 2100
//
// The corpus is the Tang/Song poems and Brown paragraphs repeated, each repeat with 10% of its letters and
// Han characters replaced at random (seeded), so that repeats are distinct documents with distinct words:
// dedup keeps them, and the tokenizer trainer's word counts grow as on fresh text, its worst case.
import { readdirSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { brownParagraphs, poems } from '../test/support/corpus.js';
import { cliPath, minimindTokenizer, repoRoot } from '../test/support/cli.js';
import { runMeasured } from './peak-rss.js';
import { writeRepeatedCorpus } from './repeated-corpus.js';

const { values: flags } = parseArgs({
  options: { target_mb: { type: 'string', default: '2100' }, files: { type: 'string', default: '8' } },
});
const targetBytes = Number(flags.target_mb) * 1e6;
const root = path.join(repoRoot, 'bench-data', `memory-${flags.target_mb}mb`);
const input = path.join(root, 'input');

/** A small seeded generator (mulberry32), so that the corpus is the same on every machine. */
function random(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `text` with about a tenth of its Han characters and ASCII letters replaced by others of their kind. */
function mutate(text: string, next: () => number, han: string[]): string {
  let out = '';
  for (const ch of text) {
    const code = ch.codePointAt(0)!;
    if (next() >= 0.1) out += ch;
    else if (code >= 0x4e00 && code <= 0x9fff) out += han[Math.floor(next() * han.length)];
    else if ((code | 0x20) >= 0x61 && (code | 0x20) <= 0x7a) out += String.fromCharCode(0x61 + Math.floor(next() * 26));
    else out += ch;
  }
  return out;
}

function buildCorpus(): { bytes: number; documents: number } {
  const base = [...poems(), ...brownParagraphs()];
  const han = [...new Set([...base.join('')].filter((c) => c >= '\u4e00' && c <= '\u9fff'))];
  const baseBytes = base.reduce((n, t) => n + Buffer.byteLength(t), 0);
  const repeats = Math.ceil(targetBytes / baseBytes);
  // Every repeat after the first is mutated, so that its documents are distinct.
  writeRepeatedCorpus(root, base, repeats, Number(flags.files), (r) => {
    const next = random(r + 1);
    return (text) => (r === 0 ? text : mutate(text, next, han));
  });
  return { bytes: baseBytes * repeats, documents: base.length * repeats };
}

async function main(): Promise<void> {
  const corpus = buildCorpus();
  const parquetMb = readdirSync(input).reduce((n, f) => n + statSync(path.join(input, f)).size, 0) / 1e6;
  const mb = corpus.bytes / 1e6;
  console.error(`corpus: ${mb.toFixed(0)} MB of text, ${corpus.documents.toLocaleString()} documents, ${parquetMb.toFixed(0)} MB of Parquet`);
  const rows = ['| what | seconds | MB/s of text | peak RSS |', '|---|---:|---:|---:|'];
  const measure = async (what: string, args: string[]) => {
    const out = path.join(root, 'out');
    rmSync(out, { recursive: true, force: true });
    const run = await runMeasured([cliPath, ...args, '--output_dir', out]);
    if (run.code !== 0) throw new Error(`${what} failed (${run.code}):\n${run.stdout}`);
    process.stderr.write(run.stdout);
    rows.push(`| ${what} | ${run.seconds.toFixed(0)} | ${(mb / run.seconds).toFixed(2)} | ${run.peakRssMb.toFixed(0)} MB |`);
    rmSync(out, { recursive: true, force: true });
  };
  await measure('prepare --dedup exact minhash --dry_run_filters', [
    'prepare',
    '--input_dir',
    input,
    '--tokenizer_path',
    minimindTokenizer,
    '--dedup',
    'exact',
    'minhash',
    '--dry_run_filters',
  ]);
  await measure('tokenizer train --sample_fraction 0.1', ['tokenizer', 'train', '--input_dir', input, '--sample_fraction', '0.1']);
  await measure('tokenizer train (whole corpus)', ['tokenizer', 'train', '--input_dir', input]);
  const cores = os.availableParallelism();
  console.log(`\n${new Date().toISOString().slice(0, 10)}, ${os.cpus()[0].model}, ${cores} cores, node ${process.version}`);
  console.log(`corpus: ${mb.toFixed(0)} MB of text, ${corpus.documents.toLocaleString()} documents, ${parquetMb.toFixed(0)} MB of zstd Parquet\n`);
  console.log(rows.join('\n'));
}

await main();
