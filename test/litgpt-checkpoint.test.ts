// A checkpoint folder litgpt wrote (test/golden/litgpt/checkpoint, made by `litgpt pretrain` through
// scripts/reference/make_litgpt_fixture.py) works wherever minilm takes a checkpoint: generate, chat,
// serve, export, sft and pretrain's initial_checkpoint_dir. Its logits are checked against litgpt's in
// crates/minilm-core/tests/core/litgpt_checkpoint.rs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { exportHf, loadPretrainConfig, loadSftConfig, Model, pretrain, sft } from 'minilm';
import { repoRoot, runCli } from './support/cli.js';
import { tempDir } from './support/files.js';
import { poetryDataset, tinyConfig } from './support/training.js';
import { sftConfig, writePoetryConversations } from './support/sft.js';

const litgpt = path.join(repoRoot, 'test/golden/litgpt/checkpoint');

test('generate and chat read a litgpt checkpoint; its HF export generates the same text', async () => {
  const run = await runCli(['generate', litgpt, '--prompt', '床前明月光', '--max_new_tokens', '12', '--temperature', '0']);
  assert.equal(run.code, 0, run.stderr);
  assert.ok(run.stdout.startsWith('床前明月光'), run.stdout);
  const exported = tempDir('litgpt-hf');
  await exportHf(litgpt, exported);
  const fromHf = await runCli(['generate', exported, '--prompt', '床前明月光', '--max_new_tokens', '12', '--temperature', '0']);
  assert.equal(fromHf.stdout, run.stdout, 'the export of the litgpt checkpoint gives the same greedy text');
  const model = await Model.load(litgpt);
  assert.equal(model.config.n_embd, 32);
  assert.equal(model.config.tie_embeddings, true, 'from hyperparameters.yaml');
  const chat = await runCli(['chat', litgpt, '--prompt', '你好', '--max_new_tokens', '8']);
  assert.equal(chat.code, 0, chat.stderr);
});

test('sft and pretrain start from a litgpt checkpoint', async () => {
  const conversations = path.join(tempDir('litgpt-sft-data'), 'chat.jsonl');
  writePoetryConversations(conversations, 100);
  const tuned = await sft(
    loadSftConfig({
      tree: sftConfig(litgpt, conversations, tempDir('litgpt-sft'), {
        train: { max_steps: 2, max_seq_length: 64, micro_batch_size: 4, global_batch_size: 4 },
        eval: { initial_validation: false },
      }),
    }),
  );
  assert.equal(tuned.steps, 2);
  assert.ok(fs.existsSync(path.join(tuned.final_dir, 'model.safetensors')));

  const data = await poetryDataset(300);
  // The tiny config with the fixture's width (make_litgpt_fixture.py): n_embd 32, MLP 64.
  const tree = tinyConfig(data, tempDir('litgpt-continued'), {
    model_config: { name: 'tiny-litgpt', n_embd: 32, intermediate_size: 64 },
    initial_checkpoint_dir: litgpt,
    train: { max_tokens: 16 * 64 * 2 },
  });
  const continued = await pretrain(loadPretrainConfig({ tree }));
  assert.equal(continued.steps, 2);
});

test('a litgpt folder whose lit_model.pth is not a checkpoint gets one clear sentence', async () => {
  const broken = tempDir('litgpt-broken');
  for (const name of fs.readdirSync(litgpt)) fs.copyFileSync(path.join(litgpt, name), path.join(broken, name));
  fs.writeFileSync(path.join(broken, 'lit_model.pth'), 'not a checkpoint');
  const run = await runCli(['generate', broken, '--prompt', '春']);
  assert.equal(run.code, 1, run.stderr);
  assert.match(run.stderr, /lit_model\.pth: cannot read it as a PyTorch checkpoint/);
});
