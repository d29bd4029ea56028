// `npm run bench:serve`: what continuous batching gives `minilm serve` on the CPU. Eight streaming
// chat requests through the official OpenAI client, first one after another, then all at once, on the
// reference 108M config and on the quickstart config (random weights: speed does not depend on what
// they learned). For each: aggregate tokens/s, time to first token (p50, p95) and the time between
// streamed tokens (p50). The peer, on the 108M model's GGUF export: llama.cpp (node-llama-cpp's
// prebuilt CPU build) with eight parallel sequences in one context, one after another and all at once.
// Not a test: prints machine info and Markdown tables for BENCHMARKS.md.
//
//   npm run bench:serve [-- --clients 8 --new_tokens 64 --prompt_tokens 48]
import { spawnSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { getLlama } from 'node-llama-cpp';
import OpenAI from 'openai';
import { exportCheckpoint, Model, serve } from '../ts/index.js';
import { repoRoot } from '../test/support/cli.js';
import { poetryPrompt, writeRandomCheckpoint } from './bench-model.js';

const { values: flags } = parseArgs({
  options: {
    clients: { type: 'string', default: '8' },
    new_tokens: { type: 'string', default: '64' },
    prompt_tokens: { type: 'string', default: '48' },
  },
});
const clients = Number(flags.clients);
const newTokens = Number(flags.new_tokens);
const promptTokens = Number(flags.prompt_tokens);
const root = path.join(repoRoot, 'bench-data', 'serve-bench');

interface RequestTiming {
  tokens: number;
  firstTokenMs: number;
  /** Gaps between streamed chunks after the first. */
  gapsMs: number[];
}

interface Row {
  what: string;
  tokens: number;
  seconds: number;
  timings: RequestTiming[];
}

const percentile = (values: number[], p: number) => {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
};

/** One streamed completion (raw text continuation of a poetry prompt, greedy), timed chunk by chunk. */
async function streamed(client: OpenAI, prompt: string): Promise<RequestTiming> {
  const started = performance.now();
  const stream = await client.completions.create({
    model: 'bench',
    prompt,
    max_tokens: newTokens,
    temperature: 0,
    stream: true,
    stream_options: { include_usage: true },
  });
  let last = 0;
  let firstTokenMs = 0;
  let tokens = 0;
  const gapsMs: number[] = [];
  for await (const chunk of stream) {
    if (chunk.usage) tokens = chunk.usage.completion_tokens;
    if (!chunk.choices[0]?.text) continue;
    const now = performance.now();
    if (last === 0) firstTokenMs = now - started;
    else gapsMs.push(now - last);
    last = now;
  }
  return { tokens, firstTokenMs, gapsMs };
}

async function timed(what: string, run: () => Promise<RequestTiming[]>): Promise<Row> {
  const started = performance.now();
  const timings = await run();
  return { what, seconds: (performance.now() - started) / 1000, tokens: timings.reduce((sum, t) => sum + t.tokens, 0), timings };
}

/** minilm serve on `config`'s model: the clients one after another, then together. */
async function minilmRows(config: string): Promise<Row[]> {
  const checkpoint = path.join(root, config);
  writeRandomCheckpoint(checkpoint, config);
  const model = await Model.load(checkpoint);
  const prompts = Array.from({ length: clients }, (_, i) => poetryPrompt(model, promptTokens, i * 7).text);
  const server = await serve(model, { port: 0, maxBatch: clients, maxTokens: newTokens, modelName: 'bench' });
  const client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'none', maxRetries: 0 });
  try {
    await streamed(client, prompts[0]); // warm-up
    const oneByOne = await timed(`${config}: ${clients} requests one after another`, async () => {
      const out: RequestTiming[] = [];
      for (const prompt of prompts) out.push(await streamed(client, prompt));
      return out;
    });
    const together = await timed(`${config}: ${clients} requests at once`, () => Promise.all(prompts.map((p) => streamed(client, p))));
    return [oneByOne, together];
  } finally {
    await server.close();
  }
}

/** llama.cpp on the 108M model's f32 GGUF: `clients` sequences of one context, one after another, then together. */
async function llamaCppRows(): Promise<Row[]> {
  const checkpoint = path.join(root, 'pretrain');
  const model = await Model.load(checkpoint);
  const prompts = Array.from({ length: clients }, (_, i) => poetryPrompt(model, promptTokens, i * 7).ids);
  const ggufDir = path.join(root, 'gguf');
  await exportCheckpoint(checkpoint, { format: 'gguf', dtype: 'f32', outputDir: ggufDir, force: true });
  const llama = await getLlama({ gpu: false, build: 'never' });
  const gguf = await llama.loadModel({ modelPath: path.join(ggufDir, 'model.gguf') });
  const context = await gguf.createContext({ contextSize: clients * (promptTokens + newTokens + 16), sequences: clients, threads: os.cpus().length });
  const run = async (ids: number[]): Promise<RequestTiming> => {
    const sequence = context.getSequence();
    const started = performance.now();
    let last = 0;
    let firstTokenMs = 0;
    let tokens = 0;
    const gapsMs: number[] = [];
    for await (const _ of sequence.evaluate(ids as never, { temperature: 0 })) {
      const now = performance.now();
      if (last === 0) firstTokenMs = now - started;
      else gapsMs.push(now - last);
      last = now;
      if (++tokens === newTokens) break;
    }
    sequence.dispose();
    return { tokens, firstTokenMs, gapsMs };
  };
  try {
    await run(prompts[0]); // warm-up
    const oneByOne = await timed(`llama.cpp f32, pretrain: ${clients} sequences one after another`, async () => {
      const out: RequestTiming[] = [];
      for (const ids of prompts) out.push(await run(ids));
      return out;
    });
    const together = await timed(`llama.cpp f32, pretrain: ${clients} sequences at once`, () => Promise.all(prompts.map(run)));
    return [oneByOne, together];
  } finally {
    await context.dispose();
    await gguf.dispose();
  }
}

const rows = [...(await minilmRows('pretrain')), ...(await minilmRows('quickstart')), ...(await llamaCppRows())];
const git = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: repoRoot, encoding: 'utf8' }).stdout.trim();
console.log(`\n${os.cpus()[0].model}, ${os.cpus().length} cores; ${new Date().toISOString()}; node ${process.version}; minilm ${git}`);
console.log(`float32, greedy, prompts of ${promptTokens} tokens, up to ${newTokens} new tokens each, streamed\n`);
console.log('| what | tokens | aggregate tokens/s | time to first token p50 / p95 ms | between tokens p50 ms |');
console.log('|---|---:|---:|---:|---:|');
for (const row of rows) {
  const first = row.timings.map((t) => t.firstTokenMs);
  const gaps = row.timings.flatMap((t) => t.gapsMs);
  console.log(
    `| ${row.what} | ${row.tokens} | ${(row.tokens / row.seconds).toFixed(1)} | ${percentile(first, 50).toFixed(0)} / ${percentile(first, 95).toFixed(0)} | ${percentile(gaps, 50).toFixed(1)} |`,
  );
}
console.log('');
for (let i = 0; i < rows.length; i += 2) {
  const speedup = rows[i + 1].tokens / rows[i + 1].seconds / (rows[i].tokens / rows[i].seconds);
  console.log(`${rows[i + 1].what.split(':')[0]}: all at once / one after another = ${speedup.toFixed(2)}x aggregate tokens/s`);
}
