// OpenAI's `n`: several generations of one prompt that share its prefill. Each choice is a ChatModel
// of its own (so a ChatReply renders and fits the conversation for it as for any reply); the first
// choice to start joins all n to the model's batch, which runs the prompt once and copies its cache.
// Choice i samples with the seed plus i, so choice 0 is what n = 1 gives.
import type { ChatModel } from './chat-reply.js';
import type { TokenSource } from './decode-batcher.js';
import { Generation, type Model } from './model.js';
import type { GenerateOptions } from './sampling.js';

export class ChoiceGroup {
  private started: Promise<TokenSource[]> | null = null;
  private promptIds: number[] = [];

  constructor(
    private readonly model: Model,
    readonly n: number,
  ) {}

  /** Choice `index`: its generateIds is that choice's generation. */
  choice(index: number): ChatModel {
    const { model } = this;
    return {
      tokenizer: model.tokenizer,
      config: model.config,
      generateIds: (promptIds: number[], options: GenerateOptions) => new Generation(model, promptIds, options, () => this.source(index, promptIds, options)),
    };
  }

  private async source(index: number, promptIds: number[], options: GenerateOptions): Promise<TokenSource> {
    if (this.started === null) {
      this.promptIds = promptIds;
      this.started = this.model.startChoices(promptIds, options, this.n);
    } else if (promptIds.join() !== this.promptIds.join()) {
      throw new Error('internal error in minilm (please report it): the choices of one request rendered different prompts');
    }
    return (await this.started)[index];
  }
}
