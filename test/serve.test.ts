// minilm serve as clients use it: the official openai npm client (streaming and not), plain HTTP, several
// clients at once, one that disconnects mid-stream, errors in OpenAI's JSON, an API key, and a clean stop.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import OpenAI from 'openai';
import { Model, serve, type ServerHandle } from 'minilm';
import { startCli } from './support/cli.js';
import { tunedCheckpoint } from './support/sft.js';
import { slowTokens } from './support/slow-model.js';

let checkpoint = '';
let server: ServerHandle;
let client: OpenAI;
const QUESTION = [{ role: 'user' as const, content: '写一首题为《春曉》的五言绝句。' }];

before(async () => {
  checkpoint = await tunedCheckpoint();
  server = await serve(await Model.load(checkpoint), { port: 0, maxTokens: 64, modelName: 'poet' });
  client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'unused', maxRetries: 0 });
});

after(async () => {
  await server?.close();
});

test('chat completions, not streamed: the reply, finish_reason and usage', async () => {
  const completion = await client.chat.completions.create({ model: 'poet', messages: QUESTION, max_tokens: 40, temperature: 0, seed: 1 });
  assert.equal(completion.object, 'chat.completion');
  assert.equal(completion.model, 'poet');
  const choice = completion.choices[0];
  assert.equal(choice.message.role, 'assistant');
  assert.ok(choice.message.content && choice.message.content.length > 0);
  assert.ok(['stop', 'length'].includes(choice.finish_reason));
  assert.ok(
    completion.usage &&
      completion.usage.prompt_tokens > 5 &&
      completion.usage.total_tokens === completion.usage.prompt_tokens + completion.usage.completion_tokens,
  );
  const again = await client.chat.completions.create({ model: 'poet', messages: QUESTION, max_tokens: 40, temperature: 0, seed: 1 });
  assert.equal(again.choices[0].message.content, choice.message.content, 'the same seed gives the same reply');
});

test('chat completions, streamed: chunks that add up to the unstreamed reply, then usage', async () => {
  const whole = await client.chat.completions.create({ model: 'poet', messages: QUESTION, max_tokens: 40, temperature: 0, seed: 2 });
  const stream = await client.chat.completions.create({
    model: 'poet',
    messages: QUESTION,
    max_tokens: 40,
    temperature: 0,
    seed: 2,
    stream: true,
    stream_options: { include_usage: true },
  });
  let text = '';
  let finish: string | null = null;
  let usage: OpenAI.CompletionUsage | undefined;
  let chunks = 0;
  for await (const chunk of stream) {
    chunks += 1;
    assert.equal(chunk.object, 'chat.completion.chunk');
    text += chunk.choices[0]?.delta?.content ?? '';
    finish = chunk.choices[0]?.finish_reason ?? finish;
    usage = chunk.usage ?? usage;
  }
  assert.ok(chunks > 3, `${chunks} chunks`);
  assert.equal(text, whole.choices[0].message.content);
  assert.equal(finish, whole.choices[0].finish_reason);
  assert.deepEqual(usage, whole.usage);
});

test('completions and models, and errors in OpenAI JSON with their status', async () => {
  const completion = await client.completions.create({ model: 'poet', prompt: '床前明月光', max_tokens: 10, temperature: 0 });
  assert.equal(completion.object, 'text_completion');
  assert.ok(completion.choices[0].text.length > 0);
  const models = await client.models.list();
  assert.deepEqual(
    models.data.map((m) => m.id),
    ['poet'],
  );
  await assert.rejects(client.chat.completions.create({ model: 'poet', messages: QUESTION, temperature: 5 }), (e: unknown) => {
    assert.ok(e instanceof OpenAI.BadRequestError);
    assert.match(e.message, /temperature must be a number from 0 to 2/);
    return true;
  });
  await assert.rejects(client.chat.completions.create({ model: 'poet', messages: QUESTION, max_tokens: 10000 }), /over this server's limit of 64/);
  const raw = await post('/v1/chat/completions', '{not json');
  assert.equal(raw.status, 400);
  assert.equal(JSON.parse(raw.body).error.type, 'invalid_request_error');
  const missing = await post('/v1/nothing', '{}');
  assert.equal(missing.status, 404);
  const huge = await post('/v1/chat/completions', JSON.stringify({ messages: [{ role: 'user', content: 'x'.repeat(2 << 20) }] }));
  assert.equal(huge.status, 413);
  assert.match(JSON.parse(huge.body).error.message, /over this server's limit of 1048576 bytes/);
  // A base URL that ends in / makes `/v1//models` (Open WebUI does): the same route.
  const doubled = await fetch(`${server.url}/v1//models`);
  assert.equal(doubled.status, 200);
  assert.equal((await doubled.json()).data[0].id, 'poet');
});

test('several clients at once each get their own reply', async () => {
  const ask = (seed: number) => client.chat.completions.create({ model: 'poet', messages: QUESTION, max_tokens: 30, temperature: 1, seed });
  const alone = [await ask(3), await ask(4), await ask(5)];
  const together = await Promise.all([ask(3), ask(4), ask(5)]);
  assert.deepEqual(
    together.map((r) => r.choices[0].message.content),
    alone.map((r) => r.choices[0].message.content),
    'concurrent requests give what each gives alone',
  );
});

test('a client that disconnects mid-stream stops its generation', async () => {
  // A model whose tokens come slowly (20 ms each), so that the client leaves in the middle.
  const model = slowTokens(await Model.load(checkpoint), 20);
  const logs: string[] = [];
  const slow = await serve(model, { port: 0, maxTokens: 64, onLog: (line) => logs.push(line) });
  try {
    await new Promise<void>((resolve, reject) => {
      const body = JSON.stringify({ messages: QUESTION, max_tokens: 64, stream: true, temperature: 1, seed: 9 });
      const request = http.request(`${slow.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' } }, (response) => {
        let chunks = 0;
        response.on('data', () => {
          if (++chunks === 3) {
            request.destroy();
            resolve();
          }
        });
        response.on('end', () => reject(new Error('the reply ended before the client left')));
      });
      request.on('error', () => {});
      request.end(body);
    });
    for (let i = 0; i < 100 && !logs.some((l) => l.includes('disconnected')); i++) await new Promise((r) => setTimeout(r, 20));
    const line = logs.find((l) => l.includes('disconnected')) ?? '';
    const stoppedAfter = Number(/after (\d+) tokens/.exec(line)?.[1]);
    assert.ok(stoppedAfter >= 2 && stoppedAfter < 64, `log: ${logs.join(' | ')}`);
    // The server goes on serving.
    const next = await new OpenAI({ baseURL: `${slow.url}/v1`, apiKey: 'x', maxRetries: 0 }).models.list();
    assert.equal(next.data.length, 1);
  } finally {
    await slow.close();
  }
});

test('without max_tokens a reply gets the room the context leaves; a conversation that cannot fit is a 400 even when streamed', async () => {
  // The server's cap (200) is above what block_size 128 leaves after the prompt: the reply still runs.
  const roomy = await serve(await Model.load(checkpoint), { port: 0, maxTokens: 200 });
  try {
    const roomyClient = new OpenAI({ baseURL: `${roomy.url}/v1`, apiKey: 'x', maxRetries: 0 });
    const reply = await roomyClient.chat.completions.create({ model: 'x', messages: QUESTION, temperature: 0 });
    assert.ok(reply.usage!.total_tokens <= 128, JSON.stringify(reply.usage));
    const long = [{ role: 'user' as const, content: '长'.repeat(300) }];
    await assert.rejects(roomyClient.chat.completions.create({ model: 'x', messages: long, max_tokens: 20, stream: true }), (e: unknown) => {
      assert.ok(e instanceof OpenAI.BadRequestError, String(e));
      assert.match(e.message, /does not fit the model's block_size of 128/);
      return true;
    });
  } finally {
    await roomy.close();
  }
});

test('an API key is required as a Bearer token when set', async () => {
  const guarded = await serve(await Model.load(checkpoint), { port: 0, apiKey: 'secret' });
  try {
    const wrong = new OpenAI({ baseURL: `${guarded.url}/v1`, apiKey: 'nope', maxRetries: 0 });
    await assert.rejects(wrong.models.list(), (e: unknown) => e instanceof OpenAI.AuthenticationError);
    const right = new OpenAI({ baseURL: `${guarded.url}/v1`, apiKey: 'secret', maxRetries: 0 });
    assert.equal((await right.models.list()).data.length, 1);
  } finally {
    await guarded.close();
  }
});

test('minilm serve listens on 127.0.0.1 and SIGTERM finishes the request in hand, then exits', async () => {
  const { child, done } = startCli(['serve', checkpoint, '--port', '0']);
  const url = await new Promise<string>((resolve, reject) => {
    child.stderr!.on('data', (d: Buffer) => {
      const m = /at (http:\/\/127\.0\.0\.1:\d+)\/v1/.exec(d.toString());
      if (m) resolve(m[1]);
    });
    child.on('close', () => reject(new Error('the server exited')));
  });
  const cli = new OpenAI({ baseURL: `${url}/v1`, apiKey: 'x', maxRetries: 0 });
  const stream = await cli.chat.completions.create({ model: 'x', messages: QUESTION, max_tokens: 40, stream: true });
  const chunks = stream[Symbol.asyncIterator]();
  // Its first piece has arrived: the request is in hand when the signal comes.
  let chunk = await chunks.next();
  child.kill('SIGTERM');
  let finishReason: string | null = null;
  for (; !chunk.done; chunk = await chunks.next()) finishReason = chunk.value.choices[0]?.finish_reason ?? finishReason;
  assert.ok(finishReason === 'stop' || finishReason === 'length', `the reply was finished, not cut (finish_reason ${finishReason})`);
  const exit = await done;
  assert.equal(exit.code, 0, exit.stderr);
  assert.match(exit.stderr, /SIGTERM: finishing the requests in hand/);
});

function post(route: string, body: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const request = http.request(`${server.url}${route}`, { method: 'POST', headers: { 'content-type': 'application/json' } }, (response) => {
      let text = '';
      response.on('data', (d: Buffer) => (text += d.toString()));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body: text }));
    });
    request.on('error', reject); // a reset connection fails the test: a refused body gets its answer
    request.end(body);
  });
}
