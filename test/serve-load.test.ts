// `minilm serve` under load and abuse, as its own process: 32 streaming clients at once (a quarter
// leaving mid-stream, some reading one event a second), clients that send their headers or body too
// slowly, malformed and over-long requests. Afterwards it answers /health within 100 ms, nothing is
// left generating, and its memory is back within 10% of where it started.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import type { ChildProcess } from 'node:child_process';
import { startCli } from './support/cli.js';
import { tunedCheckpoint } from './support/sft.js';

let url = '';
let child: ChildProcess;
let exited: Promise<unknown>;
const QUESTION = [{ role: 'user', content: '写一首题为《春曉》的五言绝句。' }];

before(async () => {
  const checkpoint = await tunedCheckpoint();
  const started = startCli(['serve', checkpoint, '--port', '0', '--max_tokens', '48', '--request_timeout', '2']);
  child = started.child;
  exited = started.done;
  url = await new Promise<string>((resolve, reject) => {
    child.stderr!.on('data', (d: Buffer) => {
      const m = /at (http:\/\/127\.0\.0\.1:\d+)\/v1/.exec(d.toString());
      if (m) resolve(m[1]);
    });
    child.on('close', () => reject(new Error('the server exited')));
  });
});

after(async () => {
  child?.kill('SIGTERM');
  await exited;
});

/** The server's resident memory, in kB. */
function rssKb(): number {
  const line = readFileSync(`/proc/${child.pid}/status`, 'utf8')
    .split('\n')
    .find((l) => l.startsWith('VmRSS:'))!;
  return Number(line.split(/\s+/)[1]);
}

/** A streamed chat request; `leaveAfter` events it disconnects, `eventGapMs` it waits between reads. */
function streamClient(options: { leaveAfter?: number; eventGapMs?: number; maxTokens?: number }): Promise<{ events: number; left: boolean }> {
  const body = JSON.stringify({ messages: QUESTION, max_tokens: options.maxTokens ?? 48, temperature: 1, stream: true });
  return new Promise((resolve, reject) => {
    const request = http.request(`${url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' } }, (response) => {
      assert.equal(response.statusCode, 200);
      let events = 0;
      let buffered = '';
      response.on('data', (d: Buffer) => {
        buffered += d.toString();
        const parts = buffered.split('\n\n');
        buffered = parts.pop()!;
        events += parts.length;
        if (options.leaveAfter !== undefined && events >= options.leaveAfter) {
          request.destroy();
          resolve({ events, left: true });
        } else if (options.eventGapMs) {
          // A slow reader: nothing more is read for a while.
          response.pause();
          setTimeout(() => response.resume(), options.eventGapMs);
        }
      });
      response.on('end', () => resolve({ events, left: false }));
    });
    request.on('error', (error) => (options.leaveAfter !== undefined ? resolve({ events: 0, left: true }) : reject(error)));
    request.end(body);
  });
}

/** Writes `parts` with `gapMs` between them on a raw socket; resolves with what came back and when it closed. */
function slowSend(parts: string[], gapMs: number): Promise<{ reply: string; closedAfterMs: number }> {
  const { port } = new URL(url);
  return new Promise((resolve) => {
    const started = performance.now();
    const socket = net.connect(Number(port), '127.0.0.1');
    let reply = '';
    let timer: NodeJS.Timeout | undefined;
    socket.on('data', (d) => (reply += d.toString()));
    socket.on('error', () => {});
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ reply, closedAfterMs: performance.now() - started });
    });
    const send = (i: number) => {
      if (i >= parts.length || socket.destroyed) return;
      socket.write(parts[i]);
      timer = setTimeout(() => send(i + 1), gapMs);
    };
    send(0);
  });
}

/** 32 streaming clients at once: every fourth leaves after 3 events, every eighth reads one event a second. */
function load(): Promise<Array<{ events: number; left: boolean }>> {
  return Promise.all(
    Array.from({ length: 32 }, (_, i) =>
      i % 4 === 0 ? streamClient({ leaveAfter: 3 }) : i % 8 === 1 ? streamClient({ eventGapMs: 1000, maxTokens: 4 }) : streamClient({}),
    ),
  );
}

test('32 clients at once, a quarter leaving mid-stream and some reading slowly: all served, nothing left running, memory back', async () => {
  // A first round grows the heaps (V8's, the allocator's) to what 32 clients need; the baseline is
  // taken after it. A second round that leaked its KV caches or connections would end above it.
  await load();
  await new Promise((r) => setTimeout(r, 300));
  const baseline = rssKb();
  const results = await load();
  assert.equal(results.filter((r) => r.left).length, 8);
  assert.ok(
    results.filter((r) => !r.left).every((r) => r.events >= 3),
    'every staying client got its reply',
  );
  await new Promise((r) => setTimeout(r, 300));
  const started = performance.now();
  const health = await (await fetch(`${url}/health`)).json();
  assert.ok(performance.now() - started < 100, '/health within 100 ms');
  assert.deepEqual([health.active, health.waiting], [0, 0], 'no generation runs for a client that left');
  const after = rssKb();
  assert.ok(after < baseline * 1.1, `memory ${after} kB after the load, ${baseline} kB before`);
});

test('a client that sends its headers or its body too slowly is cut off after --request_timeout', async () => {
  // One header line a second, never finishing: cut at about 2 s (not Node's default of a minute).
  const headers = Array.from({ length: 30 }, (_, i) => (i === 0 ? 'POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n' : `X-Slow-${i}: 1\r\n`));
  const slowHeaders = await slowSend(headers, 1000);
  assert.ok(slowHeaders.closedAfterMs < 5000, `closed after ${slowHeaders.closedAfterMs.toFixed(0)} ms`);
  // The headers at once, then the body a byte a second.
  const body = JSON.stringify({ messages: QUESTION });
  const head = `POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n`;
  const slowBody = await slowSend([head, ...body.slice(0, 30)], 1000);
  assert.ok(slowBody.closedAfterMs < 5000, `closed after ${slowBody.closedAfterMs.toFixed(0)} ms`);
  assert.match(slowBody.reply, /^HTTP\/1\.1 408/, 'answered 408 Request Timeout');
  const health = await fetch(`${url}/health`);
  assert.equal(health.status, 200);
});

test('malformed JSON and an over-long prompt get 400 with the reason; an oversized body 413', async () => {
  const post = (body: string) => fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
  const malformed = await post('{"messages": [');
  assert.equal(malformed.status, 400);
  assert.match((await malformed.json()).error.message, /not valid JSON/);
  const long = await post(JSON.stringify({ messages: [{ role: 'user', content: '春'.repeat(5000) }], max_tokens: 8 }));
  assert.equal(long.status, 400);
  assert.match((await long.json()).error.message, /block_size/);
  const huge = await post(JSON.stringify({ messages: [{ role: 'user', content: 'x'.repeat(2 << 20) }] }));
  assert.equal(huge.status, 413);
  assert.match((await huge.json()).error.message, /--max_body_bytes/);
});
