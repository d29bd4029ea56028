// A trained model for other Node apps: `await Model.load(dir)`, then `model.generate(prompt, options)`
// streams text. Each token is computed on libuv's pool, so the event loop keeps serving while it runs.
import { fromNative, MinilmError } from '../errors.js';
import { native } from '../native.js';
import { placeOn, type DeviceRequest } from '../device.js';
import type { NativeModel } from '../../native/index.js';
import type { ModelConfig } from '../config/pretrain-config.js';
import { readModelFolder } from './checkpoint.js';
import { Tokenizer } from './tokenizer.js';

/** Sampling settings; the defaults are litgpt's generate defaults. */
export interface GenerateOptions {
  /** Default 50. */
  maxNewTokens?: number;
  /** 0 is greedy. Default 0.8. */
  temperature?: number;
  /** Default 50; null keeps every token. */
  topK?: number | null;
  /** Default 1 (off). */
  topP?: number;
  /** > 1 makes tokens already in the text less likely. Default 1 (off). */
  repetitionPenalty?: number;
  /** The same seed and prompt give the same text. Default 1234. */
  seed?: number;
  /** Stops the generation; the iterator then throws an AbortError. */
  signal?: AbortSignal;
  /** Reuse past keys and values (default true); false recomputes the whole prefix per token (benchmarks). */
  kvCache?: boolean;
}

export interface GenerationStats {
  promptTokens: number;
  newTokens: number;
  /** Until the first new token (the prompt's forward pass included). */
  firstTokenMs: number;
  totalMs: number;
  /** New tokens per second after the first. */
  tokensPerSec: number;
  /** Why it ended. */
  stop: 'eos' | 'max_new_tokens';
}

export class Model {
  private constructor(
    private readonly inner: NativeModel,
    readonly config: ModelConfig,
    readonly tokenizer: Tokenizer,
    readonly dir: string,
  ) {}

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
    try {
      await inner.open(JSON.stringify(folder.model), folder.weights, folder.format === 'hf', device);
    } catch (error) {
      throw fromNative(error);
    }
    return new Model(inner, folder.model, tokenizer, folder.dir);
  }

  /** Text pieces as they are generated; a piece never splits a UTF-8 character. */
  generate(prompt: string, options: GenerateOptions = {}): Generation {
    return new Generation(this, this.tokenizer.encode(prompt), options);
  }

  /** @internal */
  nativeGenerator(promptIds: number[], options: GenerateOptions) {
    const settings = {
      max_new_tokens: options.maxNewTokens ?? 50,
      temperature: options.temperature ?? 0.8,
      top_k: options.topK === undefined ? 50 : options.topK,
      top_p: options.topP ?? 1,
      repetition_penalty: options.repetitionPenalty ?? 1,
      seed: options.seed ?? 1234,
      eos_id: this.tokenizer.eosId,
      kv_cache: options.kvCache ?? true,
    };
    checkOptions(settings);
    try {
      return this.inner.generator(promptIds, JSON.stringify(settings));
    } catch (error) {
      throw fromNative(error);
    }
  }

  /** Writes the weights in Hugging Face LlamaForCausalLM's names (model.safetensors). */
  exportHfWeights(file: string): void {
    try {
      this.inner.exportHfWeights(file);
    } catch (error) {
      throw fromNative(error);
    }
  }
}

function checkOptions(s: { max_new_tokens: number; temperature: number; top_k: number | null; top_p: number; repetition_penalty: number; seed: number }): void {
  const bad = (message: string) => new MinilmError(message, 'InvalidArg');
  if (!Number.isInteger(s.max_new_tokens) || s.max_new_tokens < 1) throw bad(`maxNewTokens must be a whole number >= 1, not ${s.max_new_tokens}`);
  if (!Number.isFinite(s.temperature) || s.temperature < 0) throw bad(`temperature must be a number >= 0 (0 is greedy), not ${s.temperature}`);
  if (s.top_k !== null && (!Number.isInteger(s.top_k) || s.top_k < 1)) throw bad(`topK must be a whole number >= 1 (or null for no limit), not ${s.top_k}`);
  if (!Number.isFinite(s.top_p) || s.top_p <= 0 || s.top_p > 1) throw bad(`topP must be in (0, 1], not ${s.top_p}`);
  if (!Number.isFinite(s.repetition_penalty) || s.repetition_penalty <= 0) throw bad(`repetitionPenalty must be a number > 0 (1 is off), not ${s.repetition_penalty}`);
  if (!Number.isSafeInteger(s.seed) || s.seed < 0) throw bad(`seed must be a whole number >= 0, not ${s.seed}`);
}

/** One generation: iterate it for text pieces; `stats` is set when it ends. */
export class Generation implements AsyncIterable<string> {
  stats: GenerationStats | null = null;
  /** The new token ids so far. */
  readonly ids: number[] = [];

  constructor(
    private readonly model: Model,
    private readonly promptIds: number[],
    private readonly options: GenerateOptions,
  ) {}

  async *[Symbol.asyncIterator](): AsyncIterator<string> {
    const { signal } = this.options;
    const generator = this.model.nativeGenerator(this.promptIds, this.options);
    const started = performance.now();
    let firstTokenMs = 0;
    let emitted = '';
    let stop: GenerationStats['stop'] = 'max_new_tokens';
    for (;;) {
      if (signal?.aborted) throw new MinilmError('generation stopped', 'Cancelled');
      let id: number | null;
      try {
        id = JSON.parse((await generator.next()) as string) as number | null;
      } catch (error) {
        throw fromNative(error);
      }
      if (id === null) break;
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
