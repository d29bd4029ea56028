// `minilm prepare`: flags spelled as in the reference workflow (snake_case, kebab-case aliases).
import type { Argv } from 'yargs';
import { prepare, prepareDefaults, type PrepareOptions, type PrepareProgress, type PrepareSummary } from '../data/prepare.js';
import { ProgressDisplay } from '../log/progress.js';
import { formatBytes, formatCount, formatDuration, thousands } from '../log/format.js';
import { stopOnSignals } from './signals.js';
import { positiveInteger, fraction, nonNegativeInteger } from './validate.js';

export function prepareCommand(yargs: Argv): Argv {
  return yargs.command(
    'prepare',
    'Tokenize Parquet / JSONL / CSV files into litdata token shards (train/ and val/)',
    (y) => {
      const d = prepareDefaults();
      return y
        .option('input_dir', {
          alias: 'input-dir',
          type: 'string',
          demandOption: true,
          describe: 'Folder searched recursively (links followed) for input files',
        })
        .option('output_dir', {
          alias: 'output-dir',
          type: 'string',
          demandOption: true,
          describe: 'Receives train/, val/ and tokenizer/; an interrupted run here resumes',
        })
        .option('tokenizer_path', {
          alias: 'tokenizer-path',
          type: 'string',
          demandOption: true,
          describe: 'Folder with tokenizer.json and tokenizer_config.json, or a tokenizer.json',
        })
        .option('text_key', { alias: 'text-key', type: 'string', default: d.textKey, describe: 'Column (Parquet, CSV) or key (JSONL) holding the text' })
        .option('file_type', {
          alias: 'file-type',
          type: 'string',
          choices: ['parquet', 'jsonl', 'csv'],
          describe: 'Input type [default: the one type found in input_dir]',
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
        .option('dtype', { type: 'string', choices: ['int16', 'int32'], describe: 'Token type on disk [default: int16 if every id fits, else int32]' });
    },
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
        startBytes ??= p.inputBytesDone;
        const elapsed = Math.max(p.elapsedSeconds, 1e-3);
        const inputRate = (p.inputBytesDone - startBytes) / elapsed;
        const left = p.inputBytesTotal - p.inputBytesDone;
        display.update({
          fraction: p.inputBytesTotal > 0 ? p.inputBytesDone / p.inputBytesTotal : null,
          detail:
            `${p.filesDone}/${p.filesTotal} files  ${(p.textBytes / 1e6 / elapsed).toFixed(2)} MB/s  ` +
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
  if (s.alreadyComplete) out(`${s.outputDir} is already complete; nothing to do.`);
  const resumed = s.filesResumed > 0 && !s.alreadyComplete ? ` (resumed after ${thousands(s.filesResumed)} finished files)` : '';
  out(`prepared ${thousands(s.files)} .${s.fileType} files into ${s.outputDir}${resumed}`);
  const split = (name: string, x: PrepareSummary['train']) =>
    out(`  ${name.padEnd(6)}${thousands(x.documents)} documents, ${thousands(x.tokens)} tokens, ${x.chunks} chunk${x.chunks === 1 ? '' : 's'} (${s.dtype})`);
  split('train', s.train);
  split('val', s.val);
  out(`  skipped ${thousands(s.skippedNull)} null and ${thousands(s.skippedEmpty)} empty texts`);
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
