// `minilm generate CHECKPOINT_DIR --prompt ...`: sample text from a trained model, streamed as it comes.
import type { Argv } from 'yargs';
import { Model } from '../model/model.js';
import { samplingOptions, withSamplingFlags } from './sampling-flags.js';
import { stopOnSignals } from './signals.js';
import { positiveInteger } from './validate.js';

export function generateCommand(yargs: Argv): Argv {
  return yargs.command(
    'generate <checkpoint_dir>',
    'Generate text from a checkpoint (out_dir/final, out_dir/step-*, or a `minilm export` folder)',
    (y) =>
      withSamplingFlags(y)
        .positional('checkpoint_dir', { type: 'string', demandOption: true, describe: 'The model folder' })
        .option('prompt', { type: 'string', default: 'What food do llamas eat?', describe: 'Text to continue' })
        .option('num_samples', { alias: 'num-samples', type: 'number', default: 1, describe: 'Samples to generate (seed, seed + 1, ...)' })
        .option('stream', { type: 'boolean', describe: 'Print tokens as they come [default: on a terminal]' })
        .option('tokenizer_dir', { alias: 'tokenizer-dir', type: 'string', describe: 'Tokenizer folder [default: the checkpoint folder]' })
        .option('device', {
          choices: ['cpu', 'cuda', 'auto'],
          default: 'cpu',
          describe: 'Where to run: cuda needs the GPU addon (npm run build:cuda); auto takes the GPU when usable',
        }),
    async (argv) => {
      const sampling = samplingOptions(argv);
      const samples = positiveInteger('num_samples', argv.num_samples as number);
      const stream = (argv.stream as boolean | undefined) ?? Boolean(process.stdout.isTTY);

      const model = await Model.load(argv.checkpoint_dir as string, {
        tokenizerDir: argv.tokenizer_dir as string | undefined,
        device: argv.device as 'cpu' | 'cuda' | 'auto',
      });
      const { signal, dispose } = stopOnSignals();
      try {
        for (let i = 0; i < samples; i++) {
          const generation = model.generate(argv.prompt as string, { ...sampling, seed: sampling.seed! + i, signal });
          let text = argv.prompt as string;
          if (stream) process.stdout.write(text);
          for await (const piece of generation) {
            if (stream) process.stdout.write(piece);
            else text += piece;
          }
          process.stdout.write(stream ? '\n' : `${text}\n`);
          const s = generation.stats!;
          process.stderr.write(
            `${s.newTokens} new tokens (${s.stop === 'eos' ? 'stopped at EOS' : 'max_new_tokens'}), prompt ${s.promptTokens} tokens; ` +
              `first token ${(s.firstTokenMs / 1000).toFixed(2)} s, then ${s.tokensPerSec.toFixed(1)} tokens/s\n`,
          );
        }
      } finally {
        dispose();
      }
    },
  );
}
