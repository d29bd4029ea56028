// `minilm export --format hf`: a checkpoint as a Hugging Face LlamaForCausalLM folder (config.json,
// model.safetensors, generation_config.json, the tokenizer files) that transformers loads as it is.
import { copyFileSync, existsSync, mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { MinilmError } from '../errors.js';
import { native } from '../native.js';
import { Model } from './model.js';
import { generateDefaults } from './sampling.js';
import { checkpointFiles } from '../checkpoint.js';

export interface ExportSummary {
  outputDir: string;
  files: string[];
}

const TOKENIZER_FILES = /^(tokenizer.*|special_tokens_map\.json|vocab\.json|merges\.txt)$/;

/** `tokenizerDir`: where the tokenizer files are when the checkpoint has none (default: the checkpoint). */
export async function exportHf(checkpointDir: string, outputDir: string, options: { tokenizerDir?: string } = {}): Promise<ExportSummary> {
  const out = path.resolve(outputDir);
  if (existsSync(out) && readdirSync(out).length > 0) {
    throw new MinilmError(`${outputDir}: exists and is not empty; give a new folder (export never overwrites)`, 'InvalidArg');
  }
  const model = await Model.load(checkpointDir, options);
  const c = model.config;
  const reason = native().hfIncompatibility(c);
  if (reason !== null) throw new MinilmError(`${checkpointDir}: cannot export as a Hugging Face Llama: ${reason}`, 'InvalidArg');

  // Written next to the target and renamed, so a failed export leaves no half folder behind.
  const partial = `${out}.partial`;
  rmSync(partial, { recursive: true, force: true });
  mkdirSync(partial, { recursive: true });
  const { bosId, eosId } = model.tokenizer;
  const config = {
    architectures: ['LlamaForCausalLM'],
    model_type: 'llama',
    hidden_size: c.n_embd,
    intermediate_size: c.intermediate_size,
    num_attention_heads: c.n_head,
    num_hidden_layers: c.n_layer,
    num_key_value_heads: c.n_query_groups,
    head_dim: c.head_size,
    max_position_embeddings: c.block_size,
    rms_norm_eps: c.norm_eps,
    rope_theta: c.rope_base,
    vocab_size: c.padded_vocab_size,
    tie_word_embeddings: c.tie_embeddings,
    hidden_act: 'silu',
    attention_bias: false,
    mlp_bias: false,
    torch_dtype: 'float32',
    bos_token_id: bosId,
    eos_token_id: eosId,
    // Read back by minilm: the tokenizer's vocabulary before padding, and the model's name.
    minilm_vocab_size: c.vocab_size,
    minilm_name: c.name,
  };
  writeFileSync(path.join(partial, 'config.json'), `${JSON.stringify(config, null, 2)}\n`);
  const d = generateDefaults();
  const generation = {
    bos_token_id: bosId,
    eos_token_id: eosId,
    do_sample: d.temperature > 0,
    temperature: d.temperature,
    top_k: d.topK ?? 0,
    top_p: d.topP,
    repetition_penalty: d.repetitionPenalty,
    max_new_tokens: d.maxNewTokens,
  };
  writeFileSync(path.join(partial, 'generation_config.json'), `${JSON.stringify(generation, null, 2)}\n`);
  model.exportHfWeights(path.join(partial, checkpointFiles().weights));
  const tokenizerDir = options.tokenizerDir ?? model.dir;
  for (const name of readdirSync(tokenizerDir).filter((n) => TOKENIZER_FILES.test(n))) {
    copyFileSync(path.join(tokenizerDir, name), path.join(partial, name));
  }
  if (existsSync(out)) rmSync(out, { recursive: true });
  renameSync(partial, out);
  return { outputDir: out, files: readdirSync(out).sort() };
}
