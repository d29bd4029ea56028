// A tokenizer's chat template (tokenizer_config.json's `chat_template`), rendered by the core's Jinja
// engine as transformers' apply_chat_template renders it (crates/minilm-core/src/data/chat_template.rs).
// Encoding the text with `Tokenizer.encodeText` (nothing added: the template writes BOS / EOS itself)
// gives the ids of apply_chat_template(tokenize=True); test/chat-template.test.ts proves it on both
// reference tokenizers against transformers (scripts/reference/make_chat_golden.py).
import { native } from '../native.js';
import { callNative } from '../job.js';
import type { NativeChatTemplate } from '../../native/index.js';

/** One turn: role "system", "user", "assistant" or "tool", with content and whatever else a template reads (tool_calls, reasoning_content). */
export interface ChatMessage {
  role: string;
  content?: string | null;
  [key: string]: unknown;
}

export interface RenderOptions {
  /** Function schemas, for templates that offer tools. */
  tools?: unknown[] | null;
  /** End with the assistant's header, so that the model writes the reply. Default false. */
  addGenerationPrompt?: boolean;
  /** Keywords the template reads (minimind3's open_thinking, say). */
  templateKwargs?: Record<string, unknown>;
}

export class ChatTemplate {
  private constructor(private readonly inner: NativeChatTemplate) {}

  /** The template of a tokenizer folder (or a checkpoint, which carries its tokenizer's files). */
  static fromDir(dir: string): ChatTemplate {
    return new ChatTemplate(callNative(() => new (native().NativeChatTemplate)(dir)));
  }

  /** The conversation as the model sees it. A template error is an InvalidArg error quoting Jinja's message. */
  render(messages: ChatMessage[], options: RenderOptions = {}): string {
    // Free-form JSON data: it crosses as text so that tojson keeps its keys' order.
    const tools = options.tools == null ? undefined : JSON.stringify(options.tools);
    const kwargs = options.templateKwargs === undefined ? undefined : JSON.stringify(options.templateKwargs);
    return callNative(() => this.inner.render(JSON.stringify(messages), options.addGenerationPrompt ?? false, tools, kwargs));
  }
}
