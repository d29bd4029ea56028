// Checkpoint folders: out_dir/step-XXXXXXXX/ and out_dir/final/, each with the weights, the optimizer
// moments and state.json (written by the trainer), plus model_config.yaml, hyperparameters.yaml and the
// tokenizer files, as litgpt lays them out. A folder is filled under a hidden temporary name and renamed
// into place, so a crash during a save never leaves a half checkpoint under a real name, nor damages an
// earlier one.
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import type { PretrainConfig } from '../config/pretrain-config.js';
import { MinilmError } from '../errors.js';

const STEP_FOLDER = /^step-(\d{8,})$/;
const TOKENIZER_FILES = ['tokenizer.json', 'tokenizer_config.json', 'generation_config.json', 'special_tokens_map.json', 'tokenizer.model'];

export function stepFolderName(step: number): string {
  return `step-${String(step).padStart(8, '0')}`;
}

/** Fills a checkpoint folder through `write(tmpDir)` and renames it to `dir`, replacing an older one. */
export async function writeCheckpoint(dir: string, config: PretrainConfig, write: (tmpDir: string) => Promise<void>): Promise<void> {
  const parent = path.dirname(dir);
  fs.mkdirSync(parent, { recursive: true });
  const tmp = path.join(parent, `.${path.basename(dir)}.partial`);
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.mkdirSync(tmp);
  await write(tmp);
  fs.writeFileSync(path.join(tmp, 'model_config.yaml'), YAML.stringify(litgptModelConfig(config)));
  fs.writeFileSync(path.join(tmp, 'hyperparameters.yaml'), YAML.stringify(hyperparameters(config)));
  copyTokenizer(config.tokenizer_dir ?? preparedTokenizer(config), tmp);
  // Replacing an existing folder (final/ of an earlier run): move it aside first, so that one of the
  // two is always complete under a known name.
  const old = path.join(parent, `.${path.basename(dir)}.old`);
  fs.rmSync(old, { recursive: true, force: true });
  if (fs.existsSync(dir)) fs.renameSync(dir, old);
  fs.renameSync(tmp, dir);
  fs.rmSync(old, { recursive: true, force: true });
}

/**
 * Without tokenizer_dir, the tokenizer `minilm prepare` stored with the data (data_path/tokenizer), so
 * that every checkpoint can generate text on its own.
 */
function preparedTokenizer(config: PretrainConfig): string | null {
  const dir = path.join(config.data.data_path, 'tokenizer');
  return fs.existsSync(path.join(dir, 'tokenizer.json')) ? dir : null;
}

function copyTokenizer(tokenizerDir: string | null, into: string): void {
  if (tokenizerDir === null) return;
  for (const name of TOKENIZER_FILES) {
    const from = path.join(tokenizerDir, name);
    if (fs.existsSync(from)) fs.copyFileSync(from, path.join(into, name));
  }
}

/** step-* folders of out_dir, oldest first. */
export function stepCheckpoints(outDir: string): { step: number; dir: string }[] {
  if (!fs.existsSync(outDir)) return [];
  return fs
    .readdirSync(outDir)
    .map((name) => ({ match: STEP_FOLDER.exec(name), name }))
    .filter((e) => e.match !== null && fs.existsSync(path.join(outDir, e.name, 'state.json')))
    .map((e) => ({ step: Number(e.match![1]), dir: path.join(outDir, e.name) }))
    .sort((a, b) => a.step - b.step);
}

/** Keeps the newest `keep` step-* folders (final/ is never touched). */
export function pruneCheckpoints(outDir: string, keep: number | null): void {
  if (keep === null) return;
  const all = stepCheckpoints(outDir);
  for (const old of all.slice(0, Math.max(0, all.length - keep))) fs.rmSync(old.dir, { recursive: true, force: true });
}

/** The checkpoint to resume from, per litgpt's `resume`: null when starting fresh. */
export function resumeCheckpoint(config: PretrainConfig): string | null {
  const { resume, out_dir: outDir } = config;
  if (resume === false) return null;
  if (typeof resume === 'string' && resume !== 'auto') {
    if (!fs.existsSync(path.join(resume, 'state.json'))) {
      throw new MinilmError(`resume: ${resume} is not a minilm checkpoint folder (it has no state.json); expected out_dir/step-XXXXXXXX`, 'InvalidArg');
    }
    return resume;
  }
  const latest = stepCheckpoints(outDir).at(-1);
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
  };
}
