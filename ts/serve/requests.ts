// OpenAI's request bodies for /v1/chat/completions and /v1/completions, checked and turned into
// minilm's options. A bad field is an ApiError naming it, answered in OpenAI's error JSON with 400.
import type { ChatMessage } from '../chat/template.js';
import type { ChatOptions } from '../model/chat-reply.js';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly type = 'invalid_request_error',
    readonly param: string | null = null,
    readonly code: string | null = null,
    /** For 429: the Retry-After header's seconds. */
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
  }

  /** OpenAI's error body. */
  toJson(): { error: { message: string; type: string; param: string | null; code: string | null } } {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code } };
  }
}

export interface Limits {
  /** The most max_tokens a request may ask for (also the default). */
  maxTokens: number;
}

export interface ParsedRequest {
  stream: boolean;
  includeUsage: boolean;
  /** Choices to generate (OpenAI's n). */
  n: number;
  /** Log-probabilities asked for: the number of alternatives per token (0: the chosen token's only); null: none. */
  topLogprobs: number | null;
  options: ChatOptions;
}

const bad = (param: string, message: string) => new ApiError(400, message, 'invalid_request_error', param);

function number(body: Record<string, unknown>, key: string, min: number, max: number): number | undefined {
  const v = body[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max)
    throw bad(key, `${key} must be a number from ${min} to ${max}, not ${JSON.stringify(v)}`);
  return v;
}

function integer(body: Record<string, unknown>, key: string, min: number, max: number): number | undefined {
  const v = number(body, key, min, max);
  if (v !== undefined && !Number.isInteger(v)) throw bad(key, `${key} must be a whole number, not ${v}`);
  return v;
}

/** The sampling fields both endpoints share. */
export function parseSampling(body: Record<string, unknown>, limits: Limits): ParsedRequest {
  const maxTokens = integer(body, 'max_completion_tokens', 1, Number.MAX_SAFE_INTEGER) ?? integer(body, 'max_tokens', 1, Number.MAX_SAFE_INTEGER);
  if (maxTokens !== undefined && maxTokens > limits.maxTokens) {
    throw bad('max_tokens', `max_tokens ${maxTokens} is over this server's limit of ${limits.maxTokens} (minilm serve --max_tokens)`);
  }
  const stop = body.stop;
  let stops: string[] = [];
  if (typeof stop === 'string') stops = [stop];
  else if (Array.isArray(stop) && stop.length <= 4 && stop.every((s) => typeof s === 'string')) stops = stop as string[];
  else if (stop !== undefined && stop !== null) throw bad('stop', 'stop must be a string or a list of up to 4 strings');
  if (body.stream !== undefined && body.stream !== null && typeof body.stream !== 'boolean') throw bad('stream', 'stream must be true or false');
  const streamOptions = body.stream_options as { include_usage?: unknown } | undefined | null;
  const temperature = number(body, 'temperature', 0, 2);
  const topP = number(body, 'top_p', 0, 1);
  if (topP === 0) throw bad('top_p', 'top_p must be above 0');
  const seed = integer(body, 'seed', 0, Number.MAX_SAFE_INTEGER);
  const topLogprobs = parseLogprobs(body);
  return {
    stream: body.stream === true,
    includeUsage: streamOptions?.include_usage === true,
    // At most the batch's size: the server says so when n is over its --max_batch.
    n: integer(body, 'n', 1, 128) ?? 1,
    topLogprobs,
    options: {
      topLogprobs,
      maxNewTokens: maxTokens ?? limits.maxTokens,
      // Without max_tokens the reply may use what the context leaves, up to the server's limit.
      fillContext: maxTokens === undefined,
      temperature,
      topP,
      topK: integer(body, 'top_k', 1, Number.MAX_SAFE_INTEGER),
      repetitionPenalty: number(body, 'repetition_penalty', 0.01, 10),
      frequencyPenalty: number(body, 'frequency_penalty', -2, 2),
      presencePenalty: number(body, 'presence_penalty', -2, 2),
      noRepeatNgramSize: integer(body, 'no_repeat_ngram_size', 0, 64),
      // Without a seed each request samples differently, as OpenAI's API does.
      seed: seed ?? Math.floor(Math.random() * 2 ** 32),
      stop: stops,
    },
  };
}

/**
 * Chat's `logprobs: true` with `top_logprobs` (0 to 20), or completions' `logprobs: k` (0 to 5): the
 * number of alternatives per token, or null when not asked for.
 */
function parseLogprobs(body: Record<string, unknown>): number | null {
  const { logprobs } = body;
  if (logprobs === undefined || logprobs === null || logprobs === false) {
    if (body.top_logprobs !== undefined && body.top_logprobs !== null) throw bad('top_logprobs', 'top_logprobs needs logprobs: true');
    return null;
  }
  if (logprobs === true) return integer(body, 'top_logprobs', 0, 20) ?? 0;
  if (typeof logprobs !== 'number')
    throw bad('logprobs', `logprobs must be true or false (chat) or a number from 0 to 5 (completions), not ${JSON.stringify(logprobs)}`);
  return integer(body, 'logprobs', 0, 5)!;
}

export function parseMessages(body: Record<string, unknown>): ChatMessage[] {
  const messages = body.messages;
  if (!Array.isArray(messages) || messages.length === 0) throw bad('messages', 'messages must be a non-empty list of {role, content}');
  return messages.map((m, i) => {
    if (typeof m !== 'object' || m === null) throw bad(`messages[${i}]`, `messages[${i}] must be an object`);
    const { role, content } = m as Record<string, unknown>;
    if (!['system', 'developer', 'user', 'assistant', 'tool'].includes(role as string)) {
      throw bad(`messages[${i}].role`, `messages[${i}].role must be system, user, assistant or tool, not ${JSON.stringify(role)}`);
    }
    // Content parts ([{type: "text", text}]) are joined; other parts cannot be read by a text model.
    let text: string | null;
    if (typeof content === 'string' || content === null || content === undefined) text = (content as string | null | undefined) ?? null;
    else if (Array.isArray(content) && content.every((p) => p?.type === 'text' && typeof p.text === 'string')) text = content.map((p) => p.text).join('');
    else throw bad(`messages[${i}].content`, `messages[${i}].content must be a string or a list of text parts`);
    return { ...(m as Record<string, unknown>), role: role === 'developer' ? 'system' : (role as string), content: text };
  });
}

export function parsePrompt(body: Record<string, unknown>): string {
  const prompt = body.prompt;
  if (typeof prompt === 'string' && prompt !== '') return prompt;
  if (Array.isArray(prompt) && prompt.length === 1 && typeof prompt[0] === 'string' && prompt[0] !== '') return prompt[0];
  throw bad('prompt', 'prompt must be a non-empty string (one prompt per request)');
}
