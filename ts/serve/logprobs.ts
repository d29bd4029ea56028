// OpenAI's logprobs objects from the core's tokens: chat's {content: [{token, logprob, bytes,
// top_logprobs}]} and completions' {tokens, token_logprobs, top_logprobs, text_offset}. The
// probabilities are the model's own, before temperature, top-k, top-p and penalties (as vLLM reports them).
import type { StepToken } from '../../native/index.js';
import type { Tokenizer } from '../model/tokenizer.js';

/** A token's text. A byte-level token that is part of a character alone decodes to U+FFFD: its bytes are then unknown (null). */
function piece(tokenizer: Tokenizer, id: number): { token: string; bytes: number[] | null } {
  const token = tokenizer.decode([id]);
  return { token, bytes: token.includes('\uFFFD') ? null : [...Buffer.from(token, 'utf8')] };
}

export function chatLogprobs(steps: readonly StepToken[], tokenizer: Tokenizer) {
  return {
    content: steps.map((step) => ({
      ...piece(tokenizer, step.token),
      logprob: step.logprob ?? 0,
      top_logprobs: (step.topIds ?? []).map((id, i) => ({ ...piece(tokenizer, id), logprob: step.topLogprobs![i] })),
    })),
  };
}

export function completionLogprobs(steps: readonly StepToken[], tokenizer: Tokenizer, firstOffset = 0) {
  const tokens = steps.map((step) => piece(tokenizer, step.token).token);
  const offsets: number[] = [];
  let offset = firstOffset;
  for (const token of tokens) {
    offsets.push(offset);
    offset += token.length;
  }
  return {
    tokens,
    token_logprobs: steps.map((step) => step.logprob ?? 0),
    top_logprobs: steps.map((step) => Object.fromEntries((step.topIds ?? []).map((id, i) => [piece(tokenizer, id).token, step.topLogprobs![i]]))),
    text_offset: offsets,
  };
}
