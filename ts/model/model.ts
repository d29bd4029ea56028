// A trained model for other Node apps: `await Model.load(dir)`, then `model.generate(prompt, options)`
// streams text. Each token is computed on libuv's pool, so the event loop keeps serving while it runs,
// and generations running at the same time decode together (decode-batcher.ts).
import { MinilmError } from '../errors.js';
import { native } from '../native.js';
import { callNative, callNativeAsync, runJob, type JobOptions } from '../job.js';
import { placeOn, type DeviceRequest } from '../device.js';
import type {
  EvaluateTextOptions,
  GenerateOptions as NativeGenerateOptions,
  GgufExportOptions as NativeGgufOptions,
  GgufExportSummary as NativeGgufSummary,
  ModelConfig,
  NativeModel,
  StepToken,
  TaskResult,
  TextEvaluation,
} from '../../native/index.js';
import { readModelFolder } from '../config/model-folder.js';
import { Tokenizer } from './tokenizer.js';
import { ChatTemplate, type ChatMessage } from '../chat/template.js';
import { ChatReply, type ChatOptions } from './chat-reply.js';
import { checkOptions, generateDefaults, type GenerateOptions, type GenerationStats } from './sampling.js';
import { DecodeBatcher, type TokenSource } from './decode-batcher.js';

export class Model {
  private template: ChatTemplate | null = null;
  /** Generations in flight decode together, up to `batcher.maxBatch` at once (8 unless changed); more wait. */
  readonly batcher: DecodeBatcher;

  private constructor(
    private readonly inner: NativeModel,
    readonly config: ModelConfig,
    readonly tokenizer: Tokenizer,
    readonly dir: string,
    /** Where tokenizer.json and tokenizer_config.json (with the chat template) are. */
    readonly tokenizerDir: string,
  ) {
    this.batcher = new DecodeBatcher(inner.decodeBatch());
  }

  /**
   * A checkpoint folder from `minilm pretrain` (step-*, final) or a `minilm export --format hf` folder.
   * `device`: 'cpu' (default), 'cuda' (the GPU; an error says why when there is none) or 'auto'.
   */
  static async load(dir: string, options: { tokenizerDir?: string; device?: DeviceRequest } = {}): Promise<Model> {
    const folder = readModelFolder(dir);
    const tokenizerDir = options.tokenizerDir ?? folder.tokenizerDir;
    if (tokenizerDir === null) {
      throw new MinilmError(`${dir}: has no tokenizer.json; give the tokenizer's folder (tokenizerDir, or --tokenizer_dir on the command line)`, 'InvalidArg');
    }
    const tokenizer = Tokenizer.fromDir(tokenizerDir);
    const { device } = placeOn(options.device ?? 'cpu', "--device cuda, or device 'cuda'");
    const inner = new (native().NativeModel)();
    await runJob(() => inner.open(folder.model, folder.weights, folder.format, device, folder.adapters));
    return new Model(inner, folder.model, tokenizer, folder.dir, tokenizerDir);
  }

  /** Text pieces as they are generated; a piece never splits a UTF-8 character. */
  generate(prompt: string, options: GenerateOptions = {}): Generation {
    return new Generation(this, this.tokenizer.encode(prompt), options);
  }

  /** A generation from prompt ids (a rendered conversation, say). */
  generateIds(promptIds: number[], options: GenerateOptions = {}): Generation {
    return new Generation(this, promptIds, options);
  }

  /**
   * The assistant's reply to `messages`, streamed as text pieces: the conversation goes through the
   * tokenizer's chat template, the oldest turns are left out when it does not fit block_size, and the
   * reply ends at the template's end token, a stop string or maxNewTokens.
   */
  chat(messages: ChatMessage[], options: ChatOptions = {}): ChatReply {
    return new ChatReply(this, this.chatTemplate(), messages, options);
  }

  /** The tokenizer's chat template (an error says so when it has none). */
  chatTemplate(): ChatTemplate {
    this.template ??= ChatTemplate.fromDir(this.tokenizerDir);
    return this.template;
  }

  /** The settings of a generation as the core takes them: defaults filled in, the tokenizer's EOS, checked. @internal */
  nativeSettings(options: GenerateOptions): NativeGenerateOptions {
    const { signal: _signal, ...given } = options;
    // An option given as undefined takes its default too.
    const set = Object.fromEntries(Object.entries(given).filter(([, v]) => v !== undefined));
    const merged = { ...generateDefaults(), ...set };
    const settings: NativeGenerateOptions = {
      ...merged,
      topK: merged.topK ?? undefined,
      topLogprobs: merged.topLogprobs ?? undefined,
      eosId: this.tokenizer.eosId ?? undefined,
    };
    checkOptions(settings);
    return settings;
  }

  /** `n` generations of one prompt in the batch, sharing its prefill (see ChoiceGroup). @internal */
  startChoices(promptIds: number[], options: GenerateOptions, n: number): Promise<TokenSource[]> {
    return this.joinBatch(promptIds, this.nativeSettings(options), n, options.signal);
  }

  private joinBatch(promptIds: number[], settings: NativeGenerateOptions, n: number, signal?: AbortSignal): Promise<TokenSource[]> {
    return callNativeAsync(() => this.batcher.start(promptIds, settings, n, signal));
  }

  /** One generation's tokens: from the batcher, or alone without a KV cache (a benchmark's baseline). @internal */
  async tokenSource(promptIds: number[], options: GenerateOptions): Promise<TokenSource> {
    const settings = this.nativeSettings(options);
    if (settings.kvCache) return (await this.joinBatch(promptIds, settings, 1, options.signal))[0];
    const generator = callNative(() => this.inner.generator(promptIds, settings));
    return {
      next: async () => {
        const token = await runJob(() => generator.next());
        return token === null ? null : { sequence: 0, token, finished: false };
      },
      close: () => {},
    };
  }

  /** Loss, perplexity and bits per byte over prepared splits or raw text files (see `evaluate`). */
  evaluateText(options: Omit<EvaluateTextOptions, 'tokenizerDir'>, job: JobOptions = {}): Promise<TextEvaluation> {
    return runJob((j) => native().evaluateText(this.inner, { ...options, tokenizerDir: this.tokenizerDir }, j), job);
  }

  /** Multiple-choice accuracy on C-Eval / CMMLU or HellaSwag files (see `evaluate`). */
  scoreTasks(paths: string[], description: string | undefined, job: JobOptions = {}): Promise<TaskResult[]> {
    return runJob((j) => native().scoreTasks(this.inner, { paths, tokenizerDir: this.tokenizerDir, description }, j), job);
  }

  /** The logits of the token after `ids` (one forward pass), over the padded vocabulary. */
  nextTokenLogits(ids: number[]): Float32Array {
    return callNative(() => this.inner.nextTokenLogits(ids));
  }

  /** Writes the weights in Hugging Face LlamaForCausalLM's names (model.safetensors). */
  exportHfWeights(file: string): void {
    callNative(() => this.inner.exportHfWeights(file));
  }

  /** Writes the model as a GGUF file for llama.cpp (the vocabulary from `tokenizerJson`). */
  exportGguf(file: string, tokenizerJson: string, options: NativeGgufOptions): NativeGgufSummary {
    return callNative(() => this.inner.exportGguf(file, tokenizerJson, options));
  }
}

/** One generation: iterate it for text pieces; `stats` is set when it ends. */
export class Generation implements AsyncIterable<string> {
  stats: GenerationStats | null = null;
  /** The new token ids so far. */
  readonly ids: number[] = [];
  /** The new tokens as the core gave them, with their log-probabilities when topLogprobs asked for them. */
  readonly steps: StepToken[] = [];

  constructor(
    private readonly model: Model,
    private readonly promptIds: number[],
    private readonly options: GenerateOptions,
    /** Where the tokens come from (one of several choices, say); by default the model's batch. */
    private readonly start: () => Promise<TokenSource> = () => model.tokenSource(promptIds, options),
  ) {}

  async *[Symbol.asyncIterator](): AsyncIterator<string> {
    const { signal } = this.options;
    const started = performance.now();
    let source: TokenSource | null = null;
    let firstTokenMs = 0;
    let emitted = '';
    let stop: GenerationStats['stop'] = 'stopped';
    try {
      // Inside the try: a generation stopped while it waits for the batch still gets its stats.
      source = await this.start();
      for (;;) {
        if (signal?.aborted) throw new MinilmError('generation stopped', 'Cancelled');
        const step = await source.next();
        if (signal?.aborted) throw new MinilmError('generation stopped', 'Cancelled');
        if (step === null) {
          if (stop !== 'eos') stop = 'max_new_tokens';
          break;
        }
        const id = step.token;
        this.steps.push(step);
        if (this.ids.length === 0) firstTokenMs = performance.now() - started;
        this.ids.push(id);
        if (id === this.model.tokenizer.eosId) stop = 'eos';
        // Decode everything so far and hold back a trailing partial character (U+FFFD until complete).
        const text = this.model.tokenizer.decode(this.ids);
        if (!text.endsWith('\uFFFD') && text.length > emitted.length && text.startsWith(emitted)) {
          const piece = text.slice(emitted.length);
          emitted = text;
          yield piece;
        }
      }
      // A character cut off by max_new_tokens stays incomplete: drop its replacement characters.
      const rest = this.model.tokenizer.decode(this.ids).replace(/\uFFFD+$/, '');
      if (rest.length > emitted.length && rest.startsWith(emitted)) yield rest.slice(emitted.length);
    } finally {
      source?.close();
      // Also when the caller leaves the loop early or the signal stops it: the stats cover what was made.
      const totalMs = performance.now() - started;
      const after = this.ids.length - 1;
      this.stats = {
        promptTokens: this.promptIds.length,
        newTokens: this.ids.length,
        firstTokenMs,
        totalMs,
        tokensPerSec: after > 0 ? (after * 1000) / (totalMs - firstTokenMs) : 0,
        stop,
      };
    }
  }
}
