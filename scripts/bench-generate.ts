// `npm run bench:generate`: decode speed at batch 1 on the CPU for the reference 108M config (random
// weights), with and without the KV cache, and two peers on the same weights and prompt in the same run:
// PyTorch eager (transformers' LlamaForCausalLM with its KV cache, scripts/bench-generate-torch.py) and
// llama.cpp (node-llama-cpp's prebuilt CPU build, on minilm's GGUF export in f32 and q8_0, the same
// thread count); time to first token for a 256-token prompt. Not a test: prints machine info and a
// Markdown table for BENCHMARKS.md.
//
//   npm run bench:generate                              # PyTorch from /tmp/pyref, or --python PATH
import { spawnSync } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { getLlama } from 'node-llama-cpp';
import { exportCheckpoint, exportHf, Model } from '../ts/index.js';
import { repoRoot } from '../test/support/cli.js';
import { poetryPrompt, writeRandomCheckpoint } from './bench-model.js';

const { values: flags } = parseArgs({
  options: {
    new_tokens: { type: 'string', default: '128' },
    uncached_tokens: { type: 'string', default: '16' },
    prompt_tokens: { type: 'string', default: '256' },
    python: { type: 'string' },
  },
});
const newTokens = Number(flags.new_tokens);
const promptTokens = Number(flags.prompt_tokens);
const root = path.join(repoRoot, 'bench-data', 'generate-bench');
const checkpoint = path.join(root, 'checkpoint');
const hfDir = path.join(root, 'hf');

/** The reference 108M model with litgpt's random init, written as a minilm checkpoint and its HF and GGUF exports. */
async function makeModel(): Promise<void> {
  rmSync(root, { recursive: true, force: true });
  writeRandomCheckpoint(checkpoint, 'pretrain');
  await exportHf(checkpoint, hfDir);
  for (const dtype of ['f32', 'q8_0'] as const) await exportCheckpoint(checkpoint, { format: 'gguf', dtype, outputDir: path.join(root, `gguf-${dtype}`) });
}

/** llama.cpp's greedy decode of `promptIds` on one of the GGUF exports, timed as minilm's stats time it. */
async function llamaCppRun(dtype: 'f32' | 'q8_0', promptIds: number[], maxNewTokens: number) {
  const llama = await getLlama({ gpu: false, build: 'never' });
  const gguf = await llama.loadModel({ modelPath: path.join(root, `gguf-${dtype}`, 'model.gguf') });
  const threads = os.cpus().length; // minilm's rayon pool has one thread per core
  const context = await gguf.createContext({ contextSize: promptIds.length + maxNewTokens + 16, batchSize: promptIds.length, threads });
  try {
    const run = async (tokens: number) => {
      const sequence = context.getSequence();
      const started = performance.now();
      let firstTokenMs = 0;
      let count = 0;
      for await (const _ of sequence.evaluate(promptIds as never, { temperature: 0 })) {
        if (count === 0) firstTokenMs = performance.now() - started;
        if (++count === tokens) break;
      }
      const totalMs = performance.now() - started;
      sequence.dispose();
      return { newTokens: count, firstTokenMs, tokensPerSec: count > 1 ? ((count - 1) * 1000) / (totalMs - firstTokenMs) : 0 };
    };
    await run(4); // warm-up
    return await run(maxNewTokens);
  } finally {
    await context.dispose();
    await gguf.dispose();
  }
}

async function minilmRun(model: Model, prompt: string, maxNewTokens: number, kvCache: boolean) {
  const generation = model.generate(prompt, { maxNewTokens, temperature: 0, kvCache });
  for await (const _ of generation);
  return generation.stats!;
}

await makeModel();
const model = await Model.load(checkpoint);
const prompt = poetryPrompt(model, promptTokens);
await minilmRun(model, prompt.text, 4, true); // warm-up
// An untrained model may emit EOS early: min new tokens is not an option, so report what was generated.
const cached = await minilmRun(model, prompt.text, newTokens, true);
const uncached = await minilmRun(model, prompt.text, Number(flags.uncached_tokens), false);
const llamaF32 = await llamaCppRun('f32', prompt.ids, newTokens);
const llamaQ8 = await llamaCppRun('q8_0', prompt.ids, newTokens);

const python = flags.python ?? process.env.MINILM_TORCH_PYTHON ?? (existsSync('/tmp/pyref/bin/python') ? '/tmp/pyref/bin/python' : null);
let torch: { torch: string; transformers: string; first_token_ms: number; tokens_per_sec: number; new_tokens: number } | null = null;
if (python !== null) {
  const r = spawnSync(
    python,
    [
      path.join(repoRoot, 'scripts/bench-generate-torch.py'),
      '--model',
      hfDir,
      '--prompt_ids',
      JSON.stringify(prompt.ids),
      '--new_tokens',
      String(newTokens),
      '--threads',
      String(os.cpus().length),
    ],
    { encoding: 'utf8' },
  );
  if (r.status === 0) torch = JSON.parse(r.stdout.trim().split('\n').pop()!);
  else console.error(`PyTorch peer failed:\n${r.stderr}`);
}

const params = 108_749_568;
const git = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: repoRoot, encoding: 'utf8' }).stdout.trim();
console.log(
  `\n${os.cpus()[0].model}, ${os.cpus().length} cores; ${new Date().toISOString()}; node ${process.version}; minilm ${git}` +
    (torch ? `; torch ${torch.torch}, transformers ${torch.transformers}` : ''),
);
console.log(
  `reference 108M config (${params.toLocaleString('en-US')} parameters, random weights), float32, batch 1, greedy; prompt ${prompt.ids.length} tokens\n`,
);
console.log('| what | new tokens | time to first token ms | decode tokens/s |');
console.log('|---|---:|---:|---:|');
console.log(`| minilm, KV cache | ${cached.newTokens} | ${cached.firstTokenMs.toFixed(0)} | ${cached.tokensPerSec.toFixed(1)} |`);
console.log(
  `| minilm, no cache (whole prefix per token) | ${uncached.newTokens} | ${uncached.firstTokenMs.toFixed(0)} | ${uncached.tokensPerSec.toFixed(1)} |`,
);
console.log(
  `| llama.cpp f32 (node-llama-cpp, same GGUF weights) | ${llamaF32.newTokens} | ${llamaF32.firstTokenMs.toFixed(0)} | ${llamaF32.tokensPerSec.toFixed(1)} |`,
);
console.log(`| llama.cpp q8_0 | ${llamaQ8.newTokens} | ${llamaQ8.firstTokenMs.toFixed(0)} | ${llamaQ8.tokensPerSec.toFixed(1)} |`);
if (torch)
  console.log(`| PyTorch eager (transformers, KV cache) | ${torch.new_tokens} | ${torch.first_token_ms.toFixed(0)} | ${torch.tokens_per_sec.toFixed(1)} |`);
console.log(
  `\nminilm / llama.cpp f32 decode: ${(cached.tokensPerSec / llamaF32.tokensPerSec).toFixed(2)}x, time to first token ${(cached.firstTokenMs / llamaF32.firstTokenMs).toFixed(2)}x; llama.cpp q8_0 / f32 decode: ${(llamaQ8.tokensPerSec / llamaF32.tokensPerSec).toFixed(2)}x`,
);
if (torch)
  console.log(
    `\nminilm / PyTorch decode: ${(cached.tokensPerSec / torch.tokens_per_sec).toFixed(2)}x; KV cache speedup: ${(cached.tokensPerSec / uncached.tokensPerSec).toFixed(1)}x`,
  );
else console.log('\nPyTorch not found: create a venv with `python3 -m venv /tmp/pyref && /tmp/pyref/bin/pip install torch transformers safetensors`');
