// minilm serve with requests in flight together: eight at once get exactly what each gets alone (greedy
// and seeded sampling) while decoding in shared steps; past --max_batch they wait, past --max_queue they
// get 429 with Retry-After; /health, /metrics and /v1/models answer while generation runs; logprobs are
// the model's own, checked against a full forward pass.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { Model, serve, type ServerHandle } from 'minilm';
import { pretrainedCheckpoint, tunedCheckpoint } from './support/sft.js';

let model: Model;
let server: ServerHandle;
let client: OpenAI;
const ask = (content: string) => [{ role: 'user' as const, content }];
const QUESTIONS = ['写一首题为《春曉》的五言绝句。', '写一首诗。', '静夜思', '写一首题为《登高》的七言律诗。', '春', '月', '山水', '秋风'];

before(async () => {
  model = await Model.load(await tunedCheckpoint());
  server = await serve(model, { port: 0, maxTokens: 48, modelName: 'poet', maxBatch: 8 });
  client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'unused', maxRetries: 0 });
});

after(async () => {
  await server?.close();
});

/** A metric's value from /metrics. */
async function metric(name: string): Promise<number> {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  assert.ok(line, `/metrics has ${name}`);
  return Number(line.split(' ')[1]);
}

test('eight requests at once get exactly what each gets alone, decoded in shared steps', async () => {
  // Half greedy, half sampled with a seed; different prompts, so different lengths and positions.
  const request = (i: number) => ({
    model: 'poet',
    messages: ask(QUESTIONS[i]),
    max_tokens: 24 + i * 3,
    ...(i % 2 === 0 ? { temperature: 0 } : { temperature: 1, seed: 100 + i }),
  });
  const alone: string[] = [];
  for (let i = 0; i < 8; i++) alone.push((await client.chat.completions.create(request(i))).choices[0].message.content ?? '');
  let [stepsBefore, tokensBefore] = [await metric('minilm_decode_steps_total'), await metric('minilm_generated_tokens_total')];
  let [steps, tokens] = [0, 0];
  const count = async () => {
    steps += (await metric('minilm_decode_steps_total')) - stepsBefore;
    tokens += (await metric('minilm_generated_tokens_total')) - tokensBefore;
  };
  const together = await Promise.all(
    QUESTIONS.map(async (_, i) => {
      // Streamed, as chat clients ask.
      let text = '';
      for await (const chunk of await client.chat.completions.create({ ...request(i), stream: true })) text += chunk.choices[0]?.delta?.content ?? '';
      return text;
    }),
  );
  assert.deepEqual(together, alone, 'each request gives what it gives alone');
  await count();
  // Raw continuations run to max_tokens more often than chat replies, which end at the end token.
  const continuation = (i: number) => ({
    model: 'poet',
    prompt: QUESTIONS[i],
    max_tokens: 40,
    ...(i % 2 === 0 ? { temperature: 0 } : { temperature: 1, seed: 200 + i }),
  });
  const aloneText: string[] = [];
  for (let i = 0; i < 8; i++) aloneText.push((await client.completions.create(continuation(i))).choices[0].text);
  [stepsBefore, tokensBefore] = [await metric('minilm_decode_steps_total'), await metric('minilm_generated_tokens_total')];
  const togetherText = await Promise.all(QUESTIONS.map(async (_, i) => (await client.completions.create(continuation(i))).choices[0].text));
  assert.deepEqual(togetherText, aloneText, 'each continuation is what it is alone');
  await count();
  assert.ok(steps < tokens / 3, `${tokens} tokens took ${steps} steps: the requests decoded together`);
});

test('past --max_batch requests wait; past --max_queue they get 429 with Retry-After; /health and /metrics answer meanwhile', async () => {
  // Its own Model (the batch belongs to the model, and this one holds a single sequence): the pretrained
  // one, whose raw continuations of poetry run to max_tokens rather than stopping at the end token.
  const small = await serve(await Model.load(await pretrainedCheckpoint()), { port: 0, maxTokens: 120, maxBatch: 1, maxQueue: 1 });
  const smallClient = new OpenAI({ baseURL: `${small.url}/v1`, apiKey: 'unused', maxRetries: 0 });
  try {
    // Raw continuations of 100 tokens: long enough for the third request to find the queue full.
    const long = { model: 'm', prompt: '春眠不觉晓，处处闻啼鸟。', max_tokens: 100, temperature: 0 };
    const running = smallClient.completions.create(long);
    const waiting = smallClient.completions.create(long);
    let health = { status: '', active: 0, waiting: 0 };
    for (let tries = 0; tries < 200 && health.waiting === 0; tries++) {
      health = await (await fetch(`${small.url}/health`)).json();
      await new Promise((r) => setTimeout(r, 5));
    }
    assert.equal(health.status, 'ok');
    assert.deepEqual([health.active, health.waiting], [1, 1], `one running and one waiting: ${JSON.stringify(health)}`);
    const refused = await fetch(`${small.url}/v1/completions`, { method: 'POST', body: JSON.stringify(long) });
    assert.equal(refused.status, 429);
    assert.ok(Number(refused.headers.get('retry-after')) >= 1, 'Retry-After in whole seconds');
    assert.match((await refused.json()).error.message, /already waiting/);
    const [a, b] = await Promise.all([running, waiting]);
    assert.equal(a.choices[0].text, b.choices[0].text, 'the one that waited was served in turn');
    const metrics = await (await fetch(`${small.url}/metrics`)).text();
    assert.match(metrics, /minilm_requests_total\{status="429"\} 1/);
    assert.match(metrics, /minilm_requests_total\{status="200"\} [2-9]/);
    assert.match(metrics, /# TYPE minilm_time_to_first_token_seconds histogram/);
  } finally {
    await small.close();
  }
});

test('/health and /v1/models answer within 100 ms while eight streams generate', async () => {
  const streams = QUESTIONS.map(async (q) => {
    for await (const _ of await client.chat.completions.create({ model: 'poet', messages: ask(q), max_tokens: 48, temperature: 1, stream: true }));
  });
  await new Promise((r) => setTimeout(r, 30));
  for (const route of ['/health', '/v1/models', '/metrics']) {
    const started = performance.now();
    const response = await fetch(`${server.url}${route}`);
    await response.text();
    const ms = performance.now() - started;
    assert.equal(response.status, 200);
    assert.ok(ms < 100, `${route} took ${ms.toFixed(0)} ms`);
  }
  await Promise.all(streams);
});

test('logprobs are the model log-probabilities: the first equals a full forward pass, greedy picks the top one', async () => {
  const messages = ask(QUESTIONS[0]);
  const completion = await client.chat.completions.create({ model: 'poet', messages, max_tokens: 8, temperature: 0, logprobs: true, top_logprobs: 3 });
  const content = completion.choices[0].logprobs?.content ?? [];
  assert.equal(content.length, completion.usage?.completion_tokens);
  for (const entry of content) {
    assert.equal(entry.top_logprobs.length, 3);
    assert.equal(entry.logprob, entry.top_logprobs[0].logprob, 'greedy takes the most likely token');
    assert.ok(entry.top_logprobs[0].logprob >= entry.top_logprobs[1].logprob && entry.top_logprobs[1].logprob >= entry.top_logprobs[2].logprob);
  }
  // The first token's log-probability from a whole forward pass of the rendered prompt.
  const promptIds = model.tokenizer.encodeText(model.chatTemplate().render(messages, { addGenerationPrompt: true }));
  const logits = [...model.nextTokenLogits(promptIds)].slice(0, model.config.vocab_size);
  const max = Math.max(...logits);
  const logSum = Math.log(logits.reduce((sum, l) => sum + Math.exp(l - max), 0)) + max;
  const best = logits.indexOf(max);
  assert.ok(Math.abs(content[0].logprob - (max - logSum)) < 1e-4, `${content[0].logprob} vs ${max - logSum}`);
  assert.equal(content[0].token, model.tokenizer.decode([best]));

  const raw = await client.completions.create({ model: 'poet', prompt: '春眠不觉晓', max_tokens: 4, temperature: 0, logprobs: 2 });
  const lp = raw.choices[0].logprobs!;
  assert.equal(lp.tokens!.length, raw.usage?.completion_tokens);
  assert.equal(Object.keys(lp.top_logprobs![0]).length <= 2, true);
  assert.ok(lp.token_logprobs!.every((l) => l <= 0));
  await assert.rejects(client.chat.completions.create({ model: 'poet', messages, top_logprobs: 2 }), /top_logprobs needs logprobs: true/);
  await assert.rejects(client.chat.completions.create({ model: 'poet', messages, logprobs: 'yes' as never }), /logprobs must be true or false/);
});

test('n choices share the prompt: the first is what n = 1 gives, the others sample their own way, streamed by index', async () => {
  const request = { model: 'poet', prompt: '春眠不觉晓', max_tokens: 16, temperature: 1, seed: 11 };
  const single = await client.completions.create(request);
  const three = await client.completions.create({ ...request, n: 3 });
  assert.deepEqual(
    three.choices.map((c) => c.index),
    [0, 1, 2],
  );
  assert.equal(three.choices[0].text, single.choices[0].text, 'choice 0 is the n = 1 choice');
  assert.ok(new Set(three.choices.map((c) => c.text)).size > 1, 'the choices differ');
  assert.equal(three.usage?.prompt_tokens, single.usage?.prompt_tokens);
  const streamed = ['', ''];
  for await (const chunk of await client.chat.completions.create({
    model: 'poet',
    messages: ask(QUESTIONS[1]),
    max_tokens: 16,
    temperature: 1,
    seed: 3,
    n: 2,
    stream: true,
  }))
    for (const choice of chunk.choices) streamed[choice.index] += choice.delta.content ?? '';
  const whole = await client.chat.completions.create({ model: 'poet', messages: ask(QUESTIONS[1]), max_tokens: 16, temperature: 1, seed: 3, n: 2 });
  assert.deepEqual(
    streamed,
    whole.choices.map((c) => c.message.content),
  );
  await assert.rejects(client.completions.create({ ...request, n: 9 }), /n is 9, more than this server's --max_batch of 8/);
});

test('a client that leaves while its request waits for the batch leaves the queue, and the server goes on', async () => {
  const small = await serve(await Model.load(await pretrainedCheckpoint()), { port: 0, maxTokens: 100, maxBatch: 1, maxQueue: 4 });
  const smallClient = new OpenAI({ baseURL: `${small.url}/v1`, apiKey: 'unused', maxRetries: 0 });
  try {
    const long = { model: 'm', prompt: '春眠不觉晓，处处闻啼鸟。', max_tokens: 100, temperature: 0 };
    const running = smallClient.completions.create(long);
    // Not streamed, so nothing is sent before its turn; it leaves while it waits.
    const leaving = new AbortController();
    const left = fetch(`${small.url}/v1/completions`, { method: 'POST', body: JSON.stringify(long), signal: leaving.signal }).catch((e: Error) => e.name);
    const health = async () => (await fetch(`${small.url}/health`)).json();
    for (let tries = 0; tries < 200 && (await health()).waiting === 0; tries++) await new Promise((r) => setTimeout(r, 5));
    leaving.abort();
    assert.equal(await left, 'AbortError');
    for (let tries = 0; tries < 200 && (await health()).waiting > 0; tries++) await new Promise((r) => setTimeout(r, 5));
    assert.equal((await health()).waiting, 0, 'it left the queue');
    assert.ok((await running).choices[0].text.length > 0, 'the running request finished');
    const after = await smallClient.completions.create({ ...long, max_tokens: 4 });
    assert.equal(after.usage?.completion_tokens, 4, 'and the server serves the next one');
  } finally {
    await small.close();
  }
});
