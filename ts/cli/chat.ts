// `minilm chat CHECKPOINT_DIR`: a terminal chat over the model's chat template. Replies stream as they
// come; the history is trimmed from the oldest turn to fit block_size; /reset, /system TEXT and /exit;
// Ctrl-C stops the reply being written, not the program. `--prompt TEXT` answers once and exits, and
// lines piped on stdin are answered one by one.
import readline from 'node:readline';
import type { Argv } from 'yargs';
import type { ChatMessage } from '../chat/template.js';
import { isCancelled, MinilmError } from '../errors.js';
import { Model } from '../model/model.js';
import { samplingOptions, withSamplingFlags } from './sampling-flags.js';

const HELP = 'commands: /reset clears the conversation, /system TEXT sets the system message, /exit quits; Ctrl-C stops a reply';

export function chatCommand(yargs: Argv): Argv {
  return yargs.command(
    'chat <checkpoint_dir>',
    "Chat with a fine-tuned checkpoint in the terminal, over its tokenizer's chat template",
    (y) =>
      withSamplingFlags(y)
        .positional('checkpoint_dir', { type: 'string', demandOption: true, describe: 'The model folder (out_dir/final of minilm sft, say)' })
        .option('prompt', { type: 'string', describe: 'Answer this one message and exit' })
        .option('system', { type: 'string', describe: 'A system message to start the conversation with' })
        .option('stop', { type: 'string', array: true, default: [], describe: 'End the reply before this text (repeatable)' })
        .option('tokenizer_dir', { alias: 'tokenizer-dir', type: 'string', describe: 'Tokenizer folder [default: the checkpoint folder]' })
        .option('device', { choices: ['cpu', 'cuda', 'auto'], default: 'cpu', describe: 'Where to run' }),
    async (argv) => {
      const sampling = samplingOptions(argv);
      const model = await Model.load(argv.checkpoint_dir as string, {
        tokenizerDir: argv.tokenizer_dir as string | undefined,
        device: argv.device as 'cpu' | 'cuda' | 'auto',
      });
      model.chatTemplate(); // a tokenizer without a template fails now, before the first question
      const session = new ChatSession(model, { ...sampling, stop: argv.stop as string[] }, argv.system as string | undefined);
      if (argv.prompt !== undefined) {
        await session.answer(argv.prompt as string);
        return;
      }
      await session.loop();
    },
  );
}

class ChatSession {
  private messages: ChatMessage[] = [];
  private replying: AbortController | null = null;
  private turn = 0;
  /** In the loop (not --prompt): a turn that cannot be answered is reported and the prompt comes back. */
  private interactive = false;

  constructor(
    private readonly model: Model,
    private readonly options: ReturnType<typeof samplingOptions> & { stop: string[] },
    private system: string | undefined,
  ) {}

  async loop(): Promise<void> {
    this.interactive = true;
    const terminal = Boolean(process.stdin.isTTY);
    const rl = readline.createInterface({ input: process.stdin, output: process.stdout, terminal });
    const interrupt = () => {
      if (this.replying) this.replying.abort();
      else rl.close();
    };
    rl.on('SIGINT', interrupt);
    process.on('SIGINT', interrupt);
    if (terminal) process.stderr.write(`${HELP}\n`);
    try {
      rl.setPrompt('> ');
      if (terminal) rl.prompt();
      for await (const line of rl) {
        const text = line.trim();
        if (text === '/exit' || text === '/quit') break;
        if (text === '/reset') {
          this.messages = [];
          process.stderr.write('(conversation cleared)\n');
        } else if (text.startsWith('/system')) {
          this.system = text.slice('/system'.length).trim() || undefined;
          this.messages = [];
          process.stderr.write(this.system ? `(system message set; conversation cleared)\n` : '(system message removed; conversation cleared)\n');
        } else if (text.startsWith('/')) {
          process.stderr.write(`unknown command ${text.split(/\s/)[0]}; ${HELP}\n`);
        } else if (text !== '') {
          await this.answer(text);
        }
        if (terminal) rl.prompt();
      }
    } finally {
      process.off('SIGINT', interrupt);
      rl.close();
    }
  }

  /** Streams the reply to `text` to stdout and keeps both in the history. */
  async answer(text: string): Promise<void> {
    const conversation: ChatMessage[] = [...(this.system ? [{ role: 'system', content: this.system }] : []), ...this.messages, { role: 'user', content: text }];
    this.replying = new AbortController();
    const reply = this.model.chat(conversation, {
      ...this.options,
      seed: (this.options.seed ?? 0) + this.turn++,
      signal: this.replying.signal,
      shrinkReply: true,
    });
    try {
      for await (const piece of reply) process.stdout.write(piece);
    } catch (error) {
      if (isCancelled(error)) process.stdout.write(' [stopped]');
      else if (this.interactive && error instanceof MinilmError && error.code === 'InvalidArg') {
        // A message that cannot be answered (too long for the model) is reported; the conversation stays.
        process.stderr.write(`(not answered: ${error.message})\n`);
        return;
      } else throw error;
    } finally {
      this.replying = null;
    }
    process.stdout.write('\n');
    const s = reply.stats;
    if (s && s.droppedMessages > 0) process.stderr.write(`(the ${s.droppedMessages} oldest messages no longer fit block_size and were left out)\n`);
    if (s?.shortenedTo != null) {
      process.stderr.write(`(the message left room for only ${s.shortenedTo} new tokens of the model's block_size; the reply was limited to them)\n`);
    }
    if (s?.stop === 'max_new_tokens' && s.shortenedTo === null) process.stderr.write('(cut at max_new_tokens; raise --max_new_tokens for longer replies)\n');
    this.messages.push({ role: 'user', content: text }, { role: 'assistant', content: reply.text });
  }
}
