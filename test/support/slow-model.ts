// A model whose tokens come slowly, so that a test can act in the middle of a reply (disconnect, press
// Stop). It slows the token source the batch hands out, which every generation (library, chat, server) reads.
import type { GenerateOptions, Model } from 'minilm';

/** Makes each of `model`'s tokens wait `ms` first; `settings` override every generation's (a seed, say). */
export function slowTokens(model: Model, ms: number, settings: GenerateOptions = {}): Model {
  const startChoices = model.startChoices.bind(model);
  model.startChoices = async (ids, options, n) =>
    (await startChoices(ids, { ...options, ...settings }, n)).map((source) => ({
      next: async () => {
        await new Promise((r) => setTimeout(r, ms));
        return source.next();
      },
      close: () => source.close(),
    }));
  return model;
}
