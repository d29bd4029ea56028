// `minilm pretrain` as a user runs it: the reference config's dry run, a tiny model that learns, exact
// resume after kill -9 and Ctrl-C, checkpoints that survive a crash mid-save, and clear errors.
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { loadPretrainConfig, pretrain, isCancelled } from '../ts/index.js';
import { runCli } from './support/cli.js';
import { sharedDir } from './support/shared.js';
import { tempDir } from './support/files.js';
import { readSplit } from './support/dataset.js';
import { interruptAfterSave, lossesByStep, poetryDataset, tinyConfig, writeConfig } from './support/training.js';

let data: string;

before(async () => {
  data = await poetryDataset(20_000);
});

test('the reference config dry-runs unchanged with its 108,749,568 parameters, then checks its data', async () => {
  const result = await runCli(['pretrain', '--config', path.join(sharedDir, 'reference/pretrain.yaml'), '--dry_run']);
  assert.match(result.stdout, /108,749,568 parameters/);
  assert.match(result.stdout, /warning: logger_name: wandb/);
  // Its data_path is not prepared here: the dry run says so, naming it.
  assert.equal(result.code, 1);
  assert.match(result.stderr, /data\/pretrain\/smol_chinese\/processed: does not exist or is not a folder; expected a dataset from `minilm prepare`/);
  const untied = await runCli(['pretrain', '--config', path.join(sharedDir, 'reference/pretrain.yaml'), '--dry_run', '--train.tie_embeddings', 'false']);
  assert.match(untied.stdout, /113,664,768 parameters/);
});

test('a dry run checks the data as training would read it: folders, windows, tokenizer and ids', async () => {
  const config = writeConfig(tinyConfig(data, tempDir('dry-out')));
  const ok = await runCli(['pretrain', '--config', config, '--dry_run']);
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(
    ok.stdout,
    /^data: train [\d,]+ windows of 65 tokens \([\d.]+[KM]? tokens, \S+train\); val [\d,]+ windows \(\S+val\); its tokenizer's 6,400 tokens fit the model's 6,400; ids of \d+ sampled windows within the vocabulary$/m,
  );
  const small = await runCli(['pretrain', '--config', config, '--dry_run', '--model_config.vocab_size', '4096', '--model_config.padded_vocab_size', '4096']);
  assert.equal(small.code, 1);
  assert.match(small.stderr, /tokenizer: has 6400 tokens, more than the model's padded_vocab_size of 4096/);
  const long = await runCli(['pretrain', '--config', config, '--dry_run', '--model_config.block_size', '100000', '--train.max_seq_length', '100000']);
  assert.notEqual(long.code, 0);
  assert.match(long.stderr, /(train|val): holds no window of 100001 tokens \(block size \+ 1\)/);
});

test('a tiny model learns poetry: validation loss ends far below the unigram entropy', async () => {
  // Unigram entropy of the training tokens: what a model that ignores context can reach at best.
  const counts = new Map<number, number>();
  let total = 0;
  for (const doc of readSplit(path.join(data, 'train'))) {
    for (const id of doc) counts.set(id, (counts.get(id) ?? 0) + 1);
    total += doc.length;
  }
  let entropy = 0;
  for (const c of counts.values()) entropy -= (c / total) * Math.log(c / total);

  const out = tempDir('learn');
  const config = loadPretrainConfig({
    tree: tinyConfig(data, out, { train: { max_tokens: 16 * 64 * 300, save_interval: 1000, log_interval: 50 }, eval: { interval: 100 } }),
  });
  const events: any[] = [];
  const summary = await pretrain(config, { onLog: (e) => events.push(e) });
  const vals = events.filter((e) => e.type === 'validation').map((e) => e.val_loss);
  assert.equal(summary.steps, 300);
  assert.ok(vals.length >= 3, 'validation every eval.interval steps and at the end');
  assert.ok(vals.at(-1) < entropy - 0.5, `final val_loss ${vals.at(-1)} vs unigram entropy ${entropy.toFixed(3)}`);
  // Bits per byte, from the tokenizer prepare kept beside the data, is logged with every validation.
  const bpb = events.filter((e) => e.type === 'validation').map((e) => e.val_bpb);
  assert.ok(bpb.every((b) => Number.isFinite(b) && b > 0) && bpb.at(-1) < bpb[0], `val_bpb ${bpb.join(', ')}`);
  const csv = fs.readFileSync(path.join(out, 'logs/csv/version_0/metrics.csv'), 'utf8').split('\n');
  const column = csv[0].split(',').indexOf('val_bpb');
  assert.ok(column > 0, csv[0]);
  assert.equal(
    Number(
      csv
        .filter((l) => l.split(',')[column])
        .at(-1)!
        .split(',')[column],
    ).toFixed(6),
    bpb.at(-1).toFixed(6),
  );
  assert.ok(fs.existsSync(path.join(out, 'final/model.safetensors')));
  // MFU names its denominator, and a measured one never reads above 100%: the run's own rate raises it.
  const start = events.find((e) => e.type === 'start');
  assert.match(start.peakFlopsSource, /^measured: best of \d+ 1024\^3 float32 matmuls$/);
  for (const e of events.filter((e) => e.type === 'step')) assert.ok(e.mfu > 0 && e.mfu <= 1, `MFU ${e.mfu} at step ${e.step}`);
  const tensorboard = fs.readdirSync(path.join(out, 'logs/tensorboard'));
  assert.ok(tensorboard.some((f) => f.startsWith('events.out.tfevents.')));
});

test('a run killed with kill -9 or stopped with Ctrl-C or SIGTERM resumes with the same loss at every later step, bit for bit', async () => {
  const settings = { train: { max_tokens: 16 * 64 * 30, save_interval: 5 } };
  const reference = tempDir('uninterrupted');
  assert.equal((await runCli(['pretrain', '--config', writeConfig(tinyConfig(data, reference, settings))])).code, 0);
  const want = lossesByStep(reference);
  assert.equal(want.size, 30);

  for (const signal of ['SIGKILL', 'SIGINT', 'SIGTERM'] as const) {
    const out = tempDir(`interrupted-${signal}`);
    const configFile = writeConfig(tinyConfig(data, out, settings));
    const stopped = await interruptAfterSave(configFile, 10, signal);
    if (signal !== 'SIGKILL') {
      assert.equal(stopped.code, 130, stopped.stderr);
      assert.match(stopped.stderr, /stopped at step \d+/);
    }
    const resumed = await runCli(['pretrain', '--config', configFile, '--resume', 'auto']);
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.match(resumed.stderr, /resumed from .*step-000000\d\d at step \d+/);
    assert.deepEqual([...lossesByStep(out)], [...want], `${signal}: losses after resume differ from the uninterrupted run`);
  }
});

test('a crash in the middle of a save leaves the earlier checkpoint, which resume uses', async () => {
  const out = tempDir('crash-save');
  const configFile = writeConfig(tinyConfig(data, out, { train: { max_tokens: 16 * 64 * 10, save_interval: 5 } }));
  assert.equal((await runCli(['pretrain', '--config', configFile, '--train.max_steps', '5'])).code, 0);
  // What a kill during the step-10 save leaves behind: a partial folder under a hidden name.
  fs.mkdirSync(path.join(out, '.step-00000010.partial'));
  fs.writeFileSync(path.join(out, '.step-00000010.partial/model.safetensors'), 'half a file');
  const resumed = await runCli(['pretrain', '--config', configFile, '--resume', 'true']);
  assert.equal(resumed.code, 0, resumed.stderr);
  assert.match(resumed.stderr, /resumed from .*step-00000005 at step 5/);
  assert.ok(fs.existsSync(path.join(out, 'step-00000010/state.json')));
  assert.ok(!fs.existsSync(path.join(out, '.step-00000010.partial')));
});

test('resuming under a different batch or model is refused, and continued pretraining starts from a checkpoint', async () => {
  const out = tempDir('settings');
  const configFile = writeConfig(tinyConfig(data, out, { train: { max_tokens: 16 * 64 * 5, save_interval: 5 } }));
  assert.equal((await runCli(['pretrain', '--config', configFile])).code, 0);
  const changed = await runCli(['pretrain', '--config', configFile, '--resume', 'true', '--train.micro_batch_size', '4']);
  assert.equal(changed.code, 2);
  assert.match(changed.stderr, /cannot resume from .*step-00000005: it was trained with a different/);

  const continued = tempDir('continued');
  const tree = tinyConfig(data, continued, { initial_checkpoint_dir: path.join(out, 'final'), train: { max_tokens: 16 * 64 * 2 } });
  const events: any[] = [];
  await pretrain(loadPretrainConfig({ tree }), { onLog: (e) => events.push(e) });
  const fresh: any[] = [];
  await pretrain(loadPretrainConfig({ tree: tinyConfig(data, tempDir('fresh'), { train: { max_tokens: 16 * 64 * 2 } }) }), { onLog: (e) => fresh.push(e) });
  const firstLoss = (list: any[]) => list.find((e) => e.type === 'step').loss;
  assert.ok(firstLoss(events) < firstLoss(fresh) - 0.5, `continued ${firstLoss(events)} vs fresh ${firstLoss(fresh)}`);
});

test('keep_last_checkpoints keeps only the newest step folders; an AbortSignal stops the library run with a checkpoint', async () => {
  const out = tempDir('keep');
  await pretrain(
    loadPretrainConfig({ tree: tinyConfig(data, out, { train: { max_tokens: 16 * 64 * 12, save_interval: 2 }, minilm: { keep_last_checkpoints: 2 } }) }),
  );
  assert.deepEqual(
    fs
      .readdirSync(out)
      .filter((f) => f.startsWith('step-'))
      .sort(),
    ['step-00000010', 'step-00000012'],
  );

  const stopped = tempDir('abort');
  const controller = new AbortController();
  const run = pretrain(loadPretrainConfig({ tree: tinyConfig(data, stopped, { train: { max_tokens: 16 * 64 * 50, save_interval: 100 } }) }), {
    signal: controller.signal,
    onLog: (e) => e.type === 'step' && e.step === 3 && controller.abort(),
  });
  await assert.rejects(run, (e: unknown) => isCancelled(e));
  assert.ok(fs.existsSync(path.join(stopped, 'step-00000003/state.json')));
});

test('broken configs and data get one clear message naming the file and key', async () => {
  const out = tempDir('errors');
  const misspelt = writeConfig({ ...tinyConfig(data, out), train: { ...(tinyConfig(data, out).train as object), micro_batchsize: 4 } });
  const r1 = await runCli(['pretrain', '--config', misspelt]);
  assert.equal(r1.code, 2);
  assert.match(r1.stderr, /pretrain\.yaml: unknown key train\.micro_batchsize; did you mean train\.micro_batch_size\?/);
  assert.doesNotMatch(r1.stderr, /\n\s+at /, 'no stack trace');

  const missing = await runCli(['pretrain', '--config', writeConfig(tinyConfig(path.join(out, 'nowhere'), out))]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /nowhere: does not exist or is not a folder; expected a dataset from `minilm prepare`/);

  const notData = tempDir('not-data');
  fs.writeFileSync(path.join(notData, 'x.bin'), Buffer.alloc(2048));
  const wrong = await runCli(['pretrain', '--config', writeConfig(tinyConfig(notData, out))]);
  assert.match(wrong.stderr, /x\.bin: is not an llm\.c token shard/);

  const smallVocab = await runCli([
    'pretrain',
    '--config',
    writeConfig(tinyConfig(data, out, { model_config: { ...(tinyConfig(data, out).model_config as object), vocab_size: 512, padded_vocab_size: 512 } })),
  ]);
  assert.equal(smallVocab.code, 1);
  assert.match(smallVocab.stderr, /holds token id \d+, outside the model's vocabulary of 512/);
});
