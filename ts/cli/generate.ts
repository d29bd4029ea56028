// `minilm generate CHECKPOINT_DIR --prompt ...`: sample text from a trained model, streamed as it comes.
import type { Argv } from 'yargs';
import { MinilmError } from '../errors.js';
import { generateDefaults, Model } from '../model/model.js';
import { stopOnSignals } from './signals.js';
import { nonNegativeInteger, positiveInteger } from './validate.js';

function number(flag: string, value: number, ok: (v: number) => boolean, expected: string): number {
  if (!Number.isFinite(value) || !ok(value)) throw new MinilmError(`--${flag} must be ${expected}, not ${String(value)}`, 'InvalidArg');
  return value;
}

export function generateCommand(yargs: Argv): Argv {
  return yargs.command(
    'generate <checkpoint_dir>',
    'Generate text from a checkpoint (out_dir/final, out_dir/step-*, or a `minilm export` folder)',
    (y) => {
      const d = generateDefaults();
      return y
        .positional('checkpoint_dir', { type: 'string', demandOption: true, describe: 'The model folder' })
        .option('prompt', { type: 'string', default: 'What food do llamas eat?', describe: 'Text to continue' })
        .option('max_new_tokens', {
          alias: 'max-new-tokens',
          type: 'number',
          default: d.maxNewTokens,
          describe: 'Tokens to generate at most (stops earlier at EOS)',
        })
        .option('temperature', { type: 'number', default: d.temperature, describe: '0 picks the most likely token (greedy)' })
        .option('top_k', { alias: 'top-k', type: 'number', default: d.topK ?? 0, describe: 'Sample among the k most likely tokens; 0 for all' })
        .option('top_p', { alias: 'top-p', type: 'number', default: d.topP, describe: 'Sample within the smallest set of tokens with this much probability' })
        .option('repetition_penalty', {
          alias: 'repetition-penalty',
          type: 'number',
          default: d.repetitionPenalty,
          describe: '> 1 discourages tokens already in the text (1.1 to 1.3 breaks loops)',
        })
        .option('num_samples', { alias: 'num-samples', type: 'number', default: 1, describe: 'Samples to generate (seed, seed + 1, ...)' })
        .option('seed', { type: 'number', default: d.seed, describe: 'The same seed and prompt give the same text' })
        .option('stream', { type: 'boolean', describe: 'Print tokens as they come [default: on a terminal]' })
        .option('tokenizer_dir', { alias: 'tokenizer-dir', type: 'string', describe: 'Tokenizer folder [default: the checkpoint folder]' })
        .option('device', {
          choices: ['cpu', 'cuda', 'auto'],
          default: 'cpu',
          describe: 'Where to run: cuda needs the GPU addon (npm run build:cuda); auto takes the GPU when usable',
        });
    },
    async (argv) => {
      const maxNewTokens = positiveInteger('max_new_tokens', argv.max_new_tokens as number);
      const temperature = number('temperature', argv.temperature as number, (v) => v >= 0, 'a number >= 0');
      const topK = nonNegativeInteger('top_k', argv.top_k as number);
      const topP = number('top_p', argv.top_p as number, (v) => v > 0 && v <= 1, 'a number in (0, 1]');
      const repetitionPenalty = number('repetition_penalty', argv.repetition_penalty as number, (v) => v > 0, 'a number > 0');
      const samples = positiveInteger('num_samples', argv.num_samples as number);
      const seed = nonNegativeInteger('seed', argv.seed as number);
      const stream = (argv.stream as boolean | undefined) ?? Boolean(process.stdout.isTTY);

      const model = await Model.load(argv.checkpoint_dir as string, {
        tokenizerDir: argv.tokenizer_dir as string | undefined,
        device: argv.device as 'cpu' | 'cuda' | 'auto',
      });
      const { signal, dispose } = stopOnSignals();
      try {
        for (let i = 0; i < samples; i++) {
          const generation = model.generate(argv.prompt as string, {
            maxNewTokens,
            temperature,
            topK: topK === 0 ? null : topK,
            topP,
            repetitionPenalty,
            seed: seed + i,
            signal,
          });
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
