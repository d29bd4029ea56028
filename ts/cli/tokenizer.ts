// `minilm tokenizer train`.
import type { Argv } from 'yargs';
import { trainTokenizer } from '../data/tokenizer.js';
import { native } from '../native.js';
import { formatBytes, formatDuration, thousands } from '../log/format.js';
import { stopOnSignals } from './signals.js';
import { positiveInteger } from './validate.js';

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
        .option('file_type', { alias: 'file-type', type: 'string', choices: ['parquet', 'jsonl', 'csv'], describe: 'Input type [default: inferred]' })
        .option('vocab_size', { alias: 'vocab-size', type: 'number', default: d.vocabSize, describe: 'Vocabulary size, special tokens included' })
        .option('special_tokens', {
          alias: 'special-tokens',
          type: 'string',
          default: d.specialTokens.join(','),
          describe: 'Comma-separated; ids 0, 1, 2... (unknown, BOS, EOS)',
        });
    },
    async (argv) => {
      const stop = stopOnSignals();
      try {
        process.stderr.write(`training a ${thousands(argv.vocab_size)}-token BPE on ${argv.input_dir} ...\n`);
        const summary = await trainTokenizer(
          {
            inputDir: argv.input_dir,
            outputDir: argv.output_dir,
            textKey: argv.text_key,
            fileType: argv.file_type as 'parquet' | 'jsonl' | 'csv' | undefined,
            vocabSize: positiveInteger('vocab_size', argv.vocab_size),
            specialTokens: argv.special_tokens
              .split(',')
              .map((t) => t.trim())
              .filter((t) => t.length > 0),
          },
          { signal: stop.signal },
        );
        process.stdout.write(
          `trained a ${thousands(summary.vocabSize)}-token tokenizer on ${thousands(summary.documents)} documents ` +
            `(${formatBytes(summary.textBytes)}, ${thousands(summary.files)} files) in ${formatDuration(summary.seconds)}\n` +
            `  wrote ${summary.outputDir}/tokenizer.json and tokenizer_config.json\n`,
        );
      } finally {
        stop.dispose();
      }
    },
  );
}
