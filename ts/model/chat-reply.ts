// A chat turn: the conversation rendered with the model's chat template (its tokenizer's
// tokenizer_config.json), the oldest turns dropped until the prompt and the reply fit the block, and the
// reply streamed until the template's end token (the tokenizer's EOS), a stop string or max_new_tokens.
import { MinilmError } from '../errors.js';
import type { StepToken } from '../../native/index.js';
import { generateDefaults, type GenerateOptions, type GenerationStats } from './sampling.js';
import type { Tokenizer } from './tokenizer.js';
import type { ChatMessage, ChatTemplate, RenderOptions } from '../chat/template.js';
import { StopStrings, untilStop } from '../chat/stop-strings.js';

export interface ChatOptions extends GenerateOptions, Omit<RenderOptions, 'addGenerationPrompt'> {
  /** The reply ends before the first of these (not included). */
  stop?: string[];
  /**
   * false (default): the oldest turns are left out until maxNewTokens fit after the conversation.
   * true: maxNewTokens is an upper bound; the reply gets the room the conversation leaves in block_size
   * (turns are left out only when the conversation alone does not fit), as OpenAI's API does without max_tokens.
   */
  fillContext?: boolean;
  /**
   * When even the last message alone leaves less than maxNewTokens of room, reply in the room that is
   * left (stats.shortenedTo says how much) instead of refusing; refused only when no room is left.
   * `minilm chat` sets it; the server keeps OpenAI's 400.
   */
  shrinkReply?: boolean;
}

/**
 * What a reply needs of the model (the library's Model is one): its tokenizer, its block size and a
 * generation from prompt ids. Named here so that this file and model.ts (whose `chat()` makes a reply) do
 * not import each other.
 */
export interface ChatModel {
  readonly tokenizer: Tokenizer;
  readonly config: { block_size: number };
  generateIds(
    promptIds: number[],
    options: GenerateOptions,
  ): AsyncIterable<string> & { readonly ids: number[]; readonly steps: StepToken[]; stats: GenerationStats | null };
}

export interface ChatStats {
  promptTokens: number;
  newTokens: number;
  /** Messages left out from the start of the conversation (after any system message) to fit block_size. */
  droppedMessages: number;
  /** With shrinkReply: the new tokens the reply was limited to because the last message left no more room; null when not. */
  shortenedTo: number | null;
  firstTokenMs: number;
  totalMs: number;
  tokensPerSec: number;
  /** eos: the template's end token; stop: a stop string; max_new_tokens: the length limit; stopped: the signal or the caller. */
  stop: 'eos' | 'stop' | 'max_new_tokens' | 'stopped';
}

/**
 * The prompt ids of `messages` with as many of the oldest turns as needed left out so that `room` tokens
 * fit after them. With `shrink`, a last message that leaves less than `room` (but at least one token)
 * is kept alone, and `room` says what is left.
 */
export function fitConversation(
  template: ChatTemplate,
  encode: (text: string) => number[],
  messages: ChatMessage[],
  blockSize: number,
  room: number,
  options: Omit<RenderOptions, 'addGenerationPrompt'> = {},
  shrink = false,
): { ids: number[]; dropped: number; room: number } {
  if (messages.length === 0) throw new MinilmError('the conversation has no messages', 'InvalidArg');
  const system = messages[0].role === 'system' ? [messages[0]] : [];
  const turns = messages.slice(system.length);
  for (let dropped = 0; dropped < turns.length; dropped++) {
    // Drop whole exchanges: the kept part starts at a user message.
    if (dropped > 0 && turns[dropped].role !== 'user') continue;
    const ids = encode(template.render([...system, ...turns.slice(dropped)], { ...options, addGenerationPrompt: true }));
    if (ids.length + room <= blockSize) return { ids, dropped, room };
  }
  const last = encode(template.render([...system, ...turns.slice(-1)], { ...options, addGenerationPrompt: true }));
  if (shrink && last.length < blockSize) return { ids: last, dropped: turns.length - 1, room: blockSize - last.length };
  throw new MinilmError(
    `the last message alone is ${last.length} tokens with the template; with ${room} new tokens it does not fit the model's block_size of ${blockSize}: shorten it or lower max_new_tokens`,
    'InvalidArg',
  );
}

/** One reply: iterate it for text pieces; `stats` is set when it ends, `text` holds the whole reply. */
export class ChatReply implements AsyncIterable<string> {
  stats: ChatStats | null = null;
  text = '';
  /** The reply's tokens as the core gave them (with log-probabilities when topLogprobs asked for them). */
  steps: readonly StepToken[] = [];

  constructor(
    private readonly model: ChatModel,
    private readonly template: ChatTemplate,
    private readonly messages: ChatMessage[],
    private readonly options: ChatOptions,
  ) {}

  async *[Symbol.asyncIterator](): AsyncIterator<string> {
    const { stop = [], tools, templateKwargs, fillContext = false, shrinkReply = false, ...sampling } = this.options;
    const limit = sampling.maxNewTokens ?? generateDefaults().maxNewTokens;
    const tokenizer = this.model.tokenizer;
    const blockSize = this.model.config.block_size;
    const fitted = fitConversation(
      this.template,
      (t) => tokenizer.encodeText(t),
      this.messages,
      blockSize,
      fillContext ? 1 : limit,
      { tools, templateKwargs },
      shrinkReply,
    );
    const { ids, dropped } = fitted;
    const shortenedTo = !fillContext && fitted.room < limit ? fitted.room : null;
    const maxNewTokens = fillContext ? Math.min(limit, blockSize - ids.length) : (shortenedTo ?? limit);
    const generation = this.model.generateIds(ids, { ...sampling, maxNewTokens });
    this.steps = generation.steps;
    const stops = new StopStrings(stop);
    try {
      for await (const piece of untilStop(generation, stops)) {
        this.text += piece;
        yield piece;
      }
    } finally {
      const g = generation.stats;
      this.stats = {
        promptTokens: ids.length,
        newTokens: generation.ids.length,
        droppedMessages: dropped,
        shortenedTo,
        firstTokenMs: g?.firstTokenMs ?? 0,
        totalMs: g?.totalMs ?? 0,
        tokensPerSec: g?.tokensPerSec ?? 0,
        stop: stops.stopped ? 'stop' : g?.stop === 'eos' ? 'eos' : g?.stop === 'max_new_tokens' ? 'max_new_tokens' : 'stopped',
      };
    }
  }
}
