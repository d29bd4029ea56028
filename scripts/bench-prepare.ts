// `npm run bench:prepare`: prepare's throughput against HF tokenizers' raw encode on the same text and
// cores, 1 vs 2 workers, and prepare's peak memory. Not a test: prints a Markdown table for BENCHMARKS.md.
//
//   npm run bench:prepare                          # >= 200 MB of Tang/Song poetry + Brown English
//   npm run bench:prepare -- --target_mb 2100 --memory_only   # the bounded-memory check on >= 2 GB
//   npm run bench:prepare -- --target_mb 1 --screening        # dedup and filters beside the plain run, on the
//                                                             # corpus once (no repeats to dedup away)
import { readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Tokenizer } from 'tokenizers';
import { brownParagraphs, poems } from '../test/support/corpus.js';
import { cliPath, minimindTokenizer, repoRoot } from '../test/support/cli.js';
import { runMeasured } from './peak-rss.js';
import { writeRepeatedCorpus } from './repeated-corpus.js';

const { values: flags } = parseArgs({
  options: {
    target_mb: { type: 'string', default: '200' },
    memory_only: { type: 'boolean', default: false },
    screening: { type: 'boolean', default: false },
    files: { type: 'string', default: '8' },
  },
});
const targetBytes = Number(flags.target_mb) * 1e6;
const root = path.join(repoRoot, 'bench-data', `prepare-${flags.target_mb}mb`);
const input = path.join(root, 'input');

/** The corpus, repeated until it reaches the target size, as zstd Parquet files; reused if present. */
function buildCorpus(): { bytes: number; documents: number } {
  const base = [...poems(), ...brownParagraphs()];
  const baseBytes = base.reduce((n, t) => n + Buffer.byteLength(t), 0);
  const repeats = Math.ceil(targetBytes / baseBytes);
  writeRepeatedCorpus(root, base, repeats, Number(flags.files));
  return { bytes: baseBytes * repeats, documents: base.length * repeats };
}

/** Runs `minilm prepare`, with its peak resident memory. */
async function runPrepare(workers: number, extra: string[] = []): Promise<{ seconds: number; summary: Record<string, number>; peakRssMb: number }> {
  const out = path.join(root, `out-${workers}`);
  rmSync(out, { recursive: true, force: true });
  const args = [
    cliPath,
    'prepare',
    '--input_dir',
    input,
    '--output_dir',
    out,
    '--tokenizer_path',
    minimindTokenizer,
    '--num_workers',
    String(workers),
    ...extra,
  ];
  const { code, stdout, seconds, peakRssMb } = await runMeasured(args);
  if (code !== 0) throw new Error(`prepare failed (${code}):\n${stdout}`);
  process.stderr.write(stdout);
  const tokens =
    Number(/train\s+[\d,]+ documents, ([\d,]+) tokens/.exec(stdout)![1].replace(/,/g, '')) +
    Number(/val\s+[\d,]+ documents, ([\d,]+) tokens/.exec(stdout)![1].replace(/,/g, ''));
  const dropped = Number(/dropped ([\d,]+) \(/.exec(stdout)?.[1].replace(/,/g, '') ?? 0);
  rmSync(out, { recursive: true, force: true });
  return { seconds, summary: { tokens, dropped }, peakRssMb };
}

/** HF tokenizers' own encode speed on the same texts: one thread (sequential calls) and all cores (encodeBatch). */
async function rawEncode(texts: string[], batch: boolean): Promise<{ seconds: number; tokens: number }> {
  const tokenizer = Tokenizer.fromFile(path.join(minimindTokenizer, 'tokenizer.json'));
  let tokens = 0;
  const started = process.hrtime.bigint();
  if (batch) {
    for (let i = 0; i < texts.length; i += 2000) {
      for (const e of await tokenizer.encodeBatch(texts.slice(i, i + 2000))) tokens += e.getIds().length;
    }
  } else {
    for (const text of texts) tokens += (await tokenizer.encode(text)).getIds().length;
  }
  return { seconds: Number(process.hrtime.bigint() - started) / 1e9, tokens };
}

async function main(): Promise<void> {
  const corpus = buildCorpus();
  const inputBytes = readdirSync(input).reduce((n, f) => n + statSync(path.join(input, f)).size, 0);
  const mb = corpus.bytes / 1e6;
  const cores = os.availableParallelism();
  console.error(
    `corpus: ${mb.toFixed(0)} MB of text, ${corpus.documents.toLocaleString()} documents, ${(inputBytes / 1e6).toFixed(0)} MB of Parquet; ${cores} cores`,
  );
  const rows: string[] = ['| what | seconds | MB/s of text | tokens/s | peak RSS |', '|---|---:|---:|---:|---:|'];
  const row = (what: string, seconds: number, tokens: number, rss?: number) =>
    rows.push(
      `| ${what} | ${seconds.toFixed(1)} | ${(mb / seconds).toFixed(2)} | ${Math.round(tokens / seconds).toLocaleString()} | ${rss ? `${rss.toFixed(0)} MB` : ''} |`,
    );

  if (flags.screening) {
    const filters = path.join(root, 'filters.yaml');
    writeFileSync(filters, 'length: {}\nscript: {scripts: [Han, Latin]}\nsymbol_lines: {}\nrepetition: {}\n');
    rows[0] = '| what | seconds | MB/s of text | tokens/s | peak RSS | documents dropped |';
    rows[1] = '|---|---:|---:|---:|---:|---:|';
    for (const [what, extra] of [
      ['plain', []],
      ['--dedup exact', ['--dedup', 'exact']],
      ['--dedup minhash', ['--dedup', 'minhash']],
      ['--filters (length, script, symbol_lines, repetition)', ['--filters', filters]],
      ['--dedup exact minhash --filters', ['--dedup', 'exact', 'minhash', '--filters', filters]],
    ] as Array<[string, string[]]>) {
      const run = await runPrepare(0, extra);
      row(`minilm prepare ${what}, all ${cores} cores`, run.seconds, run.summary.tokens, run.peakRssMb);
      rows[rows.length - 1] += ` ${run.summary.dropped.toLocaleString()} |`;
    }
    console.log(`\n${new Date().toISOString().slice(0, 10)}, ${os.cpus()[0].model}, ${cores} cores, node ${process.version}\n`);
    console.log(rows.join('\n'));
    return;
  }
  const all = await runPrepare(0);
  row(`minilm prepare, all ${cores} cores`, all.seconds, all.summary.tokens, all.peakRssMb);
  if (!flags.memory_only) {
    const one = await runPrepare(1);
    row('minilm prepare, --num_workers 1', one.seconds, one.summary.tokens, one.peakRssMb);
    const two = await runPrepare(2);
    row('minilm prepare, --num_workers 2', two.seconds, two.summary.tokens, two.peakRssMb);
    const base = [...poems(), ...brownParagraphs()];
    const repeats = Math.round(corpus.documents / base.length);
    const texts = Array.from({ length: repeats }, () => base).flat();
    const batch = await rawEncode(texts, true);
    row(`HF tokenizers encodeBatch (npm), all ${cores} cores`, batch.seconds, batch.tokens);
    const single = await rawEncode(texts, false);
    row('HF tokenizers encode (npm), 1 thread', single.seconds, single.tokens);
    rows.push('');
    rows.push(
      `prepare (all cores) / raw encodeBatch: ${(batch.seconds / all.seconds).toFixed(2)}x; ` +
        `prepare 2 workers / 1 worker: ${(one.seconds / two.seconds).toFixed(2)}x; ` +
        `prepare 1 worker / raw 1-thread encode: ${(single.seconds / one.seconds).toFixed(2)}x`,
    );
  }
  console.log(`\n${new Date().toISOString().slice(0, 10)}, ${os.cpus()[0].model}, ${cores} cores, node ${process.version}\n`);
  console.log(rows.join('\n'));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
