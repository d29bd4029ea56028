// A model whose tokens come slowly, so that a test can act in the middle of a reply (disconnect, press
// Stop, find the batch busy). It slows the batch's steps, which every generation (library, chat,
// server) waits for: slowing only the reading would let the batch run ahead and finish unseen.
import type { GenerateOptions, Model } from 'minilm';

/** Makes each of `model`'s decode steps wait `ms` first; `settings` override every generation's (a seed, say). */
export function slowTokens(model: Model, ms: number, settings: GenerateOptions = {}): Model {
  // The batcher's native batch is private: reached here, in a test, on purpose.
  const native = (model.batcher as unknown as { native: { step: () => Promise<unknown> } }).native;
  const step = native.step.bind(native);
  native.step = async () => {
    await new Promise((r) => setTimeout(r, ms));
    return step();
  };
  const startChoices = model.startChoices.bind(model);
  model.startChoices = (ids, options, n) => startChoices(ids, { ...options, ...settings }, n);
  return model;
}
