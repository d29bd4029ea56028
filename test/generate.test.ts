// minilm generate / export and the Model API, as a user would run them on a freshly trained checkpoint.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { exportHf, isCancelled, loadPretrainConfig, Model, pretrain } from 'minilm';
import { createServer } from '../examples/http-server.js';
import { runCli } from './support/cli.js';
import { tempDir } from './support/files.js';
import { poetryDataset, tinyConfig } from './support/training.js';

let checkpoint = '';

before(async () => {
  const data = await poetryDataset(2000);
  const out = tempDir('generate-run');
  // 60 steps of the tiny model: enough to write poem-like lines (and to fall into loops greedily).
  await pretrain(loadPretrainConfig({ tree: tinyConfig(data, out, { train: { max_tokens: 16 * 64 * 60, save_interval: 1000 } }) }));
  checkpoint = path.join(out, 'final');
});

test('generate prints the prompt and its continuation, the same for the same seed, with tokens/s', async () => {
  const args = ['generate', checkpoint, '--prompt', '床前明月光', '--max_new_tokens', '30', '--seed', '7'];
  const first = await runCli(args);
  assert.equal(first.code, 0, first.stderr);
  assert.ok(first.stdout.startsWith('床前明月光'), first.stdout);
  assert.ok(first.stdout.length > '床前明月光'.length + 5, first.stdout);
  assert.match(first.stderr, /new tokens .*prompt \d+ tokens; first token [\d.]+ s, then [\d.]+ tokens\/s/);
  assert.equal((await runCli(args)).stdout, first.stdout);
  const other = await runCli([...args.slice(0, -1), '8']);
  assert.notEqual(other.stdout, first.stdout, 'another seed gives another sample');
});

test('repetition_penalty breaks the greedy loops of a small model', async () => {
  const distinct = async (penalty: string) => {
    const r = await runCli(['generate', checkpoint, '--prompt', '春', '--max_new_tokens', '40', '--temperature', '0', '--repetition_penalty', penalty]);
    assert.equal(r.code, 0, r.stderr);
    const text = r.stdout.trim();
    return new Set([...text]).size / [...text].length;
  };
  const plain = await distinct('1.0');
  const penalised = await distinct('1.5');
  assert.ok(penalised > plain, `distinct characters: ${plain.toFixed(2)} without, ${penalised.toFixed(2)} with the penalty`);
});

test('bad folders and options get one clear sentence', async () => {
  const missing = await runCli(['generate', path.join(checkpoint, 'nope')]);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /nope: no such folder; expected a checkpoint folder written by `minilm pretrain`/);
  const foreign = tempDir('foreign');
  fs.writeFileSync(path.join(foreign, 'notes.txt'), 'hello');
  const noWeights = await runCli(['generate', foreign]);
  assert.match(noWeights.stderr, /has no model\.safetensors \(the weights\)/);
  const tooLong = await runCli(['generate', checkpoint, '--max_new_tokens', '100']);
  assert.equal(tooLong.code, 2);
  assert.match(tooLong.stderr, /plus max_new_tokens \(100\) is \d+, more than the model's block_size of 64/);
  const badTemperature = await runCli(['generate', checkpoint, '--temperature', '-1']);
  assert.match(badTemperature.stderr, /--temperature must be a number >= 0, not -1/);
  assert.doesNotMatch(tooLong.stderr + badTemperature.stderr, /at .*\.js:\d+/, 'no stack trace');
});

test('the library streams whole characters while the event loop keeps running, and stops on abort', async () => {
  const model = await Model.load(checkpoint);
  let ticks = 0;
  const timer = setInterval(() => ticks++, 1);
  const pieces: string[] = [];
  const generation = model.generate('白日依山盡', { maxNewTokens: 40, seed: 3 });
  try {
    for await (const piece of generation) pieces.push(piece);
  } finally {
    clearInterval(timer);
  }
  assert.ok(ticks > 3, `the timer fired ${ticks} times during generation`);
  assert.ok(pieces.length > 1);
  // A piece never ends inside a character (held back until complete: U+FFFD until then). Bytes that
  // can never form a character (a small model samples some) decode to U+FFFD inside a piece, as in HF.
  for (const piece of pieces) assert.ok(!piece.endsWith('\uFFFD'), `a piece split a character: ${JSON.stringify(piece)}`);
  assert.equal(pieces.join(''), model.tokenizer.decode(generation.ids).replace(/\uFFFD+$/, ''));
  assert.ok(generation.stats!.newTokens === generation.ids.length && generation.stats!.tokensPerSec > 0);

  const controller = new AbortController();
  const stopped = model.generate('白日依山盡', { maxNewTokens: 40, signal: controller.signal });
  let received = 0;
  await assert.rejects(
    async () => {
      for await (const _ of stopped) if (++received === 2) controller.abort();
    },
    (error: unknown) => isCancelled(error),
  );
  assert.equal(received, 2);
});

test('export --format hf writes a Llama folder that minilm (and transformers) load, with the same text', async () => {
  const out = path.join(tempDir('export'), 'hf');
  const result = await runCli(['export', checkpoint, '--format', 'hf', '--output_dir', out]);
  assert.equal(result.code, 0, result.stderr);
  for (const file of ['config.json', 'generation_config.json', 'model.safetensors', 'tokenizer.json']) assert.ok(fs.existsSync(path.join(out, file)), file);
  const config = JSON.parse(fs.readFileSync(path.join(out, 'config.json'), 'utf8'));
  assert.equal(config.architectures[0], 'LlamaForCausalLM');
  assert.equal(config.tie_word_embeddings, true);
  const greedy = async (dir: string) => {
    let text = '';
    for await (const piece of (await Model.load(dir)).generate('春眠不覺曉', { maxNewTokens: 20, temperature: 0 })) text += piece;
    return text;
  };
  assert.equal(await greedy(out), await greedy(checkpoint));
  await assert.rejects(exportHf(checkpoint, out), /exists and is not empty/);
});

test('the HTTP example streams completions, refuses bad requests and survives a client leaving', async () => {
  const model = await Model.load(checkpoint);
  const server = createServer(model).listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/generate`;
  try {
    const ok = await fetch(url, { method: 'POST', body: JSON.stringify({ prompt: '月落烏啼', max_new_tokens: 20, seed: 1 }) });
    assert.equal(ok.status, 200);
    assert.ok((await ok.text()).length > 0);
    const badJson = await fetch(url, { method: 'POST', body: '{"prompt": ' });
    assert.equal(badJson.status, 400);
    assert.match(await badJson.text(), /not valid JSON/);
    const tooMany = await fetch(url, { method: 'POST', body: JSON.stringify({ prompt: 'a', max_new_tokens: 100000 }) });
    assert.equal(tooMany.status, 400);
    assert.match(await tooMany.text(), /capped/);
    const badOption = await fetch(url, { method: 'POST', body: JSON.stringify({ prompt: 'a', temperature: -2 }) });
    assert.equal(badOption.status, 400);
    assert.match(await badOption.text(), /temperature must be a number >= 0/);

    // A client that reads one chunk and hangs up; the server then still answers the next one.
    const leaving = new AbortController();
    const response = await fetch(url, { method: 'POST', body: JSON.stringify({ prompt: '月落烏啼', max_new_tokens: 40 }), signal: leaving.signal });
    await response.body!.getReader().read();
    leaving.abort();
    const after = await fetch(url, { method: 'POST', body: JSON.stringify({ prompt: '春', max_new_tokens: 5 }) });
    assert.equal(after.status, 200);
    assert.ok((await after.text()).length > 0);
  } finally {
    server.close();
  }
});
