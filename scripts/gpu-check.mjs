// The GPU check's measurements, run by scripts/gpu-check.sh (which sets up node, the CUDA addon and the
// libraries): correctness of the GPU against the CPU on a tiny config, training tokens/s, MFU and GPU
// memory for the reference 108M config, and generation tokens/s. Plain JavaScript over dist/, so the
// machine needs no TypeScript tooling. Prints a table last and writes results.json into the out folder.
//
//   node scripts/gpu-check.mjs OUT_DIR [TORCH_JSON]     (GPU_CHECK_DRY=1: the same flow on the CPU, tiny)
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { isCancelled, loadPretrainConfig, Model, pretrain } from '../dist/index.js';
import { cudaUnavailableReason } from '../dist/native.js';

const [outDir = 'out/gpu-check', torchJson] = process.argv.slice(2);
const dry = process.env.GPU_CHECK_DRY === '1';
const data = path.resolve('gpu-bundle/data');
const DATASHEET_BF16 = 989e12; // H100/H200 SXM dense bf16, the reference
const results = { date: new Date().toISOString(), dry, commit: process.env.GPU_CHECK_COMMIT ?? null };
fs.mkdirSync(outDir, { recursive: true });
const log = (line) => process.stdout.write(`${line}\n`);

const why = cudaUnavailableReason();
results.cuda = why ?? 'available';
if (why !== null && !dry) {
  log(`GPU not usable: ${why}`);
  fs.writeFileSync(path.join(outDir, 'results.json'), JSON.stringify(results, null, 2));
  process.exit(1);
}
const gpu = dry ? 'cpu' : 'cuda';

/** A training run through the library; returns its step events and what it printed at start. */
async function train(name, device, tree, seconds = Infinity) {
  process.env.MINILM_DEVICE = device;
  const config = loadPretrainConfig({ tree: { ...tree, out_dir: path.join(outDir, name) } });
  const steps = [];
  let start = null;
  let validation = null;
  const stop = new AbortController();
  const timer = Number.isFinite(seconds) ? setTimeout(() => stop.abort(), seconds * 1000) : undefined;
  const began = Date.now();
  try {
    await pretrain(config, {
      signal: stop.signal,
      onLog: (e) => {
        if (e.type === 'start') start = e;
        if (e.type === 'step') steps.push({ ...e, at: Date.now() });
        if (e.type === 'validation') validation = { ...e, at: Date.now() };
        if (e.type === 'warning') log(`  ${name}: warning: ${e.message}`);
      },
    });
  } catch (error) {
    if (!isCancelled(error)) throw error;
  } finally {
    clearTimeout(timer);
  }
  log(`  ${name}: ${steps.length} steps on ${start?.device} (${start?.precision}) in ${((Date.now() - began) / 1000).toFixed(1)} s, last loss ${steps.at(-1)?.loss.toFixed(4)}`);
  return { steps, start, validation };
}

function tiny(precision, maxSteps) {
  return {
    model_config: {
      name: 'gpu-check-tiny', block_size: 256, vocab_size: 6400, padded_vocab_size: 6400, n_layer: 4, n_head: 8, n_query_groups: 4,
      n_embd: 256, rotary_percentage: 1.0, parallel_residual: false, bias: false, norm_class_name: 'RMSNorm', mlp_class_name: 'LLaMAMLP',
      intermediate_size: 688,
    },
    precision,
    data: { class_path: 'LitData', init_args: { data_path: data, split_names: ['train', 'val'] } },
    train: { global_batch_size: 16, micro_batch_size: 8, max_tokens: 16 * 256 * 1000, max_steps: maxSteps, lr_warmup_steps: 5, save_interval: 100000, log_interval: 1, tie_embeddings: true, min_lr: 1e-4 },
    eval: { interval: 100000, final_validation: false },
    optimizer: { class_path: 'AdamW', init_args: { lr: 3e-3, weight_decay: 0.1, betas: [0.9, 0.95] } },
    logger_name: 'csv',
    seed: 42,
  };
}

// 1. Correctness: the same tiny run (same seed, data and batches) on the CPU in float32, on the GPU in
// float32, and on the GPU in bf16-mixed. Step 1's loss compares the forward passes (same initial
// weights); its gradient norm compares the gradients; 40 steps compare the curves.
log('== correctness: tiny config (4 layers, n_embd 256), 40 steps, CPU float32 vs GPU');
const steps = dry ? 5 : 40;
const cpu = await train('tiny-cpu-f32', 'cpu', tiny('32-true', steps));
const gpu32 = await train('tiny-gpu-f32', gpu, tiny('32-true', steps));
const gpu16 = dry ? gpu32 : await train('tiny-gpu-bf16', gpu, tiny('bf16-mixed', steps));
const compare = (run) => {
  const loss = run.steps.map((s, i) => Math.abs(s.loss - cpu.steps[i].loss) / cpu.steps[i].loss);
  const norm = run.steps.map((s, i) => Math.abs(s.grad_norm - cpu.steps[i].grad_norm) / cpu.steps[i].grad_norm);
  return { step1_loss_rel: loss[0], step1_grad_norm_rel: norm[0], max_loss_rel: Math.max(...loss), max_grad_norm_rel: Math.max(...norm), final_loss: run.steps.at(-1).loss };
};
results.correctness = { cpu_final_loss: cpu.steps.at(-1).loss, gpu_f32: compare(gpu32), gpu_bf16_mixed: compare(gpu16) };
const pass = {
  f32: results.correctness.gpu_f32.max_loss_rel < 1e-3 && results.correctness.gpu_f32.step1_grad_norm_rel < 1e-3,
  bf16: results.correctness.gpu_bf16_mixed.max_loss_rel < 3e-2 && results.correctness.gpu_bf16_mixed.step1_grad_norm_rel < 5e-2,
};
results.correctness.pass = pass;

// 2. Speed: the reference config (108M, micro-batch 80 x 512) in bf16-mixed, one micro-batch per step so
// that 100 steps fit the check's time (a step of the reference's 8 micro-batches does the same work per
// token, plus 1/8 of the AdamW updates). GPU memory is sampled with nvidia-smi while it runs.
log('== speed: configs/pretrain.yaml, bf16-mixed, micro_batch_size 80, block 512');
const speedSteps = dry ? 3 : 100;
const memory = dry ? null : sampleGpuMemory();
const refTree = {
  model_config: dry ? tiny('32-true', 1).model_config : YAML.parse(fs.readFileSync('configs/pretrain.yaml', 'utf8')).model_config,
  precision: dry ? '32-true' : 'bf16-mixed',
  data: { class_path: 'LitData', init_args: { data_path: data, split_names: ['train', 'val'] } },
  train: {
    global_batch_size: dry ? 8 : 80, micro_batch_size: dry ? 8 : 80, max_seq_length: dry ? 256 : 512, max_tokens: 45_000_000_000,
    max_steps: speedSteps, lr_warmup_steps: 2000, save_interval: 100000, log_interval: 1, tie_embeddings: true, min_lr: 1e-5,
  },
  // The final validation's forward passes alone, timed against the training steps: how a step splits
  // between the forward pass and the backward pass + AdamW.
  eval: { interval: 100000, final_validation: true, max_iters: dry ? 2 : 20 },
  optimizer: { class_path: 'AdamW', init_args: { lr: 1e-3, weight_decay: 0.1, betas: [0.9, 0.95] } },
  logger_name: 'csv',
  seed: 42,
};
const speed = await train('reference-bf16', gpu, refTree, dry ? 120 : 240);
const peakMemoryMb = memory ? await memory.stop() : null;
const timed = speed.steps.slice(Math.min(5, speed.steps.length - 1)); // the first steps include cuBLAS set-up
const tokensPerSec = timed.reduce((a, s) => a + s.tokens_per_sec, 0) / timed.length;
const flopsPerToken = speed.start.info.flops_per_token;
results.speed = {
  steps: speed.steps.length,
  tokens_per_sec: tokensPerSec,
  flops_per_token: flopsPerToken,
  measured_matmul_flops: speed.start.peakFlops,
  mfu_vs_datasheet: (tokensPerSec * flopsPerToken) / DATASHEET_BF16,
  mfu_vs_measured: (tokensPerSec * flopsPerToken) / speed.start.peakFlops,
  peak_gpu_memory_mb: peakMemoryMb,
  target_tokens_per_sec: 520_000,
};
if (speed.validation && speed.steps.length > 0) {
  const micro = refTree.train.micro_batch_size;
  const windows = Math.min(refTree.eval.max_iters * micro, speed.start.info.val_windows);
  results.speed.forward_tokens_per_sec = (windows * refTree.train.max_seq_length) / ((speed.validation.at - speed.steps.at(-1).at) / 1000);
}

// 3. Generation: the 108M checkpoint the speed run saved, batch 1, greedy, on the GPU and the CPU.
log('== generate: batch 1, greedy, 200 new tokens');
const checkpoint = path.join(outDir, 'reference-bf16', 'final');
results.generate = {};
for (const device of dry ? ['cpu'] : ['cuda', 'cpu']) {
  const model = await Model.load(fs.existsSync(checkpoint) ? checkpoint : latestStep(path.join(outDir, 'reference-bf16')), { device });
  const generation = model.generate('床前明月光', { maxNewTokens: 200, temperature: 0, seed: 1 });
  for await (const _ of generation) { /* drain */ }
  results.generate[device] = { tokens_per_sec: generation.stats.tokensPerSec, first_token_ms: generation.stats.firstTokenMs, new_tokens: generation.stats.newTokens };
  log(`  ${device}: ${generation.stats.tokensPerSec.toFixed(1)} tokens/s after a first token in ${generation.stats.firstTokenMs.toFixed(0)} ms`);
}

if (torchJson && fs.existsSync(torchJson)) {
  try {
    results.pytorch = JSON.parse(fs.readFileSync(torchJson, 'utf8').trim().split('\n').at(-1));
  } catch {
    results.pytorch = null;
  }
}
fs.writeFileSync(path.join(outDir, 'results.json'), JSON.stringify(results, null, 2));

const pct = (x) => `${(100 * x).toFixed(1)}%`;
const row = (what, value, note = '') => log(`| ${what.padEnd(44)} | ${String(value).padStart(22)} | ${note}`);
log('\n== GPU check summary' + (dry ? ' (DRY RUN on the CPU: numbers mean nothing)' : ''));
row('GPU f32 vs CPU f32: step-1 loss, grad norm', `${results.correctness.gpu_f32.step1_loss_rel.toExponential(1)}, ${results.correctness.gpu_f32.step1_grad_norm_rel.toExponential(1)}`, 'relative; pass < 1e-3');
row(`GPU f32 vs CPU f32: max loss over ${steps} steps`, results.correctness.gpu_f32.max_loss_rel.toExponential(1), pass.f32 ? 'PASS' : 'FAIL');
row('GPU bf16-mixed vs CPU f32: step-1 loss, grad norm', `${results.correctness.gpu_bf16_mixed.step1_loss_rel.toExponential(1)}, ${results.correctness.gpu_bf16_mixed.step1_grad_norm_rel.toExponential(1)}`, 'relative; pass < 3e-2, 5e-2');
row(`GPU bf16-mixed vs CPU f32: max loss over ${steps} steps`, results.correctness.gpu_bf16_mixed.max_loss_rel.toExponential(1), pass.bf16 ? 'PASS' : 'FAIL');
row(`train tokens/s, 108M bf16-mixed (${speed.steps.length} steps)`, Math.round(tokensPerSec).toLocaleString('en-US'), 'target >= 520,000');
row('MFU vs 989 TFLOP/s datasheet', pct(results.speed.mfu_vs_datasheet), `${(flopsPerToken / 1e6).toFixed(1)} MFLOP/token`);
row('MFU vs measured bf16 matmul', pct(results.speed.mfu_vs_measured), `${(speed.start.peakFlops / 1e12).toFixed(0)} TFLOP/s measured`);
if (results.speed.forward_tokens_per_sec) row('forward only (validation), tokens/s', Math.round(results.speed.forward_tokens_per_sec).toLocaleString('en-US'), 'a training step is about 3 forward passes of work');
row('peak GPU memory (nvidia-smi)', peakMemoryMb === null ? '-' : `${(peakMemoryMb / 1024).toFixed(1)} GiB`, 'reference ~22 GB');
if (results.pytorch) row('PyTorch eager bf16 autocast, same model+batch', `${Math.round(results.pytorch.tokens_per_sec).toLocaleString('en-US')} tok/s`, `minilm / PyTorch = ${(tokensPerSec / results.pytorch.tokens_per_sec).toFixed(2)}x`);
for (const [device, g] of Object.entries(results.generate)) row(`generate 108M batch 1 on ${device}`, `${g.tokens_per_sec.toFixed(1)} tok/s`, `first token ${g.first_token_ms.toFixed(0)} ms`);
process.exit(pass.f32 && pass.bf16 ? 0 : 2);

function latestStep(dir) {
  const steps = fs.readdirSync(dir).filter((d) => d.startsWith('step-')).sort();
  return path.join(dir, steps.at(-1));
}

/** Polls nvidia-smi's used memory every half second; stop() resolves to the peak in MiB. */
function sampleGpuMemory() {
  let peak = 0;
  const child = spawn('nvidia-smi', ['--query-gpu=memory.used', '--format=csv,noheader,nounits', '-lms', '500'], { stdio: ['ignore', 'pipe', 'ignore'] });
  child.stdout.on('data', (chunk) => {
    for (const line of chunk.toString().split('\n')) if (line.trim()) peak = Math.max(peak, Number(line.trim()));
  });
  child.on('error', () => {});
  return { stop: () => new Promise((resolve) => { child.kill(); setTimeout(() => resolve(peak), 100); }) };
}
