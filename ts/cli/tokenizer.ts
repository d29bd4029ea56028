// `minilm tokenizer train`.
import type { Argv } from 'yargs';
import { trainTokenizer, type TrainTokenizerOptions } from '../data/tokenizer.js';
import { native } from '../native.js';
import { formatBytes, formatDuration, thousands } from '../log/format.js';
import { stopOnSignals } from './signals.js';
import { nonNegativeInteger, positiveInteger, share } from './validate.js';

export function tokenizerCommand(yargs: Argv): Argv {
  return yargs.command(
    'tokenizer <action>',
    'Tokenizer tools (train)',
    (y) => {
      const d = native().tokenizerTrainingDefaults();
      return y
        .positional('action', { choices: ['train'] as const, describe: 'train: a byte-level BPE on your corpus' })
        .option('input_dir', { alias: 'input-dir', type: 'string', demandOption: true, describe: 'Folder searched recursively for input files' })
        .option('output_dir', { alias: 'output-dir', type: 'string', demandOption: true, describe: 'Receives tokenizer.json and tokenizer_config.json' })
        .option('text_key', { alias: 'text-key', type: 'string', default: d.textKey, describe: 'Column or key holding the text' })
        .option('file_type', {
          alias: 'file-type',
          type: 'string',
          choices: ['parquet', 'jsonl', 'csv', 'auto'],
          describe: 'Input type; auto reads every type [default: inferred]',
        })
        .option('vocab_size', { alias: 'vocab-size', type: 'number', default: d.vocabSize, describe: 'Vocabulary size, special tokens included' })
        .option('special_tokens', {
          alias: 'special-tokens',
          type: 'string',
          default: d.specialTokens.join(','),
          describe: 'Comma-separated; ids 0, 1, 2... (unknown, BOS, EOS)',
        })
        .option('max_documents', { alias: 'max-documents', type: 'number', describe: 'Train on at most this many documents (after sampling), in file order' })
        .option('sample_fraction', {
          alias: 'sample-fraction',
          type: 'number',
          default: 1,
          describe: 'Train on this share of the documents, chosen by a hash of (--seed, file, row)',
        })
        .option('seed', { type: 'number', default: d.seed, describe: 'Chooses the sample' })
        .option('max_words', {
          alias: 'max-words',
          type: 'number',
          default: d.maxWords,
          describe: 'Keep at most this many distinct words (the most frequent) for BPE: bounds memory (~1 KB each)',
        });
    },
    async (argv) => {
      const d = native().tokenizerTrainingDefaults();
      const stop = stopOnSignals();
      try {
        process.stderr.write(`training a ${thousands(argv.vocab_size)}-token BPE on ${argv.input_dir} ...\n`);
        const summary = await trainTokenizer(
          {
            inputDir: argv.input_dir,
            outputDir: argv.output_dir,
            textKey: argv.text_key,
            fileType: argv.file_type as TrainTokenizerOptions['fileType'],
            vocabSize: positiveInteger('vocab_size', argv.vocab_size),
            specialTokens: argv.special_tokens
              .split(',')
              .map((t) => t.trim())
              .filter((t) => t.length > 0),
            maxDocuments: argv.max_documents === undefined ? undefined : positiveInteger('max_documents', argv.max_documents),
            sampleFraction: share('sample_fraction', argv.sample_fraction),
            seed: nonNegativeInteger('seed', argv.seed),
            maxWords: positiveInteger('max_words', argv.max_words),
          },
          { signal: stop.signal },
        );
        process.stdout.write(
          `trained a ${thousands(summary.vocabSize)}-token tokenizer on ${thousands(summary.documents)} documents ` +
            `(${formatBytes(summary.textBytes)}, ${thousands(summary.files)} files) in ${formatDuration(summary.seconds)}\n` +
            (summary.longWords > 0
              ? `  ${thousands(summary.longWords)} pre-tokenized words over ${thousands(d.maxWordBytes)} bytes were counted in pieces of that length\n`
              : '') +
            (summary.prunedWords > 0
              ? `  ${thousands(summary.distinctWords)} distinct words kept (--max_words), the rarest left out: ${thousands(summary.prunedWords)} word counts dropped\n`
              : '') +
            `  wrote ${summary.outputDir}/tokenizer.json and tokenizer_config.json\n`,
        );
      } finally {
        stop.dispose();
      }
    },
  );
}
