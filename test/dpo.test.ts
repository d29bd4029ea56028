// minilm dpo as a user runs it: preference pairs built from the sample corpus (the right author chosen,
// another one rejected) on the small fine-tuned model, TRL's figures in the logs, bad rows, the library.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { dpo, loadDpoConfig, type PretrainEvent } from 'minilm';
import { authorPreferencePairs, writeAuthorPairs } from '../ts/data/sample-chat.js';
import { runCli } from './support/cli.js';
import { tempDir } from './support/files.js';
import { writeConfig } from './support/training.js';
import { sftConfig, tunedCheckpoint } from './support/sft.js';

let checkpoint = '';
let pairs = '';

before(async () => {
  checkpoint = await tunedCheckpoint();
  pairs = path.join(tempDir('dpo-data'), 'author-pairs.jsonl');
  writeAuthorPairs(pairs, 600);
});

/** sft's test config with a dpo: section; `changes` merged section by section. */
function dpoConfig(out: string, changes: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    ...sftConfig(checkpoint, pairs, out, {
      train: { max_steps: 12, micro_batch_size: 8, global_batch_size: 8 },
      eval: { interval: 6, max_iters: 100, initial_validation: true, final_validation: true },
      optimizer: { init_args: { lr: 5e-4 } },
      data: { class_path: 'litgpt.data.JSON', init_args: { json_path: pairs, mask_prompt: true, val_split_fraction: 0.2, seed: 42 } },
      ...changes,
    }),
    dpo: { beta: 0.1, loss_type: 'sigmoid', label_smoothing: 0 },
  };
}

/** metrics.csv's rows as objects of numbers (empty cells left out). */
function metrics(out: string): Record<string, number>[] {
  const [header, ...rows] = fs.readFileSync(path.join(out, 'logs/csv/version_0/metrics.csv'), 'utf8').trim().split('\n');
  const columns = header.split(',');
  return rows.map((row) => Object.fromEntries(row.split(',').flatMap((cell, i) => (cell === '' ? [] : [[columns[i], Number(cell)]]))));
}

test('minilm dpo trains on preference pairs: TRL figures in the logs, the held-out margin grows', async () => {
  const out = tempDir('dpo-run');
  const run = await runCli(['dpo', '--config', writeConfig(dpoConfig(out))]);
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stderr, /prepared .*sft-data: \d+ preference records -> \d+ train \+ \d+ val pairs/);
  assert.match(run.stderr, /training .* \(\d+ pairs; validation: \d+ pairs\)/);
  assert.match(run.stderr, /step \d+\/12 .* rewards\/accuracies \d+% {2}rewards\/margins -?\d/);
  const rows = metrics(out);
  const validations = rows.filter((r) => 'val_rewards/accuracies' in r);
  const [first, last] = [validations[0], validations.at(-1)!];
  // Before any step the policy is the reference: every margin 0, the loss log 2.
  assert.ok(Math.abs(first['val_rewards/margins']) < 1e-4 && Math.abs(first.val_loss - Math.LN2) < 1e-4, JSON.stringify(first));
  assert.ok(last['val_rewards/margins'] > first['val_rewards/margins'] && last.val_loss < first.val_loss, JSON.stringify(last));
  const steps = rows.filter((r) => 'rewards/chosen' in r);
  assert.equal(steps.length, 12);
  for (const name of ['rewards/rejected', 'rewards/accuracies', 'logps/chosen', 'logps/rejected']) assert.ok(name in steps[0], name);
  // The reference log-probabilities were computed once and kept beside the pairs.
  assert.equal(fs.readdirSync(path.join(out, 'sft-data')).filter((f) => f.startsWith('reference-logps-')).length, 1);
  // The report charts the rewards.
  const report = await runCli(['report', out]);
  assert.equal(report.code, 0, report.stderr);
  assert.match(fs.readFileSync(path.join(out, 'report.html'), 'utf8'), /DPO: pairs whose chosen reply wins[\s\S]*DPO: reward margin/);
});

test('a bad preference record stops dpo with the file, the line and what was expected', async () => {
  const file = path.join(tempDir('dpo-bad'), 'pairs.jsonl');
  fs.writeFileSync(file, `${JSON.stringify(authorPreferencePairs(10)[0])}\n{"prompt": "q", "chosen": "a"}\n`);
  const run = await runCli(['dpo', '--config', writeConfig(dpoConfig(tempDir('dpo-bad-out'))), '--data.init_args.json_path', file]);
  assert.equal(run.code, 1, run.stderr);
  assert.match(run.stderr, /pairs\.jsonl \(line 2\): needs "chosen" and "rejected"; expected \{"prompt"/);
  assert.doesNotMatch(run.stderr, /at .*\.js:\d+/, 'no stack trace');
});

test('the library: dpo(loadDpoConfig(...)) reports DPO figures; packing and an sft config are refused', async () => {
  const events: PretrainEvent[] = [];
  const summary = await dpo(
    loadDpoConfig({ tree: dpoConfig(tempDir('dpo-library'), { train: { max_steps: 2, micro_batch_size: 8, global_batch_size: 8 } }) }),
    {
      onLog: (e) => events.push(e),
    },
  );
  assert.equal(summary.steps, 2);
  const step = events.find((e) => e.type === 'step');
  assert.ok(step?.type === 'step' && step.dpo !== null && step.dpo.pairs === 8, JSON.stringify(step));
  assert.throws(() => loadDpoConfig({ tree: { ...dpoConfig(tempDir('x')), minilm: { packing: true } } }), /packing is for sft/);
  assert.throws(() => loadDpoConfig({ tree: { ...dpoConfig(tempDir('x')), dpo: { loss_type: 'kto' } } }), /dpo\.loss_type/);
});
