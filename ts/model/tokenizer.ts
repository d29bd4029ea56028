// A tokenizer for generation: HF tokenizers through the addon, with BOS added as litgpt adds it.
import path from 'node:path';
import { existsSync } from 'node:fs';
import { MinilmError } from '../errors.js';
import { callNative } from '../job.js';
import { native } from '../native.js';
import type { NativeTokenizer } from '../../native/index.js';

export class Tokenizer {
  private constructor(private readonly inner: NativeTokenizer) {}

  /** A folder with tokenizer.json (and tokenizer_config.json): a checkpoint, or a tokenizer's own folder. */
  static fromDir(dir: string): Tokenizer {
    if (!existsSync(path.join(dir, 'tokenizer.json'))) {
      throw new MinilmError(
        `${dir}: has no tokenizer.json; expected a folder with tokenizer.json and tokenizer_config.json (pretrain copies them into every checkpoint)`,
        'InvalidArg',
      );
    }
    return new Tokenizer(callNative(() => new (native().NativeTokenizer)(dir)));
  }

  /** Ids for a prompt: BOS when the tokenizer's config asks for it, no EOS. */
  encode(text: string): number[] {
    return callNative(() => this.inner.encode(text));
  }

  /** Ids of text that writes its own special tokens (a rendered chat template): nothing added. */
  encodeText(text: string): number[] {
    return callNative(() => this.inner.encodeText(text));
  }

  decode(ids: number[]): string {
    return this.inner.decode(ids);
  }

  get eosId(): number | null {
    return this.inner.eosId ?? null;
  }

  get bosId(): number | null {
    return this.inner.bosId ?? null;
  }

  get vocabSize(): number {
    return this.inner.vocabSize;
  }
}
