// minilm sft as a user runs it: conversation files of every format (some broken), the loss on the
// replies, validation, resume after Ctrl-C, and the library's sft().
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { loadSftConfig, sft, type PretrainEvent } from 'minilm';
import { runCli, startCli } from './support/cli.js';
import { tempDir } from './support/files.js';
import { lossesByStep, writeConfig } from './support/training.js';
import { pretrainedCheckpoint, sftConfig, writePoetryConversations } from './support/sft.js';

let checkpoint = '';
let conversations = '';
let records: { conversations: { role: string; content: string }[] }[] = [];

before(async () => {
  checkpoint = await pretrainedCheckpoint();
  conversations = path.join(tempDir('sft-data'), 'poetry.jsonl');
  records = writePoetryConversations(conversations, 600);
});

/** The same records in each format, in one folder (one file per format, the OpenAI one gzipped). */
function everyFormat(dir: string): void {
  const turns = (r: (typeof records)[number]) => r.conversations;
  const lines = (rows: unknown[]) => `${rows.map((row) => JSON.stringify(row)).join('\n')}\n`;
  fs.writeFileSync(path.join(dir, 'a-minimind.jsonl'), lines(records.slice(0, 150)));
  fs.writeFileSync(path.join(dir, 'b-openai.jsonl.gz'), zlib.gzipSync(lines(records.slice(150, 300).map((r) => ({ messages: turns(r) })))));
  const sharegpt = records
    .slice(300, 450)
    .map((r) => ({ conversations: turns(r).map((t) => ({ from: t.role === 'user' ? 'human' : 'gpt', value: t.content })) }));
  fs.writeFileSync(path.join(dir, 'c-sharegpt.jsonl'), lines(sharegpt));
  const alpaca = records.slice(450).map((r) => ({ instruction: turns(r)[0].content, input: '', output: turns(r)[1].content }));
  fs.writeFileSync(path.join(dir, 'd-alpaca.json'), JSON.stringify(alpaca));
}

test('sft trains on conversations of every format: the validation loss on the replies falls', async () => {
  const input = tempDir('sft-formats');
  everyFormat(input);
  // A conversation without a reply and an empty one are counted and skipped.
  fs.appendFileSync(path.join(input, 'a-minimind.jsonl'), '{"conversations": [{"role": "user", "content": "你好"}]}\n{"conversations": []}\n');
  const out = tempDir('sft-run');
  const config = writeConfig(sftConfig(checkpoint, input, out));
  const run = await runCli(['sft', '--config', config]);
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stderr, /prepared .*sft-data: 602 conversations -> \d+ train \+ \d+ val examples/);
  assert.match(run.stderr, /a-minimind\.jsonl \(minimind\), .*b-openai\.jsonl\.gz \(openai\), .*c-sharegpt\.jsonl \(sharegpt\), .*d-alpaca\.json \(alpaca\)/);
  assert.match(run.stderr, /skipped 2: 1 empty, 1 without an assistant turn/);
  const vals = [...run.stderr.matchAll(/val_loss (\d+\.\d+)/g)].map((m) => Number(m[1]));
  assert.ok(vals.length >= 2 && vals.at(-1)! < vals[0] - 0.3, `validation loss on the replies: ${vals.join(' -> ')}`);
  const final = path.join(out, 'final');
  for (const file of ['model.safetensors', 'tokenizer.json', 'tokenizer_config.json', 'model_config.yaml', 'state.json']) {
    assert.ok(fs.existsSync(path.join(final, file)), file);
  }
  // The second run reuses the prepared examples.
  const again = await runCli(['sft', '--config', config, '--out_dir', out, '--train.max_steps', '12']);
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stderr, /reusing .*sft-data/);
});

test('a broken record stops sft with the file, the line and what was expected', async () => {
  const input = tempDir('sft-broken');
  const file = path.join(input, 'chat.jsonl');
  const good = JSON.stringify(records[0]);
  const cases: [string, RegExp][] = [
    [
      `${good}\n{"conversations": [{"content": "没有角色"}]}\n`,
      /chat\.jsonl \(line 2\): conversations\[0\] has no "role"; expected one of system, user, assistant, tool/,
    ],
    [`{"text": "plain"}\n`, /chat\.jsonl \(line 1\): matches no conversation format; expected one of: minimind/],
    [`${good}\n{"conversations": [}\n`, /chat\.jsonl \(line 2\): is not valid JSON/],
  ];
  for (const [text, expected] of cases) {
    fs.writeFileSync(file, text);
    const run = await runCli(['sft', '--config', writeConfig(sftConfig(checkpoint, file, tempDir('sft-broken-out')))]);
    assert.equal(run.code, 1, run.stderr); // bad data exits 1, as prepare's does; a bad config exits 2
    assert.match(run.stderr, expected);
    assert.doesNotMatch(run.stderr, /at .*\.js:\d+/, 'no stack trace');
  }
  const typo = await runCli(['sft', '--config', writeConfig(sftConfig(checkpoint, file, tempDir('x'), { train: { epoch: 2 } }))]);
  assert.equal(typo.code, 2);
  assert.match(typo.stderr, /unknown key train\.epoch; did you mean train\.epochs\?/);
  const forced = await runCli(['sft', '--config', writeConfig(sftConfig(checkpoint, conversations, tempDir('x'))), '--format', 'sharegpt']);
  assert.equal(forced.code, 1);
  assert.match(forced.stderr, /line 1\): conversations\[0\] has no "from" string/);
});

test('an SFT run stopped with Ctrl-C resumes to the same losses as one that never stopped', async () => {
  const tree = sftConfig(checkpoint, conversations, '', {
    train: { max_steps: 8, save_interval: 1000 },
    eval: { interval: 100, initial_validation: false, final_validation: false },
  });
  const unbroken = tempDir('sft-unbroken');
  const whole = await runCli(['sft', '--config', writeConfig({ ...tree, out_dir: unbroken })]);
  assert.equal(whole.code, 0, whole.stderr);

  const stopped = tempDir('sft-stopped');
  const config = writeConfig({ ...tree, out_dir: stopped });
  const { child, done } = startCli(['sft', '--config', config]);
  let sent = false;
  child.stderr!.on('data', (d: Buffer) => {
    if (!sent && /step 3\/8/.test(d.toString())) {
      sent = true;
      child.kill('SIGINT');
    }
  });
  const interrupted = await done;
  assert.equal(interrupted.code, 130, interrupted.stderr);
  assert.match(interrupted.stderr, /stopped at step \d; run again with resume: auto/);
  const resumed = await runCli(['sft', '--config', config, '--resume', 'auto']);
  assert.equal(resumed.code, 0, resumed.stderr);
  assert.match(resumed.stderr, /resumed from .*step-0000000\d at step \d of 8/);
  assert.deepEqual([...lossesByStep(stopped)], [...lossesByStep(unbroken)], 'the same losses, bit for bit');
});

test('the library: sft(loadSftConfig(...)) reports the data and the steps', async () => {
  const events: PretrainEvent[] = [];
  const out = tempDir('sft-library');
  const summary = await sft(loadSftConfig({ tree: sftConfig(checkpoint, conversations, out, { train: { max_steps: 3 } }) }), { onLog: (e) => events.push(e) });
  assert.equal(summary.steps, 3);
  const data = events.find((e) => e.type === 'sft-data');
  assert.ok(data && data.type === 'sft-data' && data.summary.trainExamples > 400 && data.summary.trainedTokens < data.summary.tokens);
  assert.ok(events.some((e) => e.type === 'start' && e.sft));
  assert.throws(() => loadSftConfig({ tree: { data: { init_args: { json_path: conversations } } } }), /checkpoint_dir is not set/);
});

test('packed SFT (minilm.packing): fewer rows than examples, the validation loss of the same tokens as unpacked', async () => {
  // Validation over the whole held-out split before any step: packing must not change a token's loss.
  const tree = sftConfig(checkpoint, conversations, '', {
    train: { max_steps: 3, micro_batch_size: 8, global_batch_size: 8, save_interval: 3 },
    eval: { interval: 100, max_iters: 1000, initial_validation: true, final_validation: false },
  });
  const initialValLoss = (out: string) => {
    const [header, ...rows] = fs.readFileSync(path.join(out, 'logs/csv/version_0/metrics.csv'), 'utf8').trim().split('\n');
    const columns = header.split(',');
    const row = rows.map((r) => r.split(',')).find((cells) => cells[columns.indexOf('step')] === '0' && cells[columns.indexOf('val_loss')] !== '');
    return Number(row![columns.indexOf('val_loss')]);
  };
  const unpacked = tempDir('sft-unpacked');
  const plain = await runCli(['sft', '--config', writeConfig({ ...tree, out_dir: unpacked })]);
  assert.equal(plain.code, 0, plain.stderr);
  const packed = tempDir('sft-packed');
  const run = await runCli(['sft', '--config', writeConfig({ ...tree, out_dir: packed }), '--minilm.packing', 'true']);
  assert.equal(run.code, 0, run.stderr);

  const examples = Number(/training .* \(([\d,]+) examples;/.exec(plain.stderr)![1].replaceAll(',', ''));
  const rows = Number(/training .* \(([\d,]+) packed rows;/.exec(run.stderr)![1].replaceAll(',', ''));
  assert.ok(rows < examples, `${rows} packed rows for ${examples} examples`);
  assert.match(run.stderr, /step 1\/\d+ .* padding \d+%/);
  const [a, b] = [initialValLoss(unpacked), initialValLoss(packed)];
  assert.ok(Math.abs(a - b) < 1e-5, `initial val_loss unpacked ${a}, packed ${b}`);

  // A packed run is a different run: resuming it unpacked is refused.
  const mixed = await runCli(['sft', '--config', writeConfig({ ...tree, out_dir: packed }), '--resume', 'true', '--train.max_steps', '4']);
  assert.notEqual(mixed.code, 0);
  assert.match(mixed.stderr, /cannot resume from .*step-00000003: it was trained with a different .*packing/);
});
