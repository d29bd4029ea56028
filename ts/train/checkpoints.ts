// What a training run writes into its checkpoint folders besides the trainer's own files (the layout is
// ../checkpoint.ts): litgpt's model_config.yaml and hyperparameters.yaml and the tokenizer; which
// checkpoint a run resumes from; and pruning old ones.
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import type { PretrainConfig } from '../config/pretrain-config.js';
import { MinilmError } from '../errors.js';
import { checkpointFiles, copyTokenizerFiles, resumableCheckpoints, writeCheckpointFolder } from '../checkpoint.js';

/** Fills a checkpoint folder: the trainer's files through `save(tmpDir)`, then litgpt's and the tokenizer. */
export async function writeCheckpoint(dir: string, config: PretrainConfig, save: (tmpDir: string) => Promise<void>): Promise<void> {
  const files = checkpointFiles();
  await writeCheckpointFolder(dir, async (tmp) => {
    await save(tmp);
    fs.writeFileSync(path.join(tmp, files.modelConfig), YAML.stringify(litgptModelConfig(config)));
    fs.writeFileSync(path.join(tmp, files.hyperparameters), YAML.stringify(hyperparameters(config)));
    const tokenizerDir = config.tokenizer_dir ?? preparedTokenizer(config);
    if (tokenizerDir !== null) copyTokenizerFiles(tokenizerDir, tmp);
  });
}

/**
 * Without tokenizer_dir, the tokenizer `minilm prepare` stored with the data (data_path/tokenizer), so
 * that every checkpoint can generate text on its own.
 */
function preparedTokenizer(config: PretrainConfig): string | null {
  const dir = path.join(config.data.data_path, 'tokenizer');
  return fs.existsSync(path.join(dir, 'tokenizer.json')) ? dir : null;
}

/** Keeps the newest `keep` step-* folders (final/ is never touched). */
export function pruneCheckpoints(outDir: string, keep: number | null): void {
  if (keep === null) return;
  const all = resumableCheckpoints(outDir);
  for (const old of all.slice(0, Math.max(0, all.length - keep))) fs.rmSync(old.dir, { recursive: true, force: true });
}

/** The checkpoint to resume from, per litgpt's `resume`: null when starting fresh. */
export function resumeCheckpoint(config: PretrainConfig): string | null {
  const { resume, out_dir: outDir } = config;
  if (resume === false) return null;
  if (typeof resume === 'string' && resume !== 'auto') {
    const { state } = checkpointFiles();
    if (!fs.existsSync(path.join(resume, state))) {
      throw new MinilmError(`resume: ${resume} is not a minilm checkpoint folder (it has no ${state}); expected out_dir/step-XXXXXXXX`, 'InvalidArg');
    }
    return resume;
  }
  const latest = resumableCheckpoints(outDir).at(-1);
  if (latest) return latest.dir;
  if (resume === true) {
    throw new MinilmError(`resume: true, but ${outDir} holds no step-* checkpoint; use resume: auto to start fresh when there is none`, 'InvalidArg');
  }
  return null;
}

/** model_config.yaml as litgpt writes it: every Config field, with the LLaMA-family values minilm implements. */
export function litgptModelConfig(config: PretrainConfig): Record<string, unknown> {
  const m = config.model;
  return {
    name: m.name,
    hf_config: {},
    scale_embeddings: false,
    block_size: m.block_size,
    vocab_size: m.vocab_size,
    padding_multiple: 512,
    padded_vocab_size: m.padded_vocab_size,
    n_layer: m.n_layer,
    n_head: m.n_head,
    head_size: m.head_size,
    n_embd: m.n_embd,
    rotary_percentage: m.rotary_percentage,
    parallel_residual: false,
    bias: false,
    lm_head_bias: false,
    attn_bias: false,
    n_query_groups: m.n_query_groups,
    shared_attention_norm: false,
    norm_class_name: 'RMSNorm',
    norm_eps: m.norm_eps,
    post_attention_norm: false,
    post_mlp_norm: false,
    mlp_class_name: 'LLaMAMLP',
    intermediate_size: m.intermediate_size,
    rope_condense_ratio: 1,
    rope_base: m.rope_base,
    rope_interleave: false,
    n_expert: 0,
    n_expert_per_token: 0,
  };
}

/** hyperparameters.yaml: the resolved run settings in litgpt's config shape. */
export function hyperparameters(config: PretrainConfig): Record<string, unknown> {
  return {
    model_name: config.model.name,
    model_config: litgptModelConfig(config),
    out_dir: config.out_dir,
    precision: config.precision,
    initial_checkpoint_dir: config.initial_checkpoint_dir,
    resume: config.resume,
    data: { class_path: 'litgpt.data.LitData', init_args: { data_path: config.data.data_path, split_names: config.data.split_names } },
    train: { ...config.train, tie_embeddings: config.model.tie_embeddings },
    eval: config.eval,
    optimizer: { class_path: 'torch.optim.AdamW', init_args: config.optimizer },
    devices: config.devices,
    num_nodes: 1,
    tokenizer_dir: config.tokenizer_dir,
    logger_name: config.logger_name,
    seed: config.seed,
    // Preference tuning's and LoRA's sections, as the config gave them (left out when not set).
    ...(config.dpo === null ? {} : { dpo: config.dpo }),
    ...(config.lora === null ? {} : { lora: config.lora }),
  };
}
