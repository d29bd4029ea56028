// A model with litgpt's random init for the benchmarks: a checkpoint folder (model.safetensors,
// model_config.yaml, the minimind tokenizer) from one of configs/*.yaml, and poetry prompts of a given
// length. Speed does not depend on what the weights learned.
import { copyFileSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { loadPretrainConfig, type Model } from '../ts/index.js';
import { native } from '../ts/native.js';
import { litgptModelConfig } from '../ts/train/checkpoints.js';
import { poems } from '../test/support/corpus.js';
import { minimindTokenizer, repoRoot } from '../test/support/cli.js';

/** Writes (afresh) a checkpoint of `configs/<config>.yaml`'s model, changed by `overrides` (`--model_config.block_size 512`), into `dir`. */
export function writeRandomCheckpoint(dir: string, config: string, overrides: string[] = []): void {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const resolved = loadPretrainConfig({ configFile: path.join(repoRoot, 'configs', `${config}.yaml`), overrides });
  native().initWeights(resolved.model, 42, path.join(dir, 'model.safetensors'));
  writeFileSync(path.join(dir, 'model_config.yaml'), YAML.stringify(litgptModelConfig(resolved)));
  writeFileSync(path.join(dir, 'hyperparameters.yaml'), YAML.stringify({ train: { tie_embeddings: resolved.model.tie_embeddings } }));
  for (const name of ['tokenizer.json', 'tokenizer_config.json']) copyFileSync(path.join(minimindTokenizer, name), path.join(dir, name));
}

/** Poetry of about `count` tokens (from the `skip`-th poem on, so that prompts differ), and its ids. */
export function poetryPrompt(model: Model, count: number, skip = 0): { text: string; ids: number[] } {
  let text = '';
  for (const poem of [...poems(skip + 200)].slice(skip)) {
    text += poem;
    if (model.tokenizer.encode(text).length >= count) break;
  }
  while (model.tokenizer.encode(text).length > count) text = text.slice(0, -1);
  return { text, ids: model.tokenizer.encode(text) };
}
