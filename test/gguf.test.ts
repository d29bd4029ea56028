// `minilm export --format gguf`, proven in llama.cpp itself (node-llama-cpp's prebuilt binaries): the
// file's keys and tensors read back by node-llama-cpp's own GGUF reader, llama.cpp's tokenizer against HF
// tokenizers on real text, and llama.cpp's greedy continuations against minilm's, in f32 and q8_0.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { getLlama, type Llama, LlamaChatSession, readGgufFileInfo } from 'node-llama-cpp';
import YAML from 'yaml';
import { ChatTemplate, exportCheckpoint, Model, Tokenizer } from '../ts/index.js';
import { ollamaModelfile } from '../ts/model/modelfile.js';
import { poems } from '../ts/data/sample-corpus.js';
import { tempDir } from './support/files.js';
import { pretrainedCheckpoint, tunedCheckpoint } from './support/sft.js';
import { minimind3Tokenizer, minimindTokenizer, repoRoot, runCli } from './support/cli.js';
import { brownParagraphs } from './support/corpus.js';

let llamaCpp: Promise<Llama> | null = null;
/** llama.cpp on the CPU, from node-llama-cpp's prebuilt binaries (never compiled here). */
function llama(): Promise<Llama> {
  llamaCpp ??= getLlama({ gpu: false, build: 'never', logLevel: 'error' as never });
  return llamaCpp;
}

const PROMPTS = ['床前明月光', '白日依山尽，', '春眠不觉晓'];
const NEW_TOKENS = 32;

/** The greedy continuation of each prompt in llama.cpp, `NEW_TOKENS` ids each. */
async function llamaCppGreedy(modelPath: string, prompts: number[][]): Promise<number[][]> {
  const model = await (await llama()).loadModel({ modelPath });
  // One thread: on a 2-core machine llama.cpp's spinning threads contend with node's (8 s vs 18 ms here).
  const context = await model.createContext({ contextSize: 128, sequences: 1, threads: 1 });
  try {
    const out: number[][] = [];
    for (const prompt of prompts) {
      const sequence = context.getSequence();
      const ids: number[] = [];
      for await (const id of sequence.evaluate(prompt as never, { temperature: 0 })) {
        ids.push(Number(id));
        if (ids.length === NEW_TOKENS) break;
      }
      out.push(ids);
      sequence.dispose();
    }
    return out;
  } finally {
    await context.dispose();
    await model.dispose();
  }
}

/** minilm's own greedy continuation (what `minilm generate --temperature 0` prints), up to its end token. */
async function minilmGreedy(checkpoint: string, prompts: number[][]): Promise<number[][]> {
  const model = await Model.load(checkpoint);
  const out: number[][] = [];
  for (const prompt of prompts) {
    const generation = model.generateIds(prompt, { maxNewTokens: NEW_TOKENS, temperature: 0 });
    for await (const _ of generation) {
      /* drain */
    }
    out.push(generation.ids);
  }
  return out;
}

test("the f32 GGUF has llama.cpp's keys and tensors, and llama.cpp tokenizes and continues text as minilm does", async () => {
  const checkpoint = await pretrainedCheckpoint();
  const out = tempDir('gguf-f32');
  const summary = await exportCheckpoint(checkpoint, { format: 'gguf', dtype: 'f32', outputDir: out });
  const file = path.join(out, 'model.gguf');
  assert.deepEqual(fs.readdirSync(out).sort(), ['Modelfile', 'model.gguf']);
  assert.deepEqual(summary.files, ['model.gguf', 'Modelfile']);

  // Read back by node-llama-cpp's GGUF reader, written independently of candle's writer.
  const info = await readGgufFileInfo(file, { readTensorInfo: true });
  assert.equal(info.version, 3);
  const meta = info.metadata as Record<string, any>;
  const config = YAML.parse(fs.readFileSync(path.join(checkpoint, 'model_config.yaml'), 'utf8'));
  assert.equal(meta.general.architecture, 'llama');
  assert.deepEqual(
    {
      context: meta.llama.context_length,
      embedding: meta.llama.embedding_length,
      blocks: meta.llama.block_count,
      ffn: meta.llama.feed_forward_length,
      heads: meta.llama.attention.head_count,
      kv: meta.llama.attention.head_count_kv,
      rope: meta.llama.rope.dimension_count,
    },
    {
      context: config.block_size,
      embedding: config.n_embd,
      blocks: config.n_layer,
      ffn: config.intermediate_size,
      heads: config.n_head,
      kv: config.n_query_groups,
      rope: config.head_size,
    },
  );
  assert.equal(meta.tokenizer.ggml.model, 'gpt2');
  assert.equal(meta.tokenizer.ggml.pre, 'gpt-2');
  assert.equal(meta.tokenizer.ggml.tokens.length, config.padded_vocab_size);
  assert.equal(meta.tokenizer.chat_template, JSON.parse(fs.readFileSync(path.join(minimindTokenizer, 'tokenizer_config.json'), 'utf8')).chat_template);
  const tensors = new Map(info.tensorInfo!.map((t) => [t.name, t]));
  assert.equal(tensors.size, 2 + 9 * config.n_layer, 'token_embd, output_norm and 9 per block; no output: the head is tied');
  assert.deepEqual(tensors.get('blk.0.attn_k.weight')!.dimensions.map(Number), [config.n_embd, config.n_query_groups * config.head_size]);
  assert.equal(tensors.get('blk.0.attn_norm.weight')!.ggmlType, 0, 'norms in f32');

  // llama.cpp's tokenizer against HF tokenizers, document by document.
  const hf = Tokenizer.fromDir(checkpoint);
  const model = await (await llama()).loadModel({ modelPath: file });
  const documents = [
    ...poems(60),
    ...brownParagraphs(60),
    'Call 555-0123 or +1 (800) 42.5%, 1234567890 and 3.14159',
    'emoji 😀👍🏽 and mixed 中文English混合 text, Ελληνικά, русский',
    '  leading spaces, tabs\tand\nnewlines\n\n',
    '“quotes”, ‘apostrophes’ — dashes… and ¿punctuation?',
  ];
  for (const text of documents) {
    assert.deepEqual(model.tokenize(text).map(Number), hf.encodeText(text), `tokenizing ${JSON.stringify(text.slice(0, 40))}`);
  }
  await model.dispose();

  // Greedy continuations: llama.cpp on the GGUF against minilm on the checkpoint.
  const prompts = PROMPTS.map((p) => hf.encode(p));
  const theirs = await llamaCppGreedy(file, prompts);
  const ours = await minilmGreedy(checkpoint, prompts);
  for (const [i, prompt] of PROMPTS.entries()) {
    assert.ok(ours[i].length >= 8, `minilm's continuation of ${prompt} is ${ours[i].length} tokens`);
    assert.deepEqual(theirs[i].slice(0, ours[i].length), ours[i], `the greedy continuation of ${prompt}`);
  }

  // The first position's next-token distribution: llama.cpp's probabilities (with no sampling option
  // applied) against the softmax of minilm's logits, for the 20 likeliest tokens of each prompt.
  const minilm = await Model.load(checkpoint);
  const gguf = await (await llama()).loadModel({ modelPath: file });
  const context = await gguf.createContext({ contextSize: 128, threads: 1 });
  let worst = 0;
  for (const prompt of prompts) {
    const logits = Array.from(minilm.nextTokenLogits(prompt)).slice(0, config.vocab_size);
    const max = Math.max(...logits);
    const sum = logits.reduce((a, l) => a + Math.exp(l - max), 0);
    const sequence = context.getSequence();
    const first = await sequence.evaluateWithMetadata(prompt as never, { probabilities: true }, { temperature: 1, topK: 0, topP: 1, minP: 0 }).next();
    const probabilities = (first.value as { probabilities: Map<number, number> }).probabilities;
    for (const [id, p] of [...probabilities.entries()].slice(0, 20)) {
      worst = Math.max(worst, Math.abs(p - Math.exp(logits[id] - max) / sum) / p);
    }
    sequence.dispose();
  }
  await context.dispose();
  await gguf.dispose();
  process.stdout.write(`# first-position probabilities, llama.cpp vs minilm: worst relative difference ${worst.toExponential(2)}\n`);
  assert.ok(worst < 1e-3, `worst relative difference ${worst}`);

  // q8_0: the same continuations for most prompts.
  const q8 = tempDir('gguf-q8');
  await exportCheckpoint(checkpoint, { format: 'gguf', dtype: 'q8_0', outputDir: q8 });
  const q8Info = await readGgufFileInfo(path.join(q8, 'model.gguf'), { readTensorInfo: true });
  assert.equal(q8Info.tensorInfo!.find((t) => t.name === 'blk.0.ffn_up.weight')!.ggmlType, 8, 'q8_0');
  const quantized = await llamaCppGreedy(path.join(q8, 'model.gguf'), prompts);
  const same = quantized.filter((ids, i) => ids.slice(0, ours[i].length).join() === ours[i].join()).length;
  process.stdout.write(`# q8_0: ${same} of ${PROMPTS.length} greedy continuations equal f32's\n`);
  assert.ok(same >= 2, `q8_0 matched ${same} of ${PROMPTS.length}`);
});

test('export refuses an existing file unless --force, an unknown dtype, and a tokenizer llama.cpp would split differently', async () => {
  const checkpoint = await pretrainedCheckpoint();
  const out = tempDir('gguf-refuse');
  await exportCheckpoint(checkpoint, { format: 'gguf', outputDir: out });
  const again = await runCli(['export', checkpoint, '--format', 'gguf', '--output_dir', out]);
  assert.notEqual(again.code, 0);
  assert.match(again.stderr, /model\.gguf: exists; pass --force/);
  const forced = await runCli(['export', checkpoint, '--format', 'gguf', '--output_dir', out, '--force', '--dtype', 'f16']);
  assert.equal(forced.code, 0, forced.stderr);
  const dtype = await runCli(['export', checkpoint, '--format', 'gguf', '--output_dir', out, '--dtype', 'q4']);
  assert.notEqual(dtype.code, 0);
  assert.match(dtype.stderr, /q4/);

  // A Metaspace (sentencepiece-style) pre-tokenizer has no gpt2 equivalent: refused, nothing written.
  const tokenizer = tempDir('gguf-metaspace-tokenizer');
  const json = JSON.parse(fs.readFileSync(path.join(checkpoint, 'tokenizer.json'), 'utf8'));
  json.pre_tokenizer = { type: 'Metaspace', replacement: '▁', prepend_scheme: 'always', split: true };
  fs.writeFileSync(path.join(tokenizer, 'tokenizer.json'), JSON.stringify(json));
  fs.copyFileSync(path.join(checkpoint, 'tokenizer_config.json'), path.join(tokenizer, 'tokenizer_config.json'));
  const target = tempDir('gguf-metaspace');
  await assert.rejects(
    exportCheckpoint(checkpoint, { format: 'gguf', outputDir: target, tokenizerDir: tokenizer }),
    /pre-tokenizer llama\.cpp has no equivalent/,
  );
  assert.deepEqual(fs.readdirSync(target), [], 'no half-written file');
});

test("Ollama's TEMPLATE is derived for minimind's, ChatML's and minilm's own chat templates", () => {
  // minilm tokenizer train's template (tokenizer_training.rs CHAT_TEMPLATE), in a copy of the reference tokenizer.
  const own = tempDir('modelfile-own-template');
  for (const name of ['tokenizer.json', 'tokenizer_config.json']) fs.copyFileSync(path.join(minimindTokenizer, name), path.join(own, name));
  const config = JSON.parse(fs.readFileSync(path.join(own, 'tokenizer_config.json'), 'utf8'));
  config.chat_template =
    "{% for message in messages %}{{ bos_token + message['role'] + '\\n' + message['content'] + eos_token + '\\n' }}{% endfor %}{% if add_generation_prompt %}{{ bos_token + 'assistant\\n' }}{% endif %}";
  fs.writeFileSync(path.join(own, 'tokenizer_config.json'), JSON.stringify(config));
  for (const dir of [minimindTokenizer, minimind3Tokenizer, own]) {
    const { text, note } = ollamaModelfile('model.gguf', ChatTemplate.fromDir(dir), ['</s>']);
    assert.equal(note, null, `${dir}: ${note}`);
    assert.match(text, /^TEMPLATE """/m);
  }
});

test("the Modelfile carries the chat template in Ollama's syntax and the end token as a stop", async () => {
  const checkpoint = await pretrainedCheckpoint();
  const out = tempDir('gguf-modelfile');
  const summary = await exportCheckpoint(checkpoint, { format: 'gguf', outputDir: out });
  assert.equal(summary.modelfileNote, null);
  const modelfile = fs.readFileSync(path.join(out, 'Modelfile'), 'utf8');
  assert.match(modelfile, /^FROM \.\/model\.gguf$/m);
  assert.match(modelfile, /^TEMPLATE """.*\{\{ range \.Messages \}\}.*"""$/ms);
  assert.match(modelfile, /^PARAMETER stop "<\/s>"$/m);
});

test("llama.cpp chats with an SFT model through the file's own chat template, as minilm chat does", async () => {
  const checkpoint = await tunedCheckpoint();
  const out = tempDir('gguf-chat');
  await exportCheckpoint(checkpoint, { format: 'gguf', outputDir: out });
  const system = '你是一位诗人。';
  const question = '请写一首关于月亮的诗。';
  const model = await (await llama()).loadModel({ modelPath: path.join(out, 'model.gguf') });
  const context = await model.createContext({ contextSize: 128, threads: 1 });
  try {
    // chatWrapper 'auto' reads tokenizer.chat_template from the file.
    const session = new LlamaChatSession({ contextSequence: context.getSequence(), systemPrompt: system });
    assert.match(session.chatWrapper.wrapperName, /Jinja/, `node-llama-cpp chose ${session.chatWrapper.wrapperName}`);
    const theirs = await session.prompt(question, { temperature: 0, maxTokens: 60 });
    const ours = (await Model.load(checkpoint)).chat(
      [
        { role: 'system', content: system },
        { role: 'user', content: question },
      ],
      { temperature: 0, maxNewTokens: 60 },
    );
    for await (const _ of ours) {
      /* drain */
    }
    assert.equal(ours.stats?.stop, 'eos', 'the tuned model ends its reply');
    assert.ok(ours.text.length > 0);
    assert.equal(theirs, ours.text, 'the same greedy reply, ended at the same end token');
  } finally {
    await context.dispose();
    await model.dispose();
  }
});

/** Every key (dotted) with its value, arrays as their length and the sha256 of their JSON. */
function flatKeys(tree: Record<string, unknown>, prefix = ''): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(tree)) {
    const name = prefix + key;
    if (Array.isArray(value)) out[name] = { length: value.length, sha256: createHash('sha256').update(JSON.stringify(value)).digest('hex') };
    else if (value !== null && typeof value === 'object') Object.assign(out, flatKeys(value as Record<string, unknown>, `${name}.`));
    else out[name] = value;
  }
  return out;
}

/** Bytes of a tensor of `elements` values in ggml type `type` (f32 0, f16 1, q8_0 8: 34 bytes per 32). */
function tensorBytes(type: number, elements: number): number {
  if (type === 0) return 4 * elements;
  if (type === 1) return 2 * elements;
  if (type === 8) return (elements / 32) * 34;
  throw new Error(`ggml type ${type}`);
}

test("the GGUF equals, key by key and tensor by tensor, the file llama.cpp's own gguf-py writes from the same weights", async () => {
  // test/golden/gguf/golden.json: scripts/reference/make_gguf_golden.py (gguf-py 0.19.0, llama.cpp's
  // converter's rules) on the HF export of the golden litgpt checkpoint.
  const golden = JSON.parse(fs.readFileSync(path.join(repoRoot, 'test/golden/gguf/golden.json'), 'utf8'));
  const checkpoint = path.join(repoRoot, 'test/golden/litgpt/checkpoint');
  for (const dtype of ['f32', 'f16', 'q8_0'] as const) {
    const expected = golden.files[dtype];
    const out = tempDir(`gguf-golden-${dtype}`);
    await exportCheckpoint(checkpoint, { format: 'gguf', dtype, outputDir: out });
    const file = path.join(out, 'model.gguf');
    const info = await readGgufFileInfo(file, { readTensorInfo: true });
    assert.equal(info.version, expected.version);
    assert.deepEqual(flatKeys(info.metadata as Record<string, unknown>), expected.keys, `${dtype}: the keys`);
    const bytes = fs.readFileSync(file);
    const tensors = Object.fromEntries(
      info.tensorInfo!.map((t) => {
        const start = Number(t.fileOffset);
        const length = tensorBytes(
          t.ggmlType,
          t.dimensions.reduce((a: number, b) => a * Number(b), 1),
        );
        const sha256 = createHash('sha256')
          .update(bytes.subarray(start, start + length))
          .digest('hex');
        return [t.name, { type: t.ggmlType, shape: t.dimensions.map(Number), sha256 }];
      }),
    );
    assert.deepEqual(tensors, expected.tensors, `${dtype}: the tensors`);
  }
});
