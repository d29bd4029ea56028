// `minilm prepare`: flags spelled as in the reference workflow (snake_case, kebab-case aliases).
import type { Argv } from 'yargs';
import {
  mergeShards,
  prepare,
  prepareDefaults,
  type MergeSummary,
  type PrepareOptions,
  type PrepareProgress,
  type PrepareSummary,
  type SplitSummary,
} from '../data/prepare.js';
import { chooseShard, type ShardChoice } from '../data/shard.js';
import { loadFilters, screenDefaults } from '../data/filters.js';
import { readFilterReport, type FilterReport, type ReportExample } from '../data/filter-report.js';
import { ProgressDisplay } from '../log/progress.js';
import { formatBytes, formatCount, formatDuration, thousands } from '../log/format.js';
import { stopOnSignals } from './signals.js';
import { positiveInteger, fraction, nonNegativeInteger } from './validate.js';

export function prepareCommand(yargs: Argv): Argv {
  return yargs.command(
    'prepare',
    'Tokenize Parquet / JSONL / CSV files into litdata token shards (train/ and val/); --shard I/N and --merge split it over many machines',
    (y) => {
      const d = prepareDefaults();
      const m = screenDefaults().minhash;
      return y
        .option('input_dir', {
          alias: 'input-dir',
          type: 'string',
          describe: 'Folder searched recursively (links followed) for input files [required unless --merge]',
        })
        .option('output_dir', {
          alias: 'output-dir',
          type: 'string',
          describe: 'Receives train/, val/ and tokenizer/; an interrupted run here resumes [required unless --merge]',
        })
        .option('tokenizer_path', {
          alias: 'tokenizer-path',
          type: 'string',
          describe: 'Folder with tokenizer.json and tokenizer_config.json, or a tokenizer.json [required unless --merge]',
        })
        .option('shard', {
          type: 'string',
          describe:
            'Tokenize only the I-th of N parts of the input files (I from 0), into OUTPUT_DIR/shards/; "none" ignores the job array variables [default: from SLURM_ARRAY_TASK_ID / _COUNT, DATA_OPTIMIZER_NODE_RANK / _NUM_NODES or JOB_COMPLETION_INDEX]',
        })
        .option('num_shards', {
          alias: 'num-shards',
          type: 'number',
          describe: "The number of shards, where the environment gives only the index (a Kubernetes indexed Job's JOB_COMPLETION_INDEX)",
        })
        .option('merge', {
          type: 'string',
          describe: 'Join the finished shards in this output folder into one dataset (train/ and val/, one index.json each)',
        })
        .check((argv) => {
          if (argv.merge !== undefined) return true;
          const missing = ['input_dir', 'output_dir', 'tokenizer_path'].filter((key) => argv[key] === undefined);
          return missing.length === 0 || `Missing required argument${missing.length > 1 ? 's' : ''}: ${missing.join(', ')}`;
        })
        .option('text_key', { alias: 'text-key', type: 'string', default: d.textKey, describe: 'Column (Parquet, CSV) or key (JSONL) holding the text' })
        .option('file_type', {
          alias: 'file-type',
          type: 'string',
          choices: ['parquet', 'jsonl', 'csv', 'auto'],
          describe: 'Input type; auto reads every type in a mixed folder [default: the one type found in input_dir]',
        })
        .option('fast_dev_run', {
          alias: 'fast-dev-run',
          type: 'boolean',
          default: false,
          describe: `Prepare only the first ${d.fastDevRunDocuments.toLocaleString('en-US')} documents`,
        })
        .option('num_workers', {
          alias: 'num-workers',
          type: 'number',
          default: d.numWorkers,
          describe: 'Tokenizing threads; 0 = one per core (output is the same for any value)',
        })
        .option('chunk_size', { alias: 'chunk-size', type: 'number', default: d.chunkSize, describe: 'Tokens per chunk file' })
        .option('val_fraction', {
          alias: 'val-fraction',
          type: 'number',
          default: d.valFraction,
          describe: 'Fraction of documents held out for validation (chosen from --seed); 0 for none',
        })
        .option('seed', { type: 'number', default: d.seed, describe: 'Seed choosing the validation documents' })
        .option('dtype', { type: 'string', choices: ['int16', 'int32'], describe: 'Token type on disk [default: int16 if every id fits, else int32]' })
        .option('dedup', {
          type: 'array',
          string: true,
          choices: ['exact', 'minhash'],
          describe: 'Drop duplicates, keeping the first in file order: exact (same normalised text) and / or minhash (near duplicates)',
        })
        .option('filters', { type: 'string', describe: 'YAML file of quality rules to apply (docs/prepare.md, "Dedup and filters")' })
        .option('dry_run_filters', {
          alias: 'dry-run-filters',
          type: 'boolean',
          default: false,
          describe: 'Only screen (dedup, filters) and write OUTPUT_DIR/filter-report.json; tokenize nothing',
        })
        .option('minhash_shingles', {
          alias: 'minhash-shingles',
          type: 'string',
          choices: ['chars', 'words'],
          default: m.shingles,
          describe: 'MinHash shingles for text with spaces: character or word n-grams (CJK text: always characters)',
        })
        .option('minhash_bands', { alias: 'minhash-bands', type: 'number', default: m.bands, describe: 'MinHash LSH bands' })
        .option('minhash_rows', { alias: 'minhash-rows', type: 'number', default: m.rows, describe: 'MinHash rows (hashes) per band' })
        .option('minhash_char_ngram', {
          alias: 'minhash-char-ngram',
          type: 'number',
          default: m.charNgram,
          describe: 'MinHash shingle length in characters, for CJK text',
        })
        .option('minhash_word_ngram', {
          alias: 'minhash-word-ngram',
          type: 'number',
          default: m.wordNgram,
          describe: 'MinHash shingle length in words, for text with spaces',
        });
    },
    async (argv) => {
      if (argv.merge !== undefined) {
        printMerge(await mergeShards(argv.merge));
        return;
      }
      const shard = chooseShard(argv.shard, argv.num_shards === undefined ? undefined : positiveInteger('num_shards', argv.num_shards), process.env);
      const options: PrepareOptions = {
        inputDir: argv.input_dir!,
        outputDir: argv.output_dir!,
        tokenizerPath: argv.tokenizer_path!,
        shard: shard === null ? undefined : { index: shard.index, count: shard.count },
        textKey: argv.text_key,
        fileType: argv.file_type as PrepareOptions['fileType'],
        fastDevRun: argv.fast_dev_run,
        numWorkers: nonNegativeInteger('num_workers', argv.num_workers),
        chunkSize: positiveInteger('chunk_size', argv.chunk_size),
        valFraction: fraction('val_fraction', argv.val_fraction),
        seed: nonNegativeInteger('seed', argv.seed),
        dtype: argv.dtype as PrepareOptions['dtype'],
        dedup: argv.dedup as PrepareOptions['dedup'],
        filters: argv.filters === undefined ? undefined : loadFilters(argv.filters),
        dryRunFilters: argv.dry_run_filters,
        minhash: {
          shingles: argv.minhash_shingles as 'chars' | 'words',
          bands: positiveInteger('minhash_bands', argv.minhash_bands),
          rows: positiveInteger('minhash_rows', argv.minhash_rows),
          charNgram: positiveInteger('minhash_char_ngram', argv.minhash_char_ngram),
          wordNgram: positiveInteger('minhash_word_ngram', argv.minhash_word_ngram),
          seed: screenDefaults().minhash.seed,
        },
      };
      if (shard !== null) process.stdout.write(`shard ${shard.index} of ${shard.count} (from ${shard.source})\n`);
      await runPrepare(options);
      if (shard !== null) printShardNext(shard, options.outputDir);
    },
  );
}

function printShardNext(shard: ShardChoice, outputDir: string): void {
  process.stdout.write(`  when all ${shard.count} shards are done: npx minilm prepare --merge ${outputDir}  (it says which are missing or unfinished)\n`);
}

function printMerge(s: MergeSummary): void {
  const out = (line: string) => process.stdout.write(`${line}\n`);
  out(`merged ${s.shards} shards of ${thousands(s.files)} input files into ${s.outputDir}`);
  out(splitLine('train', s.train, s.dtype));
  out(splitLine('val', s.val, s.dtype));
}

/** A split's line in a prepare's or a merge's summary. */
function splitLine(name: string, x: SplitSummary, dtype: string): string {
  return `  ${name.padEnd(6)}${thousands(x.documents)} documents, ${thousands(x.tokens)} tokens, ${x.chunks} chunk${x.chunks === 1 ? '' : 's'} (${dtype})`;
}

export async function runPrepare(options: PrepareOptions): Promise<PrepareSummary> {
  const display = new ProgressDisplay();
  const stop = stopOnSignals();
  // Each stage measures its rates and ETA from its own first report: counts then are its baseline.
  let baseline: PrepareProgress | null = null;
  try {
    const summary = await prepare(options, {
      signal: stop.signal,
      onProgress: (p: PrepareProgress) => {
        if (baseline === null || p.stage !== baseline.stage) baseline = p;
        const elapsed = p.elapsedSeconds - baseline.elapsedSeconds;
        // Rates over less than a second say more about timing than about speed.
        const measured = elapsed >= 1;
        const per = (now: number, then: number) => (now - then) / elapsed;
        const left = p.inputBytesTotal - p.inputBytesDone;
        const inputRate = measured ? per(p.inputBytesDone, baseline.inputBytesDone) : 0;
        const rates = measured
          ? `${(per(p.textBytes, baseline.textBytes) / 1e6).toFixed(2)} MB/s  ` +
            (p.stage === 'tokenizing' ? `${formatCount(per(p.tokens, baseline.tokens))} tok/s  ` : '')
          : '';
        display.update({
          fraction: p.inputBytesTotal > 0 ? p.inputBytesDone / p.inputBytesTotal : null,
          detail: `${p.stage}  ${p.filesDone}/${p.filesTotal} files  ${rates}${formatCount(p.documents)} docs`,
          etaSeconds: inputRate > 0 ? left / inputRate : null,
        });
      },
    });
    display.done();
    printSummary(summary);
    return summary;
  } finally {
    display.done();
    stop.dispose();
  }
}

/** `parquet` → `.parquet`; a mixed folder's `parquet+jsonl` → `.parquet, .jsonl`. */
function fileKinds(fileType: string): string {
  return fileType
    .split('+')
    .map((kind) => `.${kind}`)
    .join(', ');
}

function printSummary(s: PrepareSummary): void {
  const out = (line: string) => process.stdout.write(`${line}\n`);
  const report = s.filterReport ? readFilterReport(s.outputDir) : null;
  if (s.dryRun) {
    out(`screened ${thousands(s.files)} ${fileKinds(s.fileType)} files (dry run: nothing tokenized)`);
    if (report) printFilterReport(report, out);
    out(`  report: ${s.filterReport}`);
    return;
  }
  if (s.alreadyComplete) out(`${s.outputDir} is already complete; nothing to do.`);
  const resumed = s.filesResumed > 0 && !s.alreadyComplete ? ` (resumed after ${thousands(s.filesResumed)} finished files)` : '';
  out(`prepared ${thousands(s.files)} ${fileKinds(s.fileType)} files into ${s.outputDir}${resumed}`);
  out(splitLine('train', s.train, s.dtype));
  out(splitLine('val', s.val, s.dtype));
  out(`  skipped ${thousands(s.skippedNull)} null and ${thousands(s.skippedEmpty)} empty texts`);
  if (report) {
    printFilterReport(report, out);
    out(`  report: ${s.filterReport}`);
  }
  if (!s.alreadyComplete) {
    out(
      `  this run: ${formatDuration(s.seconds)}, ${formatBytes(s.textBytes)} of text at ${s.megabytesPerSecond.toFixed(2)} MB/s, ` +
        `${formatCount(s.tokensPerSecond)} tokens/s, ${s.numWorkers} workers`,
    );
  }
  if (s.val.documents === 0 && s.train.documents > 0) {
    out('  note: the validation split is empty; raise --val_fraction to hold documents out');
  }
}

/** The report's counts per rule and dedup kind, with the first example of each. */
export function printFilterReport(report: FilterReport, out: (line: string) => void): void {
  const pct = (n: number) => `${((100 * n) / Math.max(report.documents, 1)).toFixed(2)}%`;
  out(`  screened ${thousands(report.documents)} documents: kept ${thousands(report.kept)}, dropped ${thousands(report.dropped)} (${pct(report.dropped)})`);
  const example = (e: ReportExample | undefined) => {
    if (!e) return '';
    const measured = e.value !== undefined ? ` (${e.measure} ${Number(e.value.toFixed(3))})` : '';
    const copyOf = e.duplicate_of ? ` = ${e.duplicate_of.file} row ${e.duplicate_of.row}` : '';
    return `  e.g. ${e.file} row ${e.row}${measured}${copyOf}: ${oneLine(e.snippet)}`;
  };
  for (const r of report.rules) out(`    filter ${r.rule.padEnd(13)}${thousands(r.dropped).padStart(10)} (${pct(r.dropped)})${example(r.examples[0])}`);
  for (const d of report.dedup) out(`    dedup  ${d.kind.padEnd(13)}${thousands(d.dropped).padStart(10)} (${pct(d.dropped)})${example(d.examples[0])}`);
}

function oneLine(text: string): string {
  const line = text.replace(/\s+/g, ' ').trim();
  return line.length > 60 ? `${line.slice(0, 60)}…` : line;
}
