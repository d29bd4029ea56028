// One completion request answered: its n choices generated (sharing the prompt's prefill, ChoiceGroup)
// and written as OpenAI writes them, either one JSON body or server-sent events in OpenAI's chunk
// format (each chunk names its choice's index) ending with `data: [DONE]`, usage at the end when asked.
import { randomUUID } from 'node:crypto';
import type http from 'node:http';
import { StopStrings, untilStop } from '../chat/stop-strings.js';
import type { ChatMessage } from '../chat/template.js';
import { isCancelled, MinilmError } from '../errors.js';
import { ChatReply } from '../model/chat-reply.js';
import { ChoiceGroup } from '../model/choice-group.js';
import type { Model } from '../model/model.js';
import type { StepToken } from '../../native/index.js';
import { chatLogprobs, completionLogprobs } from './logprobs.js';
import { ApiError, type ParsedRequest } from './requests.js';
import { sendJson } from './send.js';

export type Job = { messages: ChatMessage[] } | { prompt: string };

/** What a request generated, over all its choices. */
export interface Counts {
  promptTokens: number;
  newTokens: number;
  firstTokenMs: number;
  totalMs: number;
  stop: string;
}

/** One choice's text pieces, its counts once they are all read, and its tokens so far. */
interface ChoiceStream {
  pieces: AsyncIterable<string>;
  stats: () => Counts;
  steps: () => readonly StepToken[];
}

export async function generate(
  model: Model,
  job: Job,
  parsed: ParsedRequest,
  signal: AbortSignal,
  response: http.ServerResponse,
  context: { chat: boolean; modelName: string },
): Promise<Counts | null> {
  if (signal.aborted) return null;
  // Stopped when the client leaves, and when one choice fails (the others are then of no use).
  const stop = new AbortController();
  signal.addEventListener('abort', () => stop.abort(), { once: true });
  const id = `${context.chat ? 'chatcmpl' : 'cmpl'}-${randomUUID().replaceAll('-', '')}`;
  const created = Math.floor(Date.now() / 1000);
  const { chat, modelName } = context;
  const choices = choiceStreams(model, job, parsed, stop.signal);
  const total = () => sumCounts(choices.map((c) => c.stats()));
  // Each choice's log-probabilities of the tokens made since its last chunk (when asked for).
  const reported = choices.map(() => 0);
  const newLogprobs = (index: number) => {
    if (parsed.topLogprobs === null) return null;
    const fresh = choices[index].steps().slice(reported[index]);
    reported[index] += fresh.length;
    return chat ? chatLogprobs(fresh, model.tokenizer) : completionLogprobs(fresh, model.tokenizer);
  };
  const delta = (index: number, text: string, finish: string | null, first = false) =>
    chat
      ? { index, delta: first ? { role: 'assistant', content: text } : { content: text }, logprobs: first ? null : newLogprobs(index), finish_reason: finish }
      : { index, text, logprobs: newLogprobs(index), finish_reason: finish };
  const stopped = (error: unknown) => signal.aborted || isCancelled(error);

  if (parsed.stream) {
    // The first pieces come before the headers: a request that cannot run (a conversation longer than
    // the context, say) still gets its status and error JSON rather than an event stream.
    const iterators = choices.map((c) => c.pieces[Symbol.asyncIterator]());
    let firsts: IteratorResult<string>[];
    try {
      firsts = await Promise.all(iterators.map((it) => it.next()));
    } catch (error) {
      stop.abort();
      if (stopped(error)) return null;
      throw error;
    }
    response.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive' });
    const send = (payload: unknown) => response.write(`data: ${JSON.stringify(payload)}\n\n`);
    const chunk = (deltas: unknown[], usage?: unknown) =>
      send({ id, object: chat ? 'chat.completion.chunk' : 'text_completion', created, model: modelName, choices: deltas, ...(usage ? { usage } : {}) });
    try {
      await Promise.all(
        iterators.map(async (iterator, index) => {
          if (chat) chunk([delta(index, '', null, true)]);
          for (let next = firsts[index]; !next.done; next = await iterator.next()) chunk([delta(index, next.value, null)]);
          chunk([delta(index, '', finishReason(choices[index].stats().stop))]);
        }),
      );
    } catch (error) {
      stop.abort();
      if (stopped(error)) return total();
      send(toApiError(error).toJson());
      response.end('data: [DONE]\n\n');
      return null;
    }
    const counts = total();
    if (parsed.includeUsage) chunk([], usage(counts));
    response.end('data: [DONE]\n\n');
    return counts;
  }

  let texts: string[];
  try {
    texts = await Promise.all(
      choices.map(async (c) => {
        let text = '';
        for await (const piece of c.pieces) text += piece;
        return text;
      }),
    );
  } catch (error) {
    stop.abort();
    if (stopped(error)) return total();
    throw error;
  }
  const body = texts.map((text, index) => {
    const finish = finishReason(choices[index].stats().stop);
    return chat
      ? { index, message: { role: 'assistant', content: text }, logprobs: newLogprobs(index), finish_reason: finish }
      : { index, text, logprobs: newLogprobs(index), finish_reason: finish };
  });
  const counts = total();
  sendJson(response, 200, { id, object: chat ? 'chat.completion' : 'text_completion', created, model: modelName, choices: body, usage: usage(counts) });
  return counts;
}

/** The request's n choices, each a stream of text pieces. */
function choiceStreams(model: Model, job: Job, parsed: ParsedRequest, signal: AbortSignal): ChoiceStream[] {
  const group = new ChoiceGroup(model, parsed.n);
  const { stop, fillContext, ...sampling } = parsed.options;
  if ('messages' in job) {
    const template = model.chatTemplate();
    return Array.from({ length: parsed.n }, (_, index) => {
      const reply = new ChatReply(group.choice(index), template, job.messages, { ...parsed.options, signal });
      return { pieces: reply, stats: () => reply.stats!, steps: () => reply.steps };
    });
  }
  const promptIds = model.tokenizer.encode(job.prompt);
  const room = model.config.block_size - promptIds.length;
  if (room < 1)
    throw new ApiError(
      400,
      `the prompt is ${promptIds.length} tokens; the model's block_size is ${model.config.block_size}`,
      'invalid_request_error',
      'prompt',
    );
  const maxNewTokens = fillContext ? Math.min(sampling.maxNewTokens!, room) : sampling.maxNewTokens;
  return Array.from({ length: parsed.n }, (_, index) => {
    const generation = group.choice(index).generateIds(promptIds, { ...sampling, maxNewTokens, signal });
    const stops = new StopStrings(stop ?? []);
    return {
      pieces: untilStop(generation, stops),
      stats: () => ({ ...generation.stats!, stop: stops.stopped ? 'stop' : generation.stats!.stop }),
      steps: () => generation.steps,
    };
  });
}

/** The choices' counts together: one prompt, every choice's new tokens. */
function sumCounts(all: Counts[]): Counts {
  return {
    promptTokens: all[0].promptTokens,
    newTokens: all.reduce((sum, c) => sum + c.newTokens, 0),
    firstTokenMs: Math.min(...all.map((c) => c.firstTokenMs)),
    totalMs: Math.max(...all.map((c) => c.totalMs)),
    stop: all[0].stop,
  };
}

function finishReason(stop: string): 'stop' | 'length' {
  return stop === 'max_new_tokens' ? 'length' : 'stop';
}

function usage(s: Counts) {
  return { prompt_tokens: s.promptTokens, completion_tokens: s.newTokens, total_tokens: s.promptTokens + s.newTokens };
}

export function toApiError(error: unknown): ApiError {
  if (error instanceof ApiError) return error;
  if (error instanceof MinilmError && error.code === 'InvalidArg') return new ApiError(400, error.message);
  return new ApiError(500, `internal error: ${error instanceof Error ? error.message : String(error)}`, 'server_error');
}
