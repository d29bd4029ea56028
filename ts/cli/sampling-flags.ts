// The sampling flags `generate` and `chat` share, with their defaults from the core (generateDefaults()).
import type { Argv } from 'yargs';
import { MinilmError } from '../errors.js';
import { generateDefaults, type GenerateOptions } from '../model/sampling.js';
import { nonNegativeInteger, positiveInteger } from './validate.js';

function number(flag: string, value: number, ok: (v: number) => boolean, expected: string): number {
  if (!Number.isFinite(value) || !ok(value)) throw new MinilmError(`--${flag} must be ${expected}, not ${String(value)}`, 'InvalidArg');
  return value;
}

export function withSamplingFlags<T>(y: Argv<T>): Argv<T> {
  const d = generateDefaults();
  return y
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
    .option('no_repeat_ngram_size', {
      alias: 'no-repeat-ngram-size',
      type: 'number',
      default: d.noRepeatNgramSize,
      describe: 'Never repeat a run of this many tokens already in the text (Hugging Face); 0 is off',
    })
    .option('seed', { type: 'number', default: d.seed, describe: 'The same seed and prompt give the same text' });
}

/** The sampling flags as library options (checked, naming the flag). */
export function samplingOptions(argv: Record<string, unknown>): GenerateOptions {
  const topK = nonNegativeInteger('top_k', argv.top_k as number);
  return {
    maxNewTokens: positiveInteger('max_new_tokens', argv.max_new_tokens as number),
    temperature: number('temperature', argv.temperature as number, (v) => v >= 0, 'a number >= 0'),
    topK: topK === 0 ? null : topK,
    topP: number('top_p', argv.top_p as number, (v) => v > 0 && v <= 1, 'a number in (0, 1]'),
    repetitionPenalty: number('repetition_penalty', argv.repetition_penalty as number, (v) => v > 0, 'a number > 0'),
    noRepeatNgramSize: nonNegativeInteger('no_repeat_ngram_size', argv.no_repeat_ngram_size as number),
    seed: nonNegativeInteger('seed', argv.seed as number),
  };
}
