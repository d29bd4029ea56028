// `minilm prepare`: flags spelled as in the reference workflow (snake_case, kebab-case aliases).
import type { Argv } from 'yargs';
import { prepare, type PrepareOptions, type PrepareProgress, type PrepareSummary } from '../data/prepare.js';
import { ProgressDisplay } from '../log/progress.js';
import { formatBytes, formatCount, formatDuration, thousands } from '../log/format.js';
import { stopOnSignals } from './signals.js';
import { positiveInteger, fraction, nonNegativeInteger } from './validate.js';

export function prepareCommand(yargs: Argv): Argv {
  return yargs.command(
    'prepare',
    'Tokenize Parquet / JSONL / CSV files into litdata token shards (train/ and val/)',
    (y) =>
      y
        .option('input_dir', { alias: 'input-dir', type: 'string', demandOption: true, describe: 'Folder searched recursively (links followed) for input files' })
        .option('output_dir', { alias: 'output-dir', type: 'string', demandOption: true, describe: 'Receives train/, val/ and tokenizer/; an interrupted run here resumes' })
        .option('tokenizer_path', { alias: 'tokenizer-path', type: 'string', demandOption: true, describe: 'Folder with tokenizer.json and tokenizer_config.json, or a tokenizer.json' })
        .option('text_key', { alias: 'text-key', type: 'string', default: 'text', describe: 'Column (Parquet, CSV) or key (JSONL) holding the text' })
        .option('file_type', { alias: 'file-type', type: 'string', choices: ['parquet', 'jsonl', 'csv'], describe: 'Input type [default: the one type found in input_dir]' })
        .option('fast_dev_run', { alias: 'fast-dev-run', type: 'boolean', default: false, describe: 'Prepare only the first 10,000 documents' })
        .option('num_workers', { alias: 'num-workers', type: 'number', default: 0, describe: 'Tokenizing threads; 0 = one per core (output is the same for any value)' })
        .option('chunk_size', { alias: 'chunk-size', type: 'number', default: 2049 * 8012, describe: 'Tokens per chunk file' })
        .option('val_fraction', { alias: 'val-fraction', type: 'number', default: 0.001, describe: 'Fraction of documents held out for validation (chosen from --seed); 0 for none' })
        .option('seed', { type: 'number', default: 42, describe: 'Seed choosing the validation documents' })
        .option('dtype', { type: 'string', choices: ['int16', 'int32'], describe: 'Token type on disk [default: int16 if every id fits, else int32]' }),
    async (argv) => {
      const options: PrepareOptions = {
        inputDir: argv.input_dir,
        outputDir: argv.output_dir,
        tokenizerPath: argv.tokenizer_path,
        textKey: argv.text_key,
        fileType: argv.file_type as PrepareOptions['fileType'],
        fastDevRun: argv.fast_dev_run,
        numWorkers: nonNegativeInteger('num_workers', argv.num_workers),
        chunkSize: positiveInteger('chunk_size', argv.chunk_size),
        valFraction: fraction('val_fraction', argv.val_fraction),
        seed: nonNegativeInteger('seed', argv.seed),
        dtype: argv.dtype as PrepareOptions['dtype'],
      };
      await runPrepare(options);
    },
  );
}

export async function runPrepare(options: PrepareOptions): Promise<PrepareSummary> {
  const display = new ProgressDisplay();
  const stop = stopOnSignals();
  let startBytes: number | null = null;
  try {
    const summary = await prepare(options, {
      signal: stop.signal,
      onProgress: (p: PrepareProgress) => {
        startBytes ??= p.input_bytes_done;
        const elapsed = Math.max(p.elapsed_seconds, 1e-3);
        const inputRate = (p.input_bytes_done - startBytes) / elapsed;
        const left = p.input_bytes_total - p.input_bytes_done;
        display.update({
          fraction: p.input_bytes_total > 0 ? p.input_bytes_done / p.input_bytes_total : null,
          detail:
            `${p.files_done}/${p.files_total} files  ${(p.text_bytes / 1e6 / elapsed).toFixed(2)} MB/s  ` +
            `${formatCount(p.tokens / elapsed)} tok/s  ${formatCount(p.documents)} docs`,
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

function printSummary(s: PrepareSummary): void {
  const out = (line: string) => process.stdout.write(`${line}\n`);
  if (s.already_complete) out(`${s.output_dir} is already complete; nothing to do.`);
  const resumed = s.files_resumed > 0 && !s.already_complete ? ` (resumed after ${thousands(s.files_resumed)} finished files)` : '';
  out(`prepared ${thousands(s.files)} .${s.file_type} files into ${s.output_dir}${resumed}`);
  const split = (name: string, x: PrepareSummary['train']) =>
    out(`  ${name.padEnd(6)}${thousands(x.documents)} documents, ${thousands(x.tokens)} tokens, ${x.chunks} chunk${x.chunks === 1 ? '' : 's'} (${s.dtype})`);
  split('train', s.train);
  split('val', s.val);
  out(`  skipped ${thousands(s.skipped_null)} null and ${thousands(s.skipped_empty)} empty texts`);
  if (!s.already_complete) {
    out(
      `  this run: ${formatDuration(s.seconds)}, ${formatBytes(s.text_bytes)} of text at ${s.megabytes_per_second.toFixed(2)} MB/s, ` +
        `${formatCount(s.tokens_per_second)} tokens/s, ${s.num_workers} workers`,
    );
  }
  if (s.val.documents === 0 && s.train.documents > 0) {
    out('  note: the validation split is empty; raise --val_fraction to hold documents out');
  }
}
