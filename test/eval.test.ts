// `minilm eval` as a user runs it, on a checkpoint litgpt trained (test/golden/litgpt/checkpoint): loss and
// bits per byte on held-out text and multiple-choice log-likelihoods equal an independent PyTorch
// computation (scripts/reference/make_eval_golden.py wrote test/golden/eval/), the scores follow from
// them, bad task files are named with their row, and `minilm report` shows what eval wrote.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { evaluate, writeReport } from '../ts/index.js';
import { loops, repetitionStats, units } from '../ts/eval/repetition.js';
import { minimind3Tokenizer, repoRoot, runCli } from './support/cli.js';
import { tempDir } from './support/files.js';

const checkpoint = path.join(repoRoot, 'test/golden/litgpt/checkpoint');
const golden = path.join(repoRoot, 'test/golden/eval');
const expected = JSON.parse(fs.readFileSync(path.join(golden, 'expected.json'), 'utf8'));

function assertRelative(got: number, want: number, what: string, tolerance = 1e-4): void {
  assert.ok(Math.abs(got - want) <= tolerance * Math.abs(want), `${what}: ${got}, PyTorch ${want}`);
}

test('loss and bits per byte on held-out text match PyTorch within 1e-4 relative, whatever the batch size', async () => {
  for (const batch of ['1', '3']) {
    const result = await runCli(['eval', checkpoint, '--data', path.join(golden, 'held-out.jsonl'), '--json', '--batch_size', batch]);
    assert.equal(result.code, 0, result.stderr);
    const { data } = JSON.parse(result.stdout);
    // 257 targets over five documents: four full windows of 64 and a shorter last one.
    assert.equal(data.total.tokens, expected.data.tokens);
    assert.equal(data.total.bytes, expected.data.bytes);
    assertRelative(data.total.loss, expected.data.loss, 'loss');
    assertRelative(data.total.bitsPerByte, expected.data.bits_per_byte, 'bits per byte');
    assertRelative(data.total.perplexity, Math.exp(expected.data.loss), 'perplexity');
    assert.equal(data.inputs[0].documents, 5);
  }
});

test('a prepared split of the same documents gives the same figures; one made with another tokenizer is refused', async () => {
  const dir = tempDir('eval-prepared');
  fs.mkdirSync(path.join(dir, 'raw'));
  fs.copyFileSync(path.join(golden, 'held-out.jsonl'), path.join(dir, 'raw/held-out.jsonl'));
  const prepared = path.join(dir, 'prepared');
  const prep = await runCli(['prepare', '--input_dir', path.join(dir, 'raw'), '--output_dir', prepared, '--tokenizer_path', checkpoint, '--val_fraction', '0']);
  assert.equal(prep.code, 0, prep.stderr);
  const result = await runCli(['eval', checkpoint, '--data', path.join(prepared, 'train'), '--json']);
  assert.equal(result.code, 0, result.stderr);
  const { data } = JSON.parse(result.stdout);
  assert.equal(data.total.tokens, expected.data.tokens);
  assert.equal(data.total.bytes, expected.data.bytes);
  assertRelative(data.total.bitsPerByte, expected.data.bits_per_byte, 'bits per byte of the prepared split');
  const other = path.join(dir, 'other');
  await runCli(['prepare', '--input_dir', path.join(dir, 'raw'), '--output_dir', other, '--tokenizer_path', minimind3Tokenizer, '--val_fraction', '0']);
  const refused = await runCli(['eval', checkpoint, '--data', path.join(other, 'train')]);
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /train: was prepared with another tokenizer/);
});

test('multiple-choice log-likelihoods match PyTorch, and acc, acc_norm and chance follow from them', async () => {
  const report = await evaluate(checkpoint, { tasks: [path.join(golden, 'ceval_val.csv'), path.join(golden, 'hellaswag.jsonl')] });
  const [ceval, hellaswag] = report.tasks!;
  assert.equal(ceval.layout, 'ceval');
  assert.equal(hellaswag.layout, 'hellaswag');
  for (const [task, want] of [
    [ceval, expected.ceval_loglikelihoods],
    [hellaswag, expected.hellaswag_loglikelihoods],
  ] as const) {
    assert.equal(task.items.length, want.length);
    for (const [i, item] of task.items.entries()) {
      for (const [c, ll] of item.loglikelihoods.entries()) assertRelative(ll, want[i][c], `${task.path} item ${i} choice ${c}`);
    }
  }
  // By hand: the predicted choice is the likeliest; acc_norm divides by each ending's bytes.
  const endings = fs
    .readFileSync(path.join(golden, 'hellaswag.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  hellaswag.items.forEach((item, i) => {
    const best = item.loglikelihoods.indexOf(Math.max(...item.loglikelihoods));
    assert.equal(item.predicted, best);
    assert.equal(item.gold, Number(endings[i].label));
  });
  const golds = [0, 2, 2]; // answers A, C, C
  const correct = ceval.items.filter((item, i) => item.gold === golds[i] && item.predicted === item.gold).length;
  assert.equal(ceval.accuracy.value, correct / 3);
  assert.equal(ceval.chance, 0.25);
  assert.equal(ceval.accuracyNorm, undefined);
  assert.ok(ceval.accuracy.low <= ceval.accuracy.value && ceval.accuracy.value <= ceval.accuracy.high);
  assert.ok(hellaswag.accuracyNorm !== undefined);
});

test('a task file with a bad row, or data that do not exist, is refused naming the file and the row', async () => {
  const dir = tempDir('eval-bad');
  const bad = path.join(dir, 'ceval_test.csv');
  fs.writeFileSync(bad, 'id,question,A,B,C,D,answer\n0,q,a,b,c,d,A\n1,q,a,b,c,d,\n');
  const result = await runCli(['eval', checkpoint, '--tasks', bad]);
  assert.equal(result.code, 1);
  assert.match(result.stderr, /ceval_test\.csv \(row 2\): answer is ''; expected one of A, B, C, D/);
  const noEndings = path.join(dir, 'hs.jsonl');
  fs.writeFileSync(noEndings, '{"ctx":"a","endings":["x","y"],"label":"0"}\n{"ctx":"a","endings":"x","label":"0"}\n');
  const second = await runCli(['eval', checkpoint, '--tasks', noEndings]);
  assert.match(second.stderr, /hs\.jsonl \(line 2\): 'endings' is not a list of two or more texts/);
  const missing = await runCli(['eval', checkpoint, '--data', path.join(dir, 'nope.jsonl')]);
  assert.match(missing.stderr, /nope\.jsonl: does not exist/);
  const nothing = await runCli(['eval', checkpoint]);
  assert.match(nothing.stderr, /nothing to evaluate/);
});

test('repetition statistics: distinct-n, repeated 4-grams and loops, counted in CJK characters and words', () => {
  assert.deepEqual(units('床前 明月, the  cat'), ['床', '前', '明', '月', ',', 'the', 'cat']);
  assert.ok(loops(units('我知有我，不爲此。我爲我有，不爲此。我爲此，不爲此。')), 'the same phrase, with changes between');
  assert.ok(!loops(units('床前明月光，疑是地上霜。举头望明月，低头思故乡。')));
  assert.ok(!loops(units('好好好好好')), 'one 4-unit phrase twice is not yet a loop');
  assert.ok(loops(units('好好好好好好')));
  const stats = repetitionStats(['a b a b a b', 'c d e f']);
  assert.equal(stats.distinct1, 6 / 10);
  assert.equal(stats.distinct2, 5 / 8);
  assert.equal(stats.repeated4gramShare, 1 / 4); // "a b a b" twice in the first sample, of 3 + 1 four-grams
  assert.equal(stats.loopingShare, 0);
});

test('eval writes evaluation.json into --out_dir, with the sampling settings, and report shows it', async () => {
  const out = tempDir('eval-report');
  fs.mkdirSync(path.join(out, 'logs/csv/version_0'), { recursive: true });
  fs.writeFileSync(path.join(out, 'logs/csv/version_0/metrics.csv'), 'step,iter,tokens,loss,val_loss\n1,1,64,8.5,\n2,2,128,8.4,8.6\n');
  const prompts = path.join(out, 'prompts.txt');
  fs.writeFileSync(prompts, '床前明月光\n\n春眠不觉晓\n');
  const result = await runCli([
    'eval',
    checkpoint,
    '--data',
    path.join(golden, 'held-out.jsonl'),
    '--generate',
    prompts,
    '--max_new_tokens',
    '16',
    '--repetition_penalty',
    '1.2',
    '--out_dir',
    out,
  ]);
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, /bits\/byte/);
  assert.match(result.stdout, /generation: 2 samples, .*repetitionPenalty 1\.2/);
  const saved = JSON.parse(fs.readFileSync(path.join(out, 'evaluation.json'), 'utf8'));
  assert.equal(saved.generation.samples.length, 2);
  assert.equal(saved.generation.settings.repetitionPenalty, 1.2);
  const html = fs.readFileSync(writeReport(out).html, 'utf8');
  assert.match(html, /<h2>Evaluation<\/h2>/);
  assert.match(html, new RegExp(expected.data.bits_per_byte.toFixed(4)));
});
