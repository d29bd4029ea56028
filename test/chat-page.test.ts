// The chat page at GET / in a real headless Chromium (Debian's package, driven by playwright-core):
// a message gets a streamed reply, Stop ends one mid-stream, the conversation survives a reload, and a
// server with an API key makes the page ask for it.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';
import { Model, serve, type ServerHandle } from 'minilm';
import { pretrainedCheckpoint, tunedCheckpoint } from './support/sft.js';
import { slowTokens } from './support/slow-model.js';

const executablePath = process.env.MINILM_CHROMIUM ?? ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'].find(existsSync);
const skip = executablePath === undefined ? 'no Chromium found: apt install chromium, or set MINILM_CHROMIUM to a Chrome binary' : false;
let browser: Browser;
let checkpoint = '';

before(async () => {
  if (skip) return;
  checkpoint = await tunedCheckpoint();
  browser = await chromium.launch({ executablePath, args: ['--no-sandbox'] });
});

after(async () => {
  await browser?.close();
});

test('the page streams a reply, stops one mid-stream and keeps the conversation across a reload', { skip }, async () => {
  const logs: string[] = [];
  const server: ServerHandle = await serve(slowTokens(await Model.load(checkpoint), 30, { temperature: 1, seed: 7 }), {
    port: 0,
    maxTokens: 64,
    modelName: 'poet',
    onLog: (l) => logs.push(l),
  });
  const page = await browser.newPage();
  try {
    const served = await page.goto(`${server.url}/`);
    assert.equal(served?.headers()['content-type'], 'text/html; charset=utf-8');
    await page.waitForFunction(() => document.getElementById('model')?.textContent === 'poet');

    await page.fill('#input', '写一首题为《春曉》的五言绝句。');
    await page.press('#input', 'Enter');
    // Streaming: the reply grows while the Stop button is shown, then the Send button comes back.
    await page.waitForFunction(() => (document.querySelector('.assistant')?.textContent ?? '').length > 0 && !document.getElementById('stop')!.hidden);
    await page.waitForFunction(() => !document.getElementById('send')!.hidden, undefined, { timeout: 30_000 });
    const reply = await page.textContent('.assistant');
    assert.ok(reply && reply.length > 0, 'a reply appeared');

    // A second message, stopped after its first pieces.
    await page.fill('#input', '再写一首。');
    await page.press('#input', 'Enter');
    await page.waitForFunction(() => (document.querySelectorAll('.assistant')[1]?.textContent ?? '').length > 0);
    await page.click('#stop');
    await page.waitForFunction(() => document.querySelectorAll('.assistant')[1]?.textContent?.includes('(stopped)'));
    for (let i = 0; i < 50 && !logs.some((l) => l.includes('disconnected')); i++) await new Promise((r) => setTimeout(r, 20));
    assert.ok(
      logs.some((l) => l.includes('the client disconnected')),
      `the server stopped generating: ${logs.join(' | ')}`,
    );

    await page.reload();
    await page.waitForSelector('.assistant');
    const messages = await page.$$eval('.message', (nodes) => nodes.map((n) => n.className.replace('message ', '')));
    assert.deepEqual(messages, ['user', 'assistant', 'user', 'assistant'], 'the conversation came back from localStorage');
    await page.click('#new-chat');
    assert.equal(await page.$$eval('.message', (nodes) => nodes.length), 0);
  } finally {
    await page.close();
    await server.close();
  }
});

test('a server with an API key makes the page ask for it once', { skip }, async () => {
  const server = await serve(await Model.load(checkpoint), { port: 0, maxTokens: 32, modelName: 'locked', apiKey: 'sesame' });
  const page = await browser.newPage();
  const asked: string[] = [];
  page.on('dialog', (dialog) => {
    asked.push(dialog.message());
    void dialog.accept('sesame');
  });
  try {
    await page.goto(`${server.url}/`);
    await page.waitForFunction(() => document.getElementById('model')?.textContent === 'locked');
    assert.equal(asked.length, 1);
    assert.match(asked[0], /API key/);
    await page.fill('#input', '春');
    await page.press('#input', 'Enter');
    await page.waitForFunction(() => !document.getElementById('send')!.hidden && document.querySelectorAll('.message').length === 2, undefined, {
      timeout: 30_000,
    });
    assert.equal(await page.$$eval('.error', (nodes) => nodes.length), 0, 'no error shown');
    assert.equal(asked.length, 1, 'the key was kept');
  } finally {
    await page.close();
    await server.close();
  }
});

test('a busy server (429) gets an honest sentence on the page, with its Retry-After', { skip }, async () => {
  // One sequence at a time and no queue: the page's conversation is refused while a raw continuation of
  // 100 slow tokens runs (the pretrained model's, which does not stop early at the end token).
  const model = slowTokens(await Model.load(await pretrainedCheckpoint()), 30);
  const server = await serve(model, { port: 0, maxTokens: 100, maxBatch: 1, maxQueue: 0 });
  const page = await browser.newPage();
  const busy = new AbortController();
  try {
    const first = await fetch(`${server.url}/v1/completions`, {
      method: 'POST',
      body: JSON.stringify({ prompt: '春眠不觉晓', max_tokens: 100, temperature: 1, seed: 3, stream: true }),
      signal: busy.signal,
    });
    assert.equal(first.status, 200);
    await page.goto(`${server.url}/`);
    await page.fill('#input', '春');
    await page.press('#input', 'Enter');
    await page.waitForSelector('.error');
    assert.match((await page.textContent('.error')) ?? '', /The server is busy: .*\(retry after \d+ s\)/);
    assert.equal(await page.$$eval('.user', (nodes) => nodes.length), 0, 'the refused message is not kept as sent');
    assert.equal(await page.inputValue('#input'), '春', 'it is back in the box, to send again');
  } finally {
    busy.abort();
    await page.close();
    await server.close();
  }
});
