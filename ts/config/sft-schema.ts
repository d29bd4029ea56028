// The keys of litgpt's full fine-tuning config (litgpt.finetune.full.setup, its TrainArgs / EvalArgs,
// litgpt.data.JSON, torch.optim.AdamW) with the defaults litgpt gives them, so a litgpt finetune_full
// YAML file means the same run here. The model comes from checkpoint_dir, as in litgpt. Keys that would
// select something minilm does not do carry `only`, as in pretrain-schema.ts.
import { any, BAD, bool, DEVICES, EVAL, int, type Leaf, num, oneOf, only, OPTIMIZER, path, RESUME, type Section, section, str } from './pretrain-schema.js';

export const CONVERSATION_FORMATS = ['minimind', 'openai', 'sharegpt', 'alpaca'] as const;

const DATA = section(
  {
    class_path: only(
      str('litgpt.data.JSON'),
      'litgpt.data.JSON',
      'minilm fine-tunes on conversation files (JSON Lines or JSON), which litgpt reads with litgpt.data.JSON; use JSON',
      'JSON',
    ),
    init_args: section({
      json_path: path(null),
      mask_prompt: bool(false),
      val_split_fraction: num(null, { min: 0, max: 0.9 }),
      // litgpt formats each record with a prompt style; minilm renders it with the tokenizer's chat template.
      prompt_style: any('alpaca'),
      ignore_index: int(-100),
      seed: int(42, 0),
      num_workers: int(4, 0),
    }),
  },
  true,
);

const TRAIN = section({
  save_interval: int(1000, 1),
  log_interval: int(1, 1),
  global_batch_size: int(16, 1),
  micro_batch_size: int(1, 1),
  lr_warmup_steps: int(100, 0, true),
  lr_warmup_fraction: num(null, { min: 0, max: 1 }),
  epochs: int(5, 1),
  max_tokens: only(int(null, 1), null, 'fine-tuning runs for train.epochs (or train.max_steps), as in litgpt; remove it or use null'),
  max_steps: int(null, 1),
  max_time: only(num(null), null, 'minilm does not stop on a clock; bound the run with train.max_steps or train.epochs'),
  max_seq_length: int(null, 1),
  tie_embeddings: any(null), // the checkpoint decides
  max_norm: num(null, { above: 0 }),
  // litgpt's fine-tuning decays the learning rate to 0 (CosineAnnealingLR) and does not read min_lr.
  min_lr: num(0, { min: 0 }),
});

const formatLeaf: Leaf = {
  kind: 'leaf',
  default: null,
  expected: `one of ${CONVERSATION_FORMATS.join(', ')}, or null (detect each file's format from its first record)`,
  parse: (v) => (v === null || (typeof v === 'string' && (CONVERSATION_FORMATS as readonly string[]).includes(v)) ? v : BAD),
};

export const LORA_TARGETS = ['qkv', 'proj', 'mlp', 'head'] as const;

const loraTargetsLeaf: Leaf = {
  kind: 'leaf',
  default: ['qkv', 'proj', 'mlp'],
  expected: `a list of ${LORA_TARGETS.join(', ')} (or them comma-separated)`,
  parse: (v) => {
    const list = typeof v === 'string' ? v.split(',').map((t) => t.trim()) : v;
    if (!Array.isArray(list) || list.length === 0) return BAD;
    return list.every((t) => (LORA_TARGETS as readonly unknown[]).includes(t)) ? [...new Set(list)] : BAD;
  },
};

// LoRA (docs/lora.md): low-rank adapters on the targeted linear layers, the rest frozen. r null: no LoRA.
const LORA = section({
  r: int(null, 1),
  alpha: num(16, { above: 0 }),
  dropout: only(
    num(0, { min: 0, max: 1 }),
    0,
    "minilm trains LoRA through merged weights (docs/lora.md), where dropout on the adapters' input has no place; use 0",
  ),
  targets: loraTargetsLeaf,
});

export const SFT_SCHEMA: Section = section({
  checkpoint_dir: path(null),
  out_dir: path('out/finetune/full'),
  precision: oneOf(['bf16-true', 'bf16-mixed', '32-true'], null),
  devices: DEVICES,
  num_nodes: int(1, 1),
  resume: RESUME,
  data: DATA,
  train: TRAIN,
  eval: { ...EVAL, keys: { ...EVAL.keys, interval: int(600, 1), max_new_tokens: int(100, 1, true) } },
  optimizer: OPTIMIZER,
  logger_name: oneOf(['csv', 'tensorboard', 'wandb', 'mlflow'], 'csv'),
  seed: int(1337, 0),
  access_token: str(null),
  // minilm's own section, as in pretrain: keep_last_checkpoints, shard_optimizer, data_format (the
  // --format flag), and packing (several conversations to a row, each kept apart: docs/sft.md).
  minilm: section({ keep_last_checkpoints: int(null, 1), shard_optimizer: bool(false), data_format: formatLeaf, packing: bool(false) }),
  lora: LORA,
});
