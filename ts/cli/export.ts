// `minilm export CHECKPOINT_DIR --format hf --output_dir DIR`.
import type { Argv } from 'yargs';
import { exportHf } from '../model/export-hf.js';

export function exportCommand(yargs: Argv): Argv {
  return yargs.command(
    'export <checkpoint_dir>',
    'Write a checkpoint as a Hugging Face LlamaForCausalLM folder (transformers loads it as it is)',
    (y) =>
      y
        .positional('checkpoint_dir', { type: 'string', demandOption: true, describe: 'out_dir/final or out_dir/step-*' })
        .option('format', { type: 'string', choices: ['hf'], default: 'hf', describe: 'Output format' })
        .option('output_dir', { alias: 'output-dir', type: 'string', demandOption: true, describe: 'A new folder for the model' })
        .option('tokenizer_dir', { alias: 'tokenizer-dir', type: 'string', describe: 'Tokenizer folder [default: the checkpoint folder]' }),
    async (argv) => {
      const summary = await exportHf(argv.checkpoint_dir as string, argv.output_dir as string, { tokenizerDir: argv.tokenizer_dir as string | undefined });
      process.stdout.write(`wrote ${summary.outputDir}: ${summary.files.join(', ')}\n`);
    },
  );
}
