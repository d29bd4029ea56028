// `minilm export CHECKPOINT_DIR --format hf|gguf --output_dir DIR [--dtype ...] [--force]`.
import type { Argv } from 'yargs';
import { EXPORT_FORMATS, exportCheckpoint } from '../model/export-checkpoint.js';
import { GGUF_DTYPES, type GgufDtype } from '../model/export-gguf.js';

export function exportCommand(yargs: Argv): Argv {
  return yargs.command(
    'export <checkpoint_dir>',
    'Write a checkpoint as a Hugging Face LlamaForCausalLM folder (transformers) or a GGUF file (llama.cpp, Ollama, LM Studio)',
    (y) =>
      y
        .positional('checkpoint_dir', { type: 'string', demandOption: true, describe: 'out_dir/final or out_dir/step-*' })
        .option('format', { type: 'string', choices: EXPORT_FORMATS, default: 'hf', describe: 'Output format' })
        .option('output_dir', {
          alias: 'output-dir',
          type: 'string',
          demandOption: true,
          describe: 'hf: a new folder; gguf: the folder for model.gguf and its Modelfile',
        })
        .option('dtype', { type: 'string', choices: GGUF_DTYPES, describe: "gguf: the weights' dtype (norms stay f32) [default: f32]" })
        .option('force', { type: 'boolean', default: false, describe: 'gguf: replace an existing model.gguf and Modelfile' })
        .option('tokenizer_dir', { alias: 'tokenizer-dir', type: 'string', describe: 'Tokenizer folder [default: the checkpoint folder]' }),
    async (argv) => {
      const summary = await exportCheckpoint(argv.checkpoint_dir as string, {
        format: argv.format as (typeof EXPORT_FORMATS)[number],
        outputDir: argv.output_dir as string,
        dtype: argv.dtype as GgufDtype | undefined,
        force: argv.force as boolean,
        tokenizerDir: argv.tokenizer_dir as string | undefined,
      });
      process.stdout.write(`wrote ${summary.outputDir}: ${summary.files.join(', ')}\n`);
      if ('f16Fallbacks' in summary) {
        if (summary.f16Fallbacks.length > 0) {
          process.stdout.write(`written as f16 (rows not a multiple of q8_0's 32): ${summary.f16Fallbacks.join(', ')}\n`);
        }
        if (summary.modelfileNote !== null) process.stdout.write(`the Modelfile has no TEMPLATE: ${summary.modelfileNote}\n`);
        process.stdout.write(`run it: llama-cli -m ${summary.outputDir}/model.gguf, or ollama create NAME -f ${summary.outputDir}/Modelfile\n`);
      }
    },
  );
}
