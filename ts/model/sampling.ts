// The sampling settings of a generation (temperature, top-k, penalties, ...), their defaults (the core's,
// litgpt's generate defaults) and their checks: shared by the model, the chat, the CLI's flags and the
// HF export's generation_config.json.
import { MinilmError } from '../errors.js';
import { native } from '../native.js';
import type { GenerateOptions as NativeGenerateOptions } from '../../native/index.js';

/** Sampling settings; each left out takes `generateDefaults()` (litgpt's generate defaults). */
export interface GenerateOptions extends Partial<Omit<NativeGenerateOptions, 'eosId' | 'topK' | 'topLogprobs'>> {
  /** Sample among the k most likely tokens; null keeps every token. */
  topK?: number | null;
  /** Each token's log-probability and this many most likely alternatives' (0 to 20), in `Generation.steps`. */
  topLogprobs?: number | null;
  /** Stops the generation; the iterator then throws an AbortError. */
  signal?: AbortSignal;
}

/** The defaults of every sampling setting, from the core: the CLI, the library and the HF export share them. */
export function generateDefaults(): Omit<NativeGenerateOptions, 'eosId'> {
  const { eosId: _none, ...defaults } = native().generateDefaults();
  return defaults;
}

export interface GenerationStats {
  promptTokens: number;
  newTokens: number;
  /** Until the first new token (the prompt's forward pass included). */
  firstTokenMs: number;
  totalMs: number;
  /** New tokens per second after the first. */
  tokensPerSec: number;
  /** Why it ended: EOS, max_new_tokens, or stopped (the signal, or the caller leaving the loop). */
  stop: 'eos' | 'max_new_tokens' | 'stopped';
}

/** A clear error for the first setting out of range. */
export function checkOptions(s: NativeGenerateOptions): void {
  const bad = (message: string) => new MinilmError(message, 'InvalidArg');
  if (!Number.isInteger(s.maxNewTokens) || s.maxNewTokens < 1) throw bad(`maxNewTokens must be a whole number >= 1, not ${s.maxNewTokens}`);
  if (!Number.isFinite(s.temperature) || s.temperature < 0) throw bad(`temperature must be a number >= 0 (0 is greedy), not ${s.temperature}`);
  if (s.topK != null && (!Number.isInteger(s.topK) || s.topK < 1)) throw bad(`topK must be a whole number >= 1 (or null for no limit), not ${s.topK}`);
  if (!Number.isFinite(s.topP) || s.topP <= 0 || s.topP > 1) throw bad(`topP must be in (0, 1], not ${s.topP}`);
  if (!Number.isFinite(s.repetitionPenalty) || s.repetitionPenalty <= 0)
    throw bad(`repetitionPenalty must be a number > 0 (1 is off), not ${s.repetitionPenalty}`);
  if (!Number.isSafeInteger(s.seed) || s.seed < 0) throw bad(`seed must be a whole number >= 0, not ${s.seed}`);
  if (!Number.isSafeInteger(s.noRepeatNgramSize) || s.noRepeatNgramSize < 0)
    throw bad(`noRepeatNgramSize must be a whole number >= 0 (0 is off), not ${s.noRepeatNgramSize}`);
  if (s.topLogprobs != null && (!Number.isInteger(s.topLogprobs) || s.topLogprobs < 0 || s.topLogprobs > 20))
    throw bad(`topLogprobs must be a whole number from 0 to 20 (or null for none), not ${s.topLogprobs}`);
  for (const key of ['frequencyPenalty', 'presencePenalty'] as const) {
    if (!Number.isFinite(s[key]) || Math.abs(s[key]) > 2) throw bad(`${key} must be a number from -2 to 2 (0 is off), not ${s[key]}`);
  }
}
