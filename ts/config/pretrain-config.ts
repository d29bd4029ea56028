// `minilm pretrain --config FILE [overrides]`: reads a litgpt pretrain YAML file as it is, applies the
// command-line overrides, checks every key (./pretrain-schema.ts) and resolves what litgpt derives
// (padded vocabulary, head size, query groups, gradient accumulation) into one plain structure the trainer
// can use without looking anything up again. Every problem is an InvalidArg error naming the file or flag
// and the key path; all problems found are reported together.
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { MinilmError } from '../errors.js';
import { native } from '../native.js';
import { callNative } from '../job.js';
import type { ModelConfig, ModelSize } from '../../native/index.js';
import { applyOverrides, parseOverrides } from './overrides.js';
import { MIXTURE_CLASSES, normalizeTree, PRETRAIN_SCHEMA, type Problem, type Section } from './pretrain-schema.js';

/** The model, as litgpt.Config resolves it (only what the LLaMA family minilm implements needs): the addon's type. */
export type { ModelConfig } from '../../native/index.js';

export interface PretrainConfig {
  /** Absolute, or null when the config came from `tree` or overrides alone. */
  configFile: string | null;
  model: ModelConfig;
  /** Absolute: relative paths resolve against cwd, as litgpt's do. */
  out_dir: string;
  /** null in the file means 'bf16-mixed', as in litgpt. */
  precision: '32-true' | 'bf16-mixed' | 'bf16-true';
  initial_checkpoint_dir: string | null;
  /** A string is an absolute checkpoint folder. */
  resume: false | true | 'auto' | string;
  /** data_path: the dataset (for a mixture, its first source's folder, for messages). */
  data: { data_path: string; split_names: [string, string] | null; mixture: MixtureConfig | null };
  train: {
    save_interval: number;
    log_interval: number;
    global_batch_size: number;
    micro_batch_size: number;
    /** global_batch_size / micro_batch_size: micro-batches per optimizer step. */
    gradient_accumulation_steps: number;
    /** 0 when lr_warmup_fraction is used. */
    lr_warmup_steps: number;
    /** null when unused (litgpt treats 0 as unused too). */
    lr_warmup_fraction: number | null;
    max_tokens: number;
    max_steps: number | null;
    /** block_size when the file leaves it null. */
    max_seq_length: number;
    max_norm: number;
    min_lr: number;
  };
  eval: { interval: number; max_new_tokens: number | null; max_iters: number; initial_validation: boolean; final_validation: boolean };
  optimizer: { lr: number; weight_decay: number; betas: [number, number]; eps: number };
  devices: 'auto' | number;
  /** Machines the ranks span, as in litgpt: `devices` counts the ranks of each one. */
  num_nodes: number;
  tokenizer_dir: string | null;
  logger_name: 'csv' | 'tensorboard' | 'wandb';
  seed: number;
  /** minilm.keep_last_checkpoints: null keeps every step-* folder. */
  keep_last_checkpoints: number | null;
  /** minilm.shard_optimizer: data-parallel ranks each keep and update 1/N of AdamW's state (ZeRO-1). */
  shard_optimizer: boolean;
  /** Set for a fine-tuning run (`minilm sft`, ./sft-config.ts): its data and length come from here. */
  sft: SftSettings | null;
  /** Set for preference tuning (`minilm dpo`, ./sft-config.ts's loadDpoConfig): sft's data are pairs, the loss DPO's. */
  dpo: DpoSettings | null;
  /** Set for LoRA fine-tuning (sft's and dpo's `lora:` section): adapters trained, the checkpoint's weights frozen. */
  lora: LoraSettings | null;
  /** Things the user should know that do not stop the run; the caller prints them. */
  warnings: string[];
}

/** What fine-tuning adds to a run: conversations instead of token shards, and a run length in epochs. */
/** The checkpoint fine-tuned is initial_checkpoint_dir: its weights start the run, its tokenizer renders the data. */
export interface SftSettings {
  /** data.init_args.json_path: a conversation file or a folder of them (absolute). */
  json_path: string;
  mask_prompt: boolean;
  val_split_fraction: number;
  /** data.init_args.seed: which records are held out. */
  data_seed: number;
  /** minilm.data_format, or null to detect each file's format. */
  format: 'minimind' | 'openai' | 'sharegpt' | 'alpaca' | null;
  epochs: number;
  /** minilm.packing: several conversations to a row of max_seq_length positions, each attending only to itself. */
  packing: boolean;
}

/** The `dpo:` section: DPO's loss against the frozen starting checkpoint (TRL's names). */
export interface DpoSettings {
  beta: number;
  loss_type: 'sigmoid' | 'ipo';
  label_smoothing: number;
}

/** The `lora:` section: the adapters' rank, scale (alpha / r) and the linear layers they adapt. */
export interface LoraSettings {
  r: number;
  alpha: number;
  targets: ('qkv' | 'proj' | 'mlp' | 'head')[];
}

/** minilm.data.Mixture: several prepared datasets, each chosen for a share of the windows by its weight. */
export interface MixtureConfig {
  /** name: the folder's base name unless given; path absolute; weights as given (the trainer normalises them). */
  sources: { name: string; path: string; weight: number }[];
  on_exhausted: 'repeat' | 'stop';
}

export interface LoadPretrainConfigOptions {
  /** A litgpt pretrain YAML file, relative to cwd. */
  configFile?: string;
  /** Command-line tokens: `['--train.micro_batch_size', '4', '--out_dir=out/x']`. */
  overrides?: string[];
  /** Default process.cwd(). */
  cwd?: string;
  /** An already-parsed config (the library API), instead of configFile. */
  tree?: unknown;
}

// The schema guarantees each normalised value's type; this alias only spares casts at every read.
// biome-ignore lint/suspicious/noExplicitAny: the values were checked against pretrain-schema.ts
export type Values = Record<string, any>;

/** A config file (or object) with its overrides applied and checked against a schema; problems are collected, not thrown. */
export interface ParsedConfig {
  cwd: string;
  configFile: string | null;
  values: Values;
  /** The dotted keys the file or flags set. */
  given: Set<string>;
  problems: Found[];
  check: Check;
  /** The error for the problems found, each named by the flag or file that set its key. */
  fail: (problems: Found[]) => MinilmError;
}

export function parseConfig(options: LoadPretrainConfigOptions, schema: Section): ParsedConfig {
  const cwd = path.resolve(options.cwd ?? process.cwd());
  if (options.configFile !== undefined && options.tree !== undefined) {
    throw new MinilmError('give a config file or a config object, not both', 'InvalidArg');
  }
  const configFile = options.configFile === undefined ? null : path.resolve(cwd, options.configFile);
  const label = options.configFile ?? (options.tree !== undefined ? 'config' : 'command line');
  const raw = configFile === null ? copyTree(options.tree ?? {}) : readYamlFile(configFile, label);
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new MinilmError(`${label}: the top level must be a mapping of keys (train:, data:, ...), not ${JSON.stringify(raw)}`, 'InvalidArg');
  }
  const tree = raw as Record<string, unknown>;
  const origins = applyOverrides(tree, parseOverrides(options.overrides ?? []));

  // Errors name whoever set the key: the flag that did, or else the file.
  const sourceOf = (key: string) => {
    for (let p = key; p !== ''; p = p.includes('.') ? p.slice(0, p.lastIndexOf('.')) : '') {
      const flag = origins.get(p);
      if (flag !== undefined) return flag;
    }
    return label;
  };
  const fail = (problems: Found[]) => {
    const lines = problems.map((p) => `${[...new Set((p.keys ?? [p.path]).map(sourceOf))].join(', ')}: ${p.message}`);
    return new MinilmError([...new Set(lines)].join('\n'), 'InvalidArg');
  };
  const problems: Found[] = [];
  const given = new Set<string>();
  const values: Values = normalizeTree(tree, problems, given, schema);
  const check: Check = (ok, keys, message) => {
    if (!ok) problems.push({ path: keys[0], message, keys });
  };
  return { cwd, configFile, values, given, problems, check, fail };
}

export function loadPretrainConfig(options: LoadPretrainConfigOptions): PretrainConfig {
  const { cwd, configFile, values, given, problems, check, fail } = parseConfig(options, PRETRAIN_SCHEMA);
  if (!given.has('model_config')) {
    // Without the section, litgpt's defaults (a GPT-NeoX) would each be refused: say the one thing that matters.
    problems.splice(0, problems.length, ...problems.filter((p) => !p.path.startsWith('model_config.')));
    const message = given.has('model_name')
      ? `model_name: minilm has no table of litgpt model names; give model_config (the architecture's keys, as in configs/pretrain.yaml)`
      : 'model_config is not set: give the architecture (block_size, vocab_size, n_layer, n_head, n_embd, ...), as in configs/pretrain.yaml';
    problems.push({ path: given.has('model_name') ? 'model_name' : 'model_config', message });
  }
  if (!given.has('data')) {
    problems.push({
      path: 'data',
      message:
        'data is not set (litgpt would then use litgpt.data.TinyLlama): give data: {class_path: LitData, init_args: {data_path: FOLDER}} with a folder `minilm prepare` wrote',
    });
  }
  if (problems.length > 0) throw fail(problems);

  const model = resolveModel(values.model_config, values.train.tie_embeddings ?? false, check);
  const train = resolveTrain(values.train, model.block_size, given, check);
  check(
    !(values.initial_checkpoint_dir !== null && values.resume !== false),
    ['initial_checkpoint_dir', 'resume'],
    "initial_checkpoint_dir and resume are both set: initial_checkpoint_dir starts a new run from a checkpoint's weights, resume continues an interrupted run in out_dir; choose one (litgpt refuses both too)",
  );
  if (problems.length > 0) throw fail(problems);

  const abs = (p: string | null) => (p === null ? null : path.resolve(cwd, p));
  const initArgs = values.data.init_args;
  const mixture = resolveMixture(values.data, given, cwd, check);
  if (problems.length > 0) throw fail(problems);
  const adamw = values.optimizer.init_args;
  const { interval, max_new_tokens, max_iters, initial_validation, final_validation } = values.eval;
  return {
    configFile,
    model,
    out_dir: path.resolve(cwd, values.out_dir),
    precision: values.precision ?? 'bf16-mixed',
    initial_checkpoint_dir: abs(values.initial_checkpoint_dir),
    resume: typeof values.resume === 'string' && values.resume !== 'auto' ? path.resolve(cwd, values.resume) : values.resume,
    data: { data_path: mixture?.sources[0].path ?? path.resolve(cwd, initArgs.data_path), split_names: initArgs.split_names, mixture },
    train,
    eval: { interval, max_new_tokens, max_iters, initial_validation, final_validation },
    optimizer: { lr: adamw.lr, weight_decay: adamw.weight_decay, betas: adamw.betas, eps: adamw.eps },
    devices: values.devices,
    num_nodes: values.num_nodes,
    tokenizer_dir: abs(values.tokenizer_dir),
    logger_name: values.logger_name,
    seed: values.seed,
    keep_last_checkpoints: values.minilm.keep_last_checkpoints,
    shard_optimizer: values.minilm.shard_optimizer,
    sft: null,
    dpo: null,
    lora: null,
    warnings: warningsFor(values),
  };
}

/** data.init_args of minilm.data.Mixture checked and resolved, or null for litgpt's LitData. */
function resolveMixture(data: Values, given: Set<string>, cwd: string, check: Check): MixtureConfig | null {
  const args = data.init_args;
  if (!MIXTURE_CLASSES.includes(data.class_path)) {
    for (const key of ['sources', 'on_exhausted']) {
      check(
        !given.has(`data.init_args.${key}`),
        [`data.init_args.${key}`],
        `data.init_args.${key} belongs to minilm.data.Mixture; set data.class_path: minilm.data.Mixture, or remove it`,
      );
    }
    return null;
  }
  check(
    !given.has('data.init_args.data_path'),
    ['data.init_args.data_path'],
    'a mixture reads its sources, not data_path: give each folder as a source {path, weight}',
  );
  const where = 'data.init_args.sources';
  if (!Array.isArray(args.sources) || args.sources.length === 0) {
    check(false, [where], `${where}: a mixture needs a list of sources, each {path: FOLDER, weight: NUMBER} (name: optional)`);
    return null;
  }
  const sources: MixtureConfig['sources'] = [];
  args.sources.forEach((raw: unknown, i: number) => {
    const at = `${where}[${i}]`;
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
      check(false, [where], `${at} must be a mapping {path, weight, name}, not ${JSON.stringify(raw)}`);
      return;
    }
    const source = raw as Record<string, unknown>;
    const unknown = Object.keys(source).filter((k) => !['path', 'weight', 'name'].includes(k));
    check(unknown.length === 0, [where], `${at}: unknown key ${unknown[0]}; a source has path, weight and name`);
    const folder = source.path;
    const weight = source.weight;
    if (typeof folder !== 'string' || folder === '') {
      check(false, [where], `${at}.path must be a folder \`minilm prepare\` wrote, not ${JSON.stringify(folder)}`);
      return;
    }
    check(typeof weight === 'number' && Number.isFinite(weight) && weight > 0, [where], `${at}.weight must be a number > 0, not ${JSON.stringify(weight)}`);
    const name = source.name ?? path.basename(path.resolve(cwd, folder));
    check(
      typeof name === 'string' && /^[A-Za-z0-9_.-]+$/.test(name),
      [where],
      `${at}.name must be letters, digits, _ . or - (it names CSV columns), not ${JSON.stringify(name)}`,
    );
    sources.push({ name: String(name), path: path.resolve(cwd, folder), weight: Number(weight) });
  });
  const names = sources.map((s) => s.name);
  const twice = names.find((n, i) => names.indexOf(n) !== i);
  check(twice === undefined, [where], `${where}: two sources are named ${twice}; give one of them another name: (the name heads its CSV columns)`);
  return { sources, on_exhausted: args.on_exhausted };
}

/**
 * A model_config mapping in litgpt's keys (a checkpoint's model_config.yaml) resolved as pretrain
 * resolves it. `label` names the file in errors.
 */
export function resolveModelConfig(modelConfig: unknown, tieEmbeddings: boolean, label: string): ModelConfig {
  const problems: Found[] = [];
  const values: Values = normalizeTree({ model_config: modelConfig }, problems, new Set());
  const check: Check = (ok, keys, message) => {
    if (!ok) problems.push({ path: keys[0], message, keys });
  };
  const model = problems.length === 0 ? resolveModel(values.model_config, tieEmbeddings, check) : null;
  if (model === null || problems.length > 0) {
    throw new MinilmError(problems.map((p) => `${label}: ${p.message}`).join('\n'), 'InvalidArg');
  }
  return model;
}

/** A problem that may involve several keys (set in the file or by different flags). */
export type Found = Problem & { keys?: string[] };
export type Check = (ok: boolean, keys: string[], message: string) => void;

// litgpt.Config.__post_init__, for the keys the LLaMA family uses.
function resolveModel(m: Values, tieEmbeddings: boolean, check: Check): ModelConfig {
  const name: string = m.name || (typeof m.hf_config?.name === 'string' ? m.hf_config.name : '');
  // litgpt's RMSNorm adds 1 to its weight when the model's name contains "Gemma".
  check(
    !name.includes('Gemma'),
    ['model_config.name'],
    `model_config.name: ${name} contains "Gemma", which makes litgpt's RMSNorm add 1 to its weights (Gemma's norm); minilm implements LLaMA's RMSNorm: rename the model`,
  );
  const divides = m.n_embd % m.n_head === 0;
  check(
    m.head_size !== null || divides,
    ['model_config.n_embd', 'model_config.n_head'],
    `model_config.n_embd (${m.n_embd}) is not a multiple of model_config.n_head (${m.n_head}), so head_size cannot be derived; set head_size or change one of them`,
  );
  const head_size: number = m.head_size ?? (divides ? m.n_embd / m.n_head : 1);
  const padded: number = m.padded_vocab_size ?? Math.ceil(m.vocab_size / m.padding_multiple) * m.padding_multiple;
  const n_query_groups: number = m.n_query_groups ?? m.n_head;
  check(
    m.n_head % n_query_groups === 0,
    ['model_config.n_head', 'model_config.n_query_groups'],
    `model_config.n_head (${m.n_head}) must be a multiple of model_config.n_query_groups (${n_query_groups}): each group of query heads shares one key/value head`,
  );
  check(
    m.intermediate_size !== null,
    ['model_config.intermediate_size'],
    'model_config.intermediate_size is not set: LLaMAMLP needs it (litgpt refuses it missing too)',
  );
  const rope_n_elem = Math.trunc(m.rotary_percentage * head_size);
  check(
    rope_n_elem >= 2 && rope_n_elem % 2 === 0,
    ['model_config.rotary_percentage'],
    `model_config.rotary_percentage (${m.rotary_percentage}) x head_size (${head_size}) gives ${rope_n_elem} rotated dimensions; RoPE rotates pairs, so it must be even and at least 2`,
  );
  return {
    name,
    block_size: m.block_size,
    // A given padded size caps the vocabulary; otherwise it is the vocabulary rounded up to padding_multiple.
    vocab_size: m.padded_vocab_size === null ? m.vocab_size : Math.min(m.vocab_size, padded),
    padded_vocab_size: padded,
    n_layer: m.n_layer,
    n_head: m.n_head,
    n_embd: m.n_embd,
    head_size,
    n_query_groups,
    rotary_percentage: m.rotary_percentage,
    rope_base: m.rope_base,
    norm_eps: m.norm_eps,
    intermediate_size: m.intermediate_size ?? 1,
    tie_embeddings: tieEmbeddings,
  };
}

/**
 * What pretraining and fine-tuning derive alike from their train section: the micro-batches per step
 * (minilm's stricter batch check: litgpt rounds down) and litgpt's warmup, steps or a fraction.
 */
export function resolveStepShape(
  t: Values,
  given: Set<string>,
  check: Check,
): Pick<PretrainConfig['train'], 'gradient_accumulation_steps' | 'lr_warmup_steps' | 'lr_warmup_fraction'> {
  check(
    t.global_batch_size % t.micro_batch_size === 0,
    ['train.global_batch_size', 'train.micro_batch_size'],
    `train.global_batch_size (${t.global_batch_size}) must be a multiple of train.micro_batch_size (${t.micro_batch_size}): ` +
      `an optimizer step adds up global_batch_size / micro_batch_size micro-batches (litgpt would silently round down to ${Math.floor(t.global_batch_size / t.micro_batch_size)})`,
  );
  // litgpt treats 0 like null for both. The fraction wins over the 2000-step default it would otherwise
  // clash with; both set by the user is refused, as litgpt does.
  const fraction: number | null = t.lr_warmup_fraction ? t.lr_warmup_fraction : null;
  const steps: number = t.lr_warmup_steps ?? 0;
  check(
    !(fraction !== null && steps > 0 && given.has('train.lr_warmup_steps')),
    ['train.lr_warmup_fraction', 'train.lr_warmup_steps'],
    'train.lr_warmup_fraction and train.lr_warmup_steps are both set; choose one (litgpt refuses both too)',
  );
  return {
    gradient_accumulation_steps: Math.max(1, Math.floor(t.global_batch_size / t.micro_batch_size)),
    lr_warmup_steps: fraction === null ? steps : 0,
    lr_warmup_fraction: fraction,
  };
}

// litgpt.args.TrainArgs and pretrain's validate_args.
function resolveTrain(t: Values, blockSize: number, given: Set<string>, check: Check): PretrainConfig['train'] {
  const stepShape = resolveStepShape(t, given, check);
  check(t.max_tokens !== null, ['train.max_tokens'], "train.max_tokens is required: litgpt's pretrain ends the run when it has trained on that many tokens");
  check(t.max_norm !== null, ['train.max_norm'], "train.max_norm is required: litgpt's pretrain clips the gradients' global norm to it");
  const maxSeqLength: number = t.max_seq_length ?? blockSize;
  check(
    maxSeqLength <= blockSize,
    ['train.max_seq_length', 'model_config.block_size'],
    `train.max_seq_length (${maxSeqLength}) is longer than model_config.block_size (${blockSize}): the model cannot attend that far`,
  );
  return {
    save_interval: t.save_interval,
    log_interval: t.log_interval,
    global_batch_size: t.global_batch_size,
    micro_batch_size: t.micro_batch_size,
    ...stepShape,
    max_tokens: t.max_tokens,
    max_steps: t.max_steps,
    max_seq_length: maxSeqLength,
    max_norm: t.max_norm,
    min_lr: t.min_lr,
  };
}

export function warningsFor(values: Values): string[] {
  const warnings: string[] = [];
  if (values.logger_name === 'wandb') {
    warnings.push('logger_name: wandb cannot be reached from here; metrics are logged to CSV and TensorBoard under out_dir/logs');
  }
  return warnings;
}

/** The model's parameter count (as litgpt counts them: a tied lm_head once) and training FLOPs per token at `seqLen`. */
export function modelSize(model: ModelConfig, seqLen: number): ModelSize {
  return callNative(() => native().describeModel(model, seqLen));
}

function readYamlFile(file: string, label: string): unknown {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    const e = error as NodeJS.ErrnoException;
    const why = e.code === 'ENOENT' ? 'no such file' : e.code === 'EISDIR' ? 'it is a folder' : e.message;
    throw new MinilmError(`${label}: cannot read the config file: ${why}`, 'InvalidArg');
  }
  const document = YAML.parseDocument(text, { logLevel: 'silent' });
  const error = document.errors[0];
  if (error) {
    const at = error.linePos?.[0];
    const what = error.message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '');
    const line = at ? text.split(/\r?\n/)[at.line - 1]?.trim() : undefined;
    const where = at ? ` at line ${at.line}, column ${at.col}` : '';
    throw new MinilmError(`${label}: YAML syntax error${where}: ${what}${line ? ` (the line reads: ${line})` : ''}`, 'InvalidArg');
  }
  const tree: unknown = document.toJS();
  if (tree === null || tree === undefined) {
    throw new MinilmError(`${label}: the file is empty; a pretrain config needs at least model_config and data`, 'InvalidArg');
  }
  return tree;
}

/** A private copy of a caller's object, so overrides never change it. */
function copyTree(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(copyTree);
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([key, child]) => [key, copyTree(child)]));
  }
  return value;
}
