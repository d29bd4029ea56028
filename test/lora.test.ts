// LoRA as a user runs it: `minilm sft --lora.r 8` on the small pretrained model trains adapters alone, the
// checkpoint holds them and names its base, generate and export load base plus adapters (the export
// merged), DPO takes the same section, and bad settings or a moved base are clear errors.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { dpo, exportCheckpoint, loadDpoConfig, Model, type PretrainEvent } from 'minilm';
import { writeAuthorPairs } from '../ts/data/sample-chat.js';
import { runCli } from './support/cli.js';
import { tempDir } from './support/files.js';
import { writeConfig } from './support/training.js';
import { pretrainedCheckpoint, sftConfig, tunedCheckpoint, writePoetryConversations } from './support/sft.js';

let checkpoint = '';
let conversations = '';

before(async () => {
  checkpoint = await pretrainedCheckpoint();
  conversations = path.join(tempDir('lora-data'), 'poetry.jsonl');
  writePoetryConversations(conversations, 600);
});

const PROMPT = [5, 300, 41, 1200, 7, 96, 2048, 33];

function largestDifference(a: Float32Array, b: Float32Array): number {
  return a.reduce((m, x, i) => Math.max(m, Math.abs(x - b[i])), 0);
}

test('LoRA sft trains adapters alone into a small checkpoint that generate and a merged export read', async () => {
  const out = tempDir('lora-sft');
  // Adapters take a larger learning rate than full fine-tuning (as with litgpt's and peft's recipes).
  const run = await runCli([
    'sft',
    '--config',
    writeConfig(sftConfig(checkpoint, conversations, out)),
    '--lora.r',
    '8',
    '--lora.alpha',
    '16',
    '--optimizer.init_args.lr',
    '0.01',
  ]);
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stderr, /training [\d,]+ LoRA parameters \(\d+\.\d+% of the model's [\d,]+, which stay frozen\)/);
  const vals = [...run.stderr.matchAll(/val_loss (\d+\.\d+)/g)].map((m) => Number(m[1]));
  assert.ok(vals.length >= 2 && vals.at(-1)! < vals[0] - 0.1, `validation loss on the replies: ${vals.join(' -> ')}`);

  const final = path.join(out, 'final');
  assert.ok(!fs.existsSync(path.join(final, 'model.safetensors')), 'a LoRA checkpoint holds no full weights');
  const adapterBytes = fs.statSync(path.join(final, 'lora.safetensors')).size;
  const baseBytes = fs.statSync(path.join(checkpoint, 'model.safetensors')).size;
  assert.ok(adapterBytes * 5 < baseBytes, `adapters ${adapterBytes} bytes, base ${baseBytes}`);
  const described = JSON.parse(fs.readFileSync(path.join(final, 'lora.json'), 'utf8'));
  assert.deepEqual([described.r, described.alpha, described.targets, described.base.dir], [8, 16, ['qkv', 'proj', 'mlp'], checkpoint]);

  // The folder loads as base plus adapters: not the base's logits, and the merged export's.
  const [base, adapted] = [await Model.load(checkpoint), await Model.load(final)];
  const adaptedLogits = adapted.nextTokenLogits(PROMPT);
  assert.ok(largestDifference(adaptedLogits, base.nextTokenLogits(PROMPT)) > 1e-2, 'the adapters change the logits');
  const exported = path.join(tempDir('lora-export'), 'hf');
  await exportCheckpoint(final, { format: 'hf', outputDir: exported });
  assert.ok(largestDifference(adaptedLogits, (await Model.load(exported)).nextTokenLogits(PROMPT)) < 1e-5, 'the export merged the adapters');
  const generated = await runCli(['generate', final, '--prompt', '床前明月光', '--max_new_tokens', '4']);
  assert.equal(generated.code, 0, generated.stderr);

  // Adapters only fit their own base: another one, or none, is an error naming lora.json.
  const moved = tempDir('lora-moved');
  fs.cpSync(final, moved, { recursive: true });
  const described2 = { ...described, base: { ...described.base, dir: await tunedCheckpoint() } };
  fs.writeFileSync(path.join(moved, 'lora.json'), JSON.stringify(described2));
  await assert.rejects(Model.load(moved), /lora\.json: these adapters were trained on other weights than .* holds now/);
  fs.writeFileSync(path.join(moved, 'lora.json'), JSON.stringify({ ...described, base: { ...described.base, dir: path.join(moved, 'gone') } }));
  await assert.rejects(Model.load(moved), /lora\.json: its base .*gone is gone/);
  fs.writeFileSync(path.join(moved, 'lora.json'), JSON.stringify({ ...described, base: { ...described.base, dir: moved } }));
  await assert.rejects(Model.load(moved), /lora\.json: its base .* leads back to itself/);
});

test('LoRA dpo: the lora: section works for preference tuning too; bad LoRA settings are refused', async () => {
  const tuned = await tunedCheckpoint();
  const pairs = path.join(tempDir('lora-dpo-data'), 'pairs.jsonl');
  writeAuthorPairs(pairs, 300);
  const out = tempDir('lora-dpo');
  const tree = {
    ...sftConfig(tuned, pairs, out, {
      train: { max_steps: 6, micro_batch_size: 8, global_batch_size: 8 },
      eval: { interval: 6, max_iters: 100, initial_validation: true, final_validation: true },
      optimizer: { init_args: { lr: 2e-3 } },
    }),
    dpo: { beta: 0.1 },
    lora: { r: 4, alpha: 8, targets: ['qkv', 'mlp'] },
  };
  const events: PretrainEvent[] = [];
  await dpo(loadDpoConfig({ tree }), { onLog: (e) => events.push(e) });
  const start = events.find((e) => e.type === 'start');
  assert.ok(start?.type === 'start' && start.info.trainedParameters < start.info.parameters / 10, 'adapters alone are trained');
  const validations = events.flatMap((e) => (e.type === 'validation' && e.dpo !== null ? [e.dpo] : []));
  assert.ok(validations.at(-1)!.rewardsMargins > validations[0].rewardsMargins, JSON.stringify(validations));
  assert.ok(fs.existsSync(path.join(out, 'final', 'lora.safetensors')));

  assert.throws(() => loadDpoConfig({ tree: { ...tree, lora: { r: 4, dropout: 0.05 } } }), /lora\.dropout.*merged weights/);
  assert.throws(() => loadDpoConfig({ tree: { ...tree, lora: { r: 4, targets: ['head'] } } }), /lora\.targets: head needs an untied lm_head/);
  assert.throws(() => loadDpoConfig({ tree: { ...tree, lora: { r: 4, targets: ['attention'] } } }), /lora\.targets/);
});
