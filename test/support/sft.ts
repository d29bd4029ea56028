// A small pretrained checkpoint and poetry conversations for the SFT, chat and serve tests.
import fs from 'node:fs';
import path from 'node:path';
import { loadPretrainConfig, loadSftConfig, pretrain, sft } from '../../ts/index.js';
import { poetryConversations } from '../../ts/data/sample-chat.js';
import { tempDir } from './files.js';
import { sharedFixture } from './fixtures.js';
import { mergeSections, poetryDataset, tinyConfig } from './training.js';

/**
 * A tiny model pretrained for 40 steps on poetry (block 128, the reference tokenizer and its chat
 * template): its `final` folder, made once per test run (read only).
 */
export async function pretrainedCheckpoint(): Promise<string> {
  const data = await poetryDataset(3000);
  const out = await sharedFixture('pretrained', async (dir) => {
    const tree = tinyConfig(data, dir, {
      model_config: { block_size: 128 },
      train: { max_tokens: 16 * 128 * 40, save_interval: 1000, max_seq_length: 128 },
    });
    await pretrain(loadPretrainConfig({ tree }));
  });
  return path.join(out, 'final');
}

/** The poetry conversations in minimind's format, written to `file` (JSON Lines). */
export function writePoetryConversations(file: string, count: number): { conversations: { role: string; content: string }[] }[] {
  const records = [...poetryConversations(count)];
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, `${records.map((r) => JSON.stringify(r)).join('\n')}\n`);
  return records;
}

/** An SFT config tree in litgpt's finetune_full shape; `changes` are merged section by section. */
export function sftConfig(checkpoint: string, jsonPath: string, outDir: string, changes: Record<string, unknown> = {}): Record<string, unknown> {
  const base: Record<string, unknown> = {
    checkpoint_dir: checkpoint,
    out_dir: outDir,
    precision: '32-true',
    data: { class_path: 'litgpt.data.JSON', init_args: { json_path: jsonPath, mask_prompt: true, val_split_fraction: 0.1, seed: 42 } },
    train: {
      save_interval: 1000,
      log_interval: 1,
      global_batch_size: 16,
      micro_batch_size: 8,
      lr_warmup_steps: 2,
      epochs: 1,
      max_steps: 12,
      max_seq_length: 128,
      max_norm: 1.0,
    },
    eval: { interval: 6, max_iters: 4, initial_validation: true, final_validation: true },
    optimizer: { class_path: 'torch.optim.AdamW', init_args: { lr: 2e-3, weight_decay: 0.0, betas: [0.9, 0.95] } },
    logger_name: 'csv',
    seed: 1337,
  };
  return mergeSections(base, changes);
}

/** The tiny pretrained model fine-tuned for 30 steps on 600 poetry conversations: a model that chats (once per test run; read only). */
export async function tunedCheckpoint(): Promise<string> {
  const base = await pretrainedCheckpoint();
  const out = await sharedFixture('tuned', async (dir) => {
    const data = path.join(tempDir('tuned-data'), 'poetry.jsonl');
    writePoetryConversations(data, 600);
    await sft(loadSftConfig({ tree: sftConfig(base, data, dir, { train: { max_steps: 30 } }) }));
  });
  return path.join(out, 'final');
}
