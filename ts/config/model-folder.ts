// A model folder, read for generation, fine-tuning or export: a checkpoint `minilm pretrain` wrote (step-*/,
// final/: model_config.yaml + model.safetensors in litgpt's names), a litgpt checkpoint (model_config.yaml
// + lit_model.pth, as `litgpt pretrain` and `litgpt finetune` write it), or a Hugging Face Llama folder
// `minilm export` wrote (config.json + model.safetensors in transformers' names), or a LoRA checkpoint
// (lora.safetensors + lora.json naming its base folder, which is read in turn: the base's weights, then
// each adapter merged in, base first).
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { resolveModelConfig, type ModelConfig } from './pretrain-config.js';
import { MinilmError } from '../errors.js';
import { checkpointFiles } from '../checkpoint.js';
import type { WeightsFormat } from '../../native/index.js';

export interface ModelFolder {
  dir: string;
  format: WeightsFormat;
  model: ModelConfig;
  weights: string;
  /** LoRA checkpoint folders whose adapters are merged into the weights, in order; empty for a full model. */
  adapters: string[];
  /** The folder holding tokenizer.json, or null when there is none. */
  tokenizerDir: string | null;
}

const EXPECTED =
  'expected a checkpoint folder written by `minilm pretrain` (out_dir/step-XXXXXXXX or out_dir/final), by litgpt (lit_model.pth + model_config.yaml) or by `minilm export --format hf`';

/** litgpt's weights file (a PyTorch pickle). */
const LIT_MODEL = 'lit_model.pth';

export function readModelFolder(dirArg: string): ModelFolder {
  return readFolder(dirArg, []);
}

/** `chain`: the LoRA folders that led here, each naming the next as its base. */
function readFolder(dirArg: string, chain: string[]): ModelFolder {
  const dir = path.resolve(dirArg);
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    throw new MinilmError(`${dirArg}: no such folder; ${EXPECTED}`, 'InvalidArg');
  }
  const files = checkpointFiles();
  const has = (name: string) => existsSync(path.join(dir, name));
  const tokenizerDir = has('tokenizer.json') ? dir : null;
  if (has(files.adapterConfig)) return readLoraFolder(dir, tokenizerDir, chain);
  if (has(LIT_MODEL) && has(files.modelConfig)) {
    const file = path.join(dir, files.modelConfig);
    return {
      dir,
      format: 'litgpt',
      model: resolveModelConfig(readYaml(file), tiedIn(dir, files.hyperparameters), file),
      weights: path.join(dir, LIT_MODEL),
      adapters: [],
      tokenizerDir,
    };
  }
  if (!has(files.weights)) {
    throw new MinilmError(`${dirArg}: has no ${files.weights} (the weights); ${EXPECTED}`, 'InvalidArg');
  }
  // Hugging Face names its weights file as the trainer does.
  const weights = path.join(dir, files.weights);
  if (has(files.modelConfig)) {
    const file = path.join(dir, files.modelConfig);
    return { dir, format: 'minilm', model: resolveModelConfig(readYaml(file), tiedIn(dir, files.hyperparameters), file), weights, adapters: [], tokenizerDir };
  }
  if (has('config.json')) {
    return { dir, format: 'hf', model: fromHfConfig(path.join(dir, 'config.json')), weights, adapters: [], tokenizerDir };
  }
  throw new MinilmError(`${dirArg}: has neither model_config.yaml (a minilm checkpoint) nor config.json (a Hugging Face model); ${EXPECTED}`, 'InvalidArg');
}

/** A LoRA checkpoint: its base folder's model with this folder's adapters added (the addon checks that they fit). */
function readLoraFolder(dir: string, tokenizerDir: string | null, chain: string[]): ModelFolder {
  const file = path.join(dir, checkpointFiles().adapterConfig);
  let base: unknown;
  try {
    base = (JSON.parse(readFileSync(file, 'utf8')) as { base?: { dir?: unknown } }).base?.dir;
  } catch (error) {
    throw new MinilmError(`${file}: not valid JSON (${(error as Error).message})`, 'InvalidArg');
  }
  if (typeof base !== 'string') throw new MinilmError(`${file}: has no base.dir (the folder of the weights these adapters were trained on)`, 'InvalidArg');
  const baseDir = path.resolve(dir, base);
  if (!existsSync(baseDir)) {
    throw new MinilmError(
      `${file}: its base ${baseDir} is gone; LoRA adapters need the weights they were trained on (move the base back, or export a merged model with \`minilm export\` while it is there)`,
      'InvalidArg',
    );
  }
  if ([...chain, dir].includes(baseDir)) {
    throw new MinilmError(`${file}: its base ${baseDir} leads back to itself through lora.json files (${[...chain, dir].join(' -> ')})`, 'InvalidArg');
  }
  const folder = readFolder(baseDir, [...chain, dir]);
  return { ...folder, dir, adapters: [...folder.adapters, dir], tokenizerDir: tokenizerDir ?? folder.tokenizerDir };
}

/** litgpt keeps tie_embeddings with the training settings (hyperparameters.yaml), not in model_config.yaml. */
function tiedIn(dir: string, hyperparameters: string): boolean {
  const file = path.join(dir, hyperparameters);
  const hyper = existsSync(file) ? readYaml(file) : {};
  return Boolean((hyper as { train?: { tie_embeddings?: unknown } })?.train?.tie_embeddings ?? false);
}

function readYaml(file: string): unknown {
  try {
    return YAML.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new MinilmError(`${file}: not valid YAML (${(error as Error).message})`, 'InvalidArg');
  }
}

/** A transformers LlamaConfig (config.json) as minilm's model config. */
function fromHfConfig(file: string): ModelConfig {
  let c: Record<string, unknown>;
  try {
    c = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  } catch (error) {
    throw new MinilmError(`${file}: not valid JSON (${(error as Error).message})`, 'InvalidArg');
  }
  if (c.model_type !== 'llama') {
    throw new MinilmError(`${file}: model_type is ${JSON.stringify(c.model_type)}; minilm reads Hugging Face Llama models ("llama") only`, 'InvalidArg');
  }
  const num = (key: string, fallback?: number): number => {
    const value = c[key] ?? fallback;
    if (typeof value !== 'number') throw new MinilmError(`${file}: ${key} is missing or not a number`, 'InvalidArg');
    return value;
  };
  const n_embd = num('hidden_size');
  const n_head = num('num_attention_heads');
  const head_size = num('head_dim', n_embd / n_head);
  const padded = num('vocab_size');
  return {
    name: typeof c.minilm_name === 'string' ? c.minilm_name : path.basename(path.dirname(file)),
    block_size: num('max_position_embeddings'),
    vocab_size: num('minilm_vocab_size', padded),
    padded_vocab_size: padded,
    n_layer: num('num_hidden_layers'),
    n_head,
    n_embd,
    head_size,
    n_query_groups: num('num_key_value_heads', n_head),
    rotary_percentage: 1,
    rope_base: num('rope_theta', 10000),
    norm_eps: num('rms_norm_eps', 1e-6),
    intermediate_size: num('intermediate_size'),
    tie_embeddings: Boolean(c.tie_word_embeddings ?? false),
  };
}
