// `npm run bench:train`: minilm's CPU training throughput against PyTorch eager (scripts/bench-train-torch.py)
// on the same model, batch and cores, in one run. Not a test: prints machine info and a Markdown table for
// BENCHMARKS.md. Each framework trains in its own child process so that each peak RSS is its own.
//
//   npm run bench:train                                  # the pretrain issue's 11.9M-parameter model
//   npm run bench:train -- --steps 50 --python ~/venv/bin/python
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { loadPretrainConfig, prepare, pretrain, writeParquetTexts } from '../ts/index.js';
import { poems } from '../test/support/corpus.js';
import { minimindTokenizer, repoRoot } from '../test/support/cli.js';

const { values: flags } = parseArgs({
  options: {
    steps: { type: 'string', default: '20' },
    warmup: { type: 'string', default: '3' },
    micro_batch_size: { type: 'string', default: '8' },
    block_size: { type: 'string', default: '256' },
    n_layer: { type: 'string', default: '6' },
    n_embd: { type: 'string', default: '384' },
    python: { type: 'string' },
    worker: { type: 'string' }, // internal: `minilm` runs the minilm measurement in this (child) process
  },
});
const steps = Number(flags.steps);
const warmup = Number(flags.warmup);
const batch = Number(flags.micro_batch_size);
const block = Number(flags.block_size);
const threads = os.cpus().length;
// Fixed parts of the model; the same values go to the PyTorch peer.
const model = {
  n_layer: Number(flags.n_layer),
  n_embd: Number(flags.n_embd),
  n_head: 6,
  head_size: 64,
  n_query_groups: 2,
  intermediate_size: 1024,
  vocab_size: 6400,
};
const LR = 1e-3; // bench-train-torch.py's constant learning rate

const root = path.join(repoRoot, 'bench-data', 'train-bench');
const dataDir = path.join(root, 'data');

interface Result {
  params: number;
  tokens_per_sec: number;
  step_ms: number;
  peak_rss_mb: number;
  first_loss: number;
  last_loss: number;
}

/** Tokens the prepared train split holds (litdata's index.json records each chunk's token count). */
function preparedTokens(): number {
  const index = path.join(dataDir, 'train', 'index.json');
  if (!existsSync(index)) return 0;
  return (JSON.parse(readFileSync(index, 'utf8')) as { chunks: Array<{ dim: number }> }).chunks.reduce((n, c) => n + c.dim, 0);
}

/** Real text (Tang/Song poetry) tokenized once, so minilm trains through its own data path; reused when big enough. */
async function ensureData(): Promise<void> {
  const needed = (warmup + steps) * batch * (block + 1);
  if (preparedTokens() >= needed) return;
  rmSync(root, { recursive: true, force: true });
  mkdirSync(path.join(root, 'input'), { recursive: true });
  // At least 4 MB, and about 8 bytes of UTF-8 per needed token (Chinese runs ~2-4 bytes a token): a wide margin.
  const texts: string[] = [];
  let bytes = 0;
  for (const poem of poems()) {
    texts.push(poem);
    bytes += Buffer.byteLength(poem);
    if (bytes >= Math.max(4e6, needed * 8)) break;
  }
  writeParquetTexts(path.join(root, 'input', 'poems.parquet'), [texts]);
  await prepare({ inputDir: path.join(root, 'input'), outputDir: dataDir, tokenizerPath: minimindTokenizer });
  if (preparedTokens() < needed) throw new Error(`the poetry corpus gives ${preparedTokens()} tokens, fewer than the ${needed} needed`);
  console.error(`prepared ${(bytes / 1e6).toFixed(1)} MB of poetry, ${preparedTokens().toLocaleString()} tokens, in ${dataDir}`);
}

/** The worker: one pretrain run, timed from the step events; prints one JSON line. */
async function minilmWorker(): Promise<void> {
  const outDir = path.join(root, 'out');
  rmSync(outDir, { recursive: true, force: true }); // a leftover checkpoint must not be resumed
  const config = loadPretrainConfig({
    tree: {
      model_config: {
        name: 'bench',
        block_size: block,
        padded_vocab_size: model.vocab_size,
        rotary_percentage: 1.0,
        parallel_residual: false,
        bias: false,
        norm_class_name: 'RMSNorm',
        mlp_class_name: 'LLaMAMLP',
        ...model,
      },
      out_dir: outDir,
      precision: '32-true',
      data: { class_path: 'litgpt.data.LitData', init_args: { data_path: dataDir } },
      // One micro-batch per step and a constant rate (warmup 0, min_lr = lr), as the PyTorch peer does.
      train: {
        save_interval: 1_000_000,
        log_interval: 1,
        global_batch_size: batch,
        micro_batch_size: batch,
        lr_warmup_steps: 0,
        max_tokens: (warmup + steps) * batch * block,
        tie_embeddings: true,
        max_norm: 1.0,
        min_lr: LR,
      },
      eval: { interval: 1_000_000, initial_validation: false, final_validation: false },
      optimizer: { class_path: 'torch.optim.AdamW', init_args: { lr: LR, weight_decay: 0.1, betas: [0.9, 0.95] } },
      logger_name: 'csv',
      seed: 42,
    },
  });
  // times[s] = when step s finished (times[0]: just before the first step), so warmup steps stay out of the timing.
  const times: number[] = [];
  const losses: number[] = [];
  let params = 0;
  await pretrain(config, {
    onLog: (e) => {
      if (e.type === 'start') [params, times[0]] = [e.info.parameters, performance.now()];
      else if (e.type === 'step') {
        times[e.step] = performance.now();
        losses.push(e.loss);
        if (e.step <= warmup || e.step % 5 === 0 || e.step === e.totalSteps) console.error(`  minilm step ${e.step}: loss ${e.loss.toFixed(4)}`);
      } else if (e.type === 'warning') console.error(`  minilm warning: ${e.message}`);
    },
  });
  const seconds = (times[warmup + steps] - times[warmup]) / 1000;
  const hwmKb = Number(/VmHWM:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))![1]);
  rmSync(outDir, { recursive: true, force: true }); // the final checkpoint is only a by-product
  const result: Result = {
    params,
    tokens_per_sec: (steps * batch * block) / seconds,
    step_ms: (1000 * seconds) / steps,
    peak_rss_mb: hwmKb / 1024,
    first_loss: losses[0],
    last_loss: losses[losses.length - 1],
  };
  console.log(JSON.stringify(result));
}

/** Runs a child, passing its stderr through live (progress), and returns its stdout and stderr. */
function run(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d));
    child.stderr.on('data', (d: Buffer) => {
      stderr += d;
      process.stderr.write(d);
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

const lastJson = (stdout: string) =>
  JSON.parse(
    stdout
      .trim()
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .pop() ?? 'null',
  );

async function runMinilm(): Promise<Result> {
  const script = fileURLToPath(import.meta.url);
  // RAYON_NUM_THREADS: minilm's kernels use rayon; pin it to all cores, as torch gets --threads.
  const r = await run(process.execPath, ['--import', 'tsx', script, ...process.argv.slice(2), '--worker', 'minilm'], {
    ...process.env,
    RAYON_NUM_THREADS: String(threads),
  });
  if (r.code !== 0) throw new Error(`the minilm worker failed (exit ${r.code})`);
  return lastJson(r.stdout) as Result;
}

function findPython(): string | null {
  const candidate = flags.python ?? process.env.MINILM_TORCH_PYTHON ?? (existsSync('/tmp/pyref/bin/python') ? '/tmp/pyref/bin/python' : undefined);
  return candidate !== undefined && existsSync(candidate) ? candidate : null;
}

async function runTorch(python: string): Promise<(Result & { torch: string }) | string> {
  const args = [
    path.join(repoRoot, 'scripts', 'bench-train-torch.py'),
    '--steps',
    String(steps),
    '--warmup',
    String(warmup),
    '--micro_batch_size',
    String(batch),
    '--block_size',
    String(block),
    '--threads',
    String(threads),
  ];
  for (const [key, value] of Object.entries(model)) args.push(`--${key}`, String(value));
  const r = await run(python, args, process.env);
  if (r.code !== 0) return `PyTorch run failed (exit ${r.code}): ${r.stderr.trim().split('\n').pop()}`;
  const json = lastJson(r.stdout);
  // The peer prints losses on stderr only ("  step I: loss X", the first and the last step among them).
  const losses = [...r.stderr.matchAll(/step (\d+): loss ([\d.]+)/g)].map((m) => Number(m[2]));
  return { ...json, first_loss: losses[0], last_loss: losses[losses.length - 1] };
}

async function main(): Promise<void> {
  if (flags.worker === 'minilm') return minilmWorker();
  await ensureData();
  console.error(`minilm: ${warmup} warmup + ${steps} timed steps, batch ${batch} x ${block}, ${threads} threads`);
  const minilm = await runMinilm();
  const python = findPython();
  const torch =
    python === null ? 'PyTorch not found: create a venv with `python3 -m venv /tmp/pyref && /tmp/pyref/bin/pip install torch numpy`' : await runTorch(python);

  const cpu = /model name\s*:\s*(.+)/.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? os.cpus()[0].model;
  let commit = 'unknown';
  try {
    commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: repoRoot, encoding: 'utf8' }).trim();
  } catch {
    /* not a git checkout */
  }
  const torchVersion = typeof torch === 'string' ? 'n/a' : torch.torch;
  console.log(`\n${cpu}, ${threads} cores; ${new Date().toISOString()}; node ${process.version}; torch ${torchVersion}; minilm ${commit}`);
  console.log(
    `${model.n_layer} layers, n_embd ${model.n_embd}, ${model.n_head} heads x ${model.head_size}, ${model.n_query_groups} query groups, ` +
      `intermediate ${model.intermediate_size}, vocab ${model.vocab_size} (tied); batch ${batch} x ${block}; float32, AdamW; ` +
      `${steps} timed steps after ${warmup} warmup; ${threads} threads each\n`,
  );
  const row = (name: string, r: Result) =>
    `| ${name} | ${r.params.toLocaleString('en-US')} | ${Math.round(r.tokens_per_sec).toLocaleString('en-US')} | ` +
    `${r.step_ms.toFixed(0)} | ${r.peak_rss_mb.toFixed(0)} | ${r.first_loss.toFixed(3)} | ${r.last_loss.toFixed(3)} |`;
  console.log('| framework | params | tokens/s | step ms | peak RSS MB | first loss | last loss |');
  console.log('|---|---:|---:|---:|---:|---:|---:|');
  console.log(row(`minilm (${commit})`, minilm));
  if (typeof torch === 'string') {
    console.log(`\n${torch}`);
    return;
  }
  console.log(row(`PyTorch ${torch.torch} eager`, torch));
  console.log(`\nminilm / PyTorch: ${(minilm.tokens_per_sec / torch.tokens_per_sec).toFixed(2)}x`);
  if (minilm.params !== torch.params) console.log(`warning: parameter counts differ (${minilm.params} vs ${torch.params})`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
