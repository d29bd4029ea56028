// `minilm sft --config FILE [overrides]`: a litgpt finetune_full YAML file (./sft-schema.ts) resolved into
// the same run structure pretraining uses, with `sft` set: the model comes from checkpoint_dir, the data
// from conversation files, the length from train.epochs. Problems are reported together, naming the file
// or flag and the key, as for pretrain.
import path from 'node:path';
import { readModelFolder } from './model-folder.js';
import { parseConfig, resolveStepShape, warningsFor, type LoadPretrainConfigOptions, type PretrainConfig } from './pretrain-config.js';
import { DPO_SCHEMA } from './dpo-schema.js';
import { SFT_SCHEMA } from './sft-schema.js';
import type { Section } from './pretrain-schema.js';
import { MinilmError } from '../errors.js';

/** The SFT data folder inside out_dir (prepared once, reused by a resumed run). */
export const SFT_DATA_FOLDER = 'sft-data';

export function loadSftConfig(options: LoadPretrainConfigOptions): PretrainConfig {
  return loadFinetuneConfig(options, SFT_SCHEMA).config;
}

/**
 * `minilm dpo --config FILE [overrides]`: sft's config with a `dpo:` section (./dpo-schema.ts); the data
 * are preference pairs and the checkpoint is also the frozen reference.
 */
export function loadDpoConfig(options: LoadPretrainConfigOptions): PretrainConfig {
  const { config, values } = loadFinetuneConfig(options, DPO_SCHEMA);
  if (config.sft!.packing) {
    throw new MinilmError(`${options.configFile ?? 'config'}: minilm.packing is for sft; DPO reads each pair's two replies as rows of their own`, 'InvalidArg');
  }
  return { ...config, dpo: { beta: values.dpo.beta, loss_type: values.dpo.loss_type, label_smoothing: values.dpo.label_smoothing } };
}

function loadFinetuneConfig(options: LoadPretrainConfigOptions, schema: Section) {
  const { cwd, configFile, values, given, problems, check, fail } = parseConfig(options, schema);
  check(
    given.has('checkpoint_dir'),
    ['checkpoint_dir'],
    'checkpoint_dir is not set: give the checkpoint to fine-tune (a minilm pretrain checkpoint such as out/pretrain/final, or a minilm export --format hf folder)',
  );
  check(
    given.has('data.init_args.json_path'),
    ['data.init_args.json_path'],
    'data.init_args.json_path is not set: give a conversation file (.jsonl, .jsonl.gz, .json) or a folder of them',
  );
  if (problems.length > 0) throw fail(problems);

  const abs = (p: string) => path.resolve(cwd, p);
  const checkpoint = readModelFolder(abs(values.checkpoint_dir));
  if (checkpoint.tokenizerDir === null) {
    problems.push({
      path: 'checkpoint_dir',
      message: `checkpoint_dir: ${checkpoint.dir} has no tokenizer.json; fine-tuning renders conversations with the checkpoint's tokenizer and its chat template`,
    });
  }
  const t = values.train;
  const model = checkpoint.model;
  const maxSeqLength: number = t.max_seq_length ?? model.block_size;
  check(
    maxSeqLength <= model.block_size,
    ['train.max_seq_length'],
    `train.max_seq_length (${maxSeqLength}) is longer than the checkpoint's block_size (${model.block_size}): the model cannot attend that far`,
  );
  check(
    values.lora.r === null || !values.lora.targets.includes('head') || !model.tie_embeddings,
    ['lora.targets'],
    'lora.targets: head needs an untied lm_head, and this checkpoint ties it to the embedding (an adapter there would change the embedding too); leave head out',
  );
  const stepShape = resolveStepShape(t, given, check);
  const initArgs = values.data.init_args;
  const jsonPath = abs(initArgs.json_path);
  if (problems.length > 0) throw fail(problems);

  const train: PretrainConfig['train'] = {
    save_interval: t.save_interval,
    log_interval: t.log_interval,
    global_batch_size: t.global_batch_size,
    micro_batch_size: t.micro_batch_size,
    ...stepShape,
    max_tokens: Number.MAX_SAFE_INTEGER,
    max_steps: t.max_steps,
    max_seq_length: maxSeqLength,
    // litgpt's fine-tuning does not clip unless max_norm is set.
    max_norm: t.max_norm ?? Number.MAX_VALUE,
    min_lr: t.min_lr,
  };
  const outDir = abs(values.out_dir);
  const adamw = values.optimizer.init_args;
  const { interval, max_new_tokens, max_iters, initial_validation, final_validation } = values.eval;
  const config: PretrainConfig = {
    configFile,
    model,
    out_dir: outDir,
    precision: values.precision ?? 'bf16-mixed',
    initial_checkpoint_dir: checkpoint.dir,
    resume: typeof values.resume === 'string' && values.resume !== 'auto' ? abs(values.resume) : values.resume,
    data: { data_path: path.join(outDir, SFT_DATA_FOLDER), split_names: null, mixture: null },
    train,
    eval: { interval, max_new_tokens, max_iters, initial_validation, final_validation },
    optimizer: { lr: adamw.lr, weight_decay: adamw.weight_decay, betas: adamw.betas, eps: adamw.eps },
    devices: values.devices,
    num_nodes: values.num_nodes,
    tokenizer_dir: checkpoint.tokenizerDir,
    logger_name: values.logger_name === 'mlflow' ? 'csv' : values.logger_name,
    seed: values.seed,
    keep_last_checkpoints: values.minilm.keep_last_checkpoints,
    shard_optimizer: values.minilm.shard_optimizer,
    sft: {
      json_path: jsonPath,
      mask_prompt: initArgs.mask_prompt,
      // litgpt requires the fraction for a single file; minilm holds out none when it is not given.
      val_split_fraction: initArgs.val_split_fraction ?? 0,
      data_seed: initArgs.seed,
      format: values.minilm.data_format,
      epochs: t.epochs,
      packing: values.minilm.packing,
    },
    warnings: [
      ...warningsFor(values),
      ...(initArgs.prompt_style !== 'alpaca' && given.has('data.init_args.prompt_style')
        ? [`data.init_args.prompt_style ${JSON.stringify(initArgs.prompt_style)} is not used: minilm renders conversations with the checkpoint's chat template`]
        : []),
    ],
    dpo: null,
    lora: values.lora.r === null ? null : { r: values.lora.r, alpha: values.lora.alpha, targets: values.lora.targets },
  };
  return { config, values };
}
