// minilm chat and Model.chat on a checkpoint fine-tuned on poetry conversations: the template's
// rendering, history trimmed to block_size, stop strings, /reset and /system, and --prompt.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { ChatTemplate, fitConversation, Model, Tokenizer } from 'minilm';
import { StopStrings } from '../ts/chat/stop-strings.js';
import { cliPath, minimindTokenizer, runCli } from './support/cli.js';
import { tempDir } from './support/files.js';
import { tunedCheckpoint } from './support/sft.js';

let tuned = '';

before(async () => {
  tuned = await tunedCheckpoint();
});

test('stop strings end the text before them, even across pieces', () => {
  const stops = new StopStrings(['END', '。']);
  const out = ['abc', 'E', 'N', 'xyz'].map((p) => stops.push(p)).join('') + stops.flush();
  assert.equal(out, 'abcENxyz', 'a prefix that does not complete is let through');
  const cut = new StopStrings(['END']);
  assert.equal(['ab', 'cE', 'ND', 'more'].map((p) => cut.push(p)).join(''), 'abc');
  assert.ok(cut.stopped);
});

test('the history is trimmed from the oldest exchange to fit block_size, the system message kept', () => {
  const template = ChatTemplate.fromDir(minimindTokenizer);
  const tokenizer = Tokenizer.fromDir(minimindTokenizer);
  const messages = [{ role: 'system', content: '你是诗人。' }];
  for (let i = 0; i < 10; i++) messages.push({ role: 'user', content: `第${i}个问题` }, { role: 'assistant', content: '回答'.repeat(10) });
  messages.push({ role: 'user', content: '最后的问题' });
  const { ids, dropped } = fitConversation(template, (t) => tokenizer.encodeText(t), messages, 128, 20);
  assert.ok(ids.length + 20 <= 128 && dropped > 0 && dropped % 2 === 0, `${ids.length} ids, ${dropped} dropped`);
  const text = tokenizer.decode(ids);
  assert.ok(text.includes('你是诗人') && text.includes('最后的问题') && !text.includes('第0个问题'), text);
  assert.throws(
    () => fitConversation(template, (t) => tokenizer.encodeText(t), [{ role: 'user', content: '长'.repeat(400) }], 128, 20),
    /does not fit the model's block_size of 128/,
  );
});

test('Model.chat streams a reply that ends at the end token, with stats', async () => {
  const model = await Model.load(tuned);
  const reply = model.chat([{ role: 'user', content: '写一首题为《春曉》的五言绝句。' }], { maxNewTokens: 60, temperature: 0 });
  let text = '';
  for await (const piece of reply) text += piece;
  assert.equal(text, reply.text);
  assert.ok(reply.stats && reply.stats.promptTokens > 10, JSON.stringify(reply.stats));
  assert.equal(reply.stats.stop, 'eos', `the tuned model ends its reply: ${text}`);
  // A stop string taken from the reply itself ends the same reply just before it.
  assert.ok([...text].length >= 2, text);
  const stop = [...text][1];
  const stopped = model.chat([{ role: 'user', content: '写一首题为《春曉》的五言绝句。' }], { maxNewTokens: 60, temperature: 0, stop: [stop] });
  let short = '';
  for await (const piece of stopped) short += piece;
  assert.equal(short, text.slice(0, text.indexOf(stop)));
  assert.equal(stopped.stats!.stop, 'stop');
});

test('minilm chat --prompt answers once; piped lines get /reset and /system', async () => {
  const once = await runCli(['chat', tuned, '--prompt', '《春曉》的作者是谁？', '--temperature', '0', '--max_new_tokens', '30']);
  assert.equal(once.code, 0, once.stderr);
  assert.ok(once.stdout.trim().length > 0, once.stdout);

  const child = spawn(process.execPath, [cliPath, 'chat', tuned, '--temperature', '0', '--max_new_tokens', '20'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdin.end('《春曉》的作者是谁？\n/system 你是诗人。\n/nonsense\n/reset\n写一首题为《月》的五言绝句。\n/exit\n');
  const code = await new Promise((resolve) => child.on('close', resolve));
  assert.equal(code, 0, stderr);
  assert.equal(
    stdout
      .trim()
      .split('\n')
      .filter((l) => l.trim() !== '').length >= 2,
    true,
    stdout,
  );
  assert.match(stderr, /system message set; conversation cleared/);
  assert.match(stderr, /unknown command \/nonsense/);
  assert.match(stderr, /conversation cleared/);
});

test('minilm chat: a long first message gets the room left, one that cannot fit is reported, and the chat goes on', async () => {
  // block_size 128, 50 new tokens by default: a first message of ~100 tokens with the template leaves less.
  const tokenizer = Tokenizer.fromDir(tuned);
  const template = ChatTemplate.fromDir(tuned);
  let long = '';
  for (const line of ['床前明月光，疑是地上霜。', '举头望明月，低头思故乡。', '白日依山尽，黄河入海流。', '欲穷千里目，更上一层楼。']) long += line;
  long = long.repeat(3);
  const idsOf = (text: string) => tokenizer.encodeText(template.render([{ role: 'user', content: text }], { addGenerationPrompt: true }));
  while (idsOf(long).length > 100) long = long.slice(0, -1);
  const ids = idsOf(long);
  assert.ok(ids.length > 128 - 50 && ids.length < 127, `the long message is ${ids.length} tokens with the template`);
  const { room } = fitConversation(template, (t) => tokenizer.encodeText(t), [{ role: 'user', content: long }], 128, 50, {}, true);
  assert.equal(room, 128 - ids.length);

  const child = spawn(process.execPath, [cliPath, 'chat', tuned, '--temperature', '0'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdin.end(`${long}\n${'长'.repeat(400)}\n《春曉》的作者是谁？\n`);
  const code = await new Promise((resolve) => child.on('close', resolve));
  assert.equal(code, 0, stderr);
  assert.match(stderr, new RegExp(`left room for only ${128 - ids.length} new tokens`));
  assert.match(stderr, /not answered: the last message alone is \d+ tokens/);
  assert.ok(
    stdout
      .trim()
      .split('\n')
      .filter((l) => l.trim() !== '').length >= 2,
    `two replies: ${stdout}`,
  );
});

test('a checkpoint whose tokenizer has no chat template gets one clear sentence', async () => {
  const copy = tempDir('no-template');
  fs.cpSync(tuned, copy, { recursive: true });
  const configFile = path.join(copy, 'tokenizer_config.json');
  const { chat_template: _template, ...rest } = JSON.parse(fs.readFileSync(configFile, 'utf8'));
  fs.writeFileSync(configFile, JSON.stringify(rest));
  const run = await runCli(['chat', copy, '--prompt', '你好']);
  assert.equal(run.code, 1, run.stderr);
  assert.match(run.stderr, /tokenizer_config\.json: has no chat_template/);
});
