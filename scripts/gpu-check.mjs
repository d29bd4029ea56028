// The GPU check's measurements, run by scripts/gpu-check.sh (which sets up node, the CUDA addon and the
// libraries): every CUDA kernel against its CPU twin at the reference shapes (the kernel check), then
// correctness of the GPU against the CPU on a tiny config (pretraining, then LoRA sft and dpo from its
// checkpoint), training tokens/s, MFU and GPU memory for the
// reference 108M config, and generation tokens/s. Plain JavaScript over dist/, so the
// machine needs no TypeScript tooling. Prints a table last and writes results.json into the out folder.
//
//   node scripts/gpu-check.mjs OUT_DIR [TORCH_JSON [TORCH_COMPILE_JSON]]     (GPU_CHECK_DRY=1: the same flow on the CPU, tiny)
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { dpo, exportHf, isCancelled, loadDpoConfig, loadPretrainConfig, loadSftConfig, Model, pretrain, sft, Tokenizer } from '../dist/index.js';
import { cudaUnavailableReason, native } from '../dist/native.js';
import { describeMemoryEstimate, estimatePeakMemory } from '../dist/train/memory-estimate.js';

const [outDir = 'out/gpu-check', torchJson, torchCompileJson] = process.argv.slice(2);
const dry = process.env.GPU_CHECK_DRY === '1';
const data = path.resolve('gpu-bundle/data');
const DATASHEET_BF16 = 989e12; // H100/H200 SXM dense bf16, the issue's reference
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
// GPU_CHECK_PARTS=correctness,speed (say) runs only those parts; all of them by default.
const parts = (process.env.GPU_CHECK_PARTS ?? 'kernels,profile,correctness,finetune,data-parallel,speed,speed-flash,generate').split(',');
const part = (name) => parts.includes(name);
results.failures = [];
/** Runs a part of the check; a failure is recorded and shown in the table instead of ending the check. */
async function attempt(what, work) {
  try {
    return await work();
  } catch (error) {
    const message = String(error?.message ?? error)
      .split('\n')[0]
      .slice(0, 300);
    results.failures.push({ what, error: message });
    log(`  ${what} failed: ${message}`);
    return null;
  }
}

// 0. The kernel check: each CUDA kernel against its CPU twin on fresh random inputs at the reference
// shapes (micro-batch 80 x 512, the 108M model's widths), outputs poisoned first, each run twice for
// determinism; then one whole step's loss and gradients on a 2-layer model. (Dry run: the CPU against
// itself at small shapes.)
log(`== kernel check: every CUDA kernel against its CPU twin${dry ? ' (dry: CPU vs CPU, small shapes)' : ', reference shapes'}`);
const kernelStarted = Date.now();
results.kernels = !part('kernels') ? null : await attempt('kernel check', () => native().kernelCheck(dry ? 'cpu' : 'cuda:0', dry ? 'small' : 'reference'));
for (const k of results.kernels ?? []) {
  const verdict = k.passed ? 'ok' : 'FAIL';
  log(
    `  ${verdict.padEnd(4)} ${k.dtype.padEnd(4)} ${k.name.padEnd(36)} ${k.error ?? `${k.relativeError.toExponential(2)} (limit ${k.limit.toExponential(0)})${k.deterministic ? '' : ' NOT DETERMINISTIC'}  ${k.deviceMs.toFixed(2)} ms  ${k.shape}`}`,
  );
}
log(`  kernel check took ${((Date.now() - kernelStarted) / 1000).toFixed(1)} s`);

// Where the time goes: each part of one reference micro-batch (bf16 activations) timed on its own at the
// real shapes; their sum is the step with no gaps between kernels. BENCHMARKS.md holds the prediction
// written before the first run.
log(`== step profile: one micro-batch of the reference run, part by part${dry ? ' (dry: CPU, small shapes)' : ''}`);
results.step_profile = !part('profile')
  ? null
  : await attempt('step profile', () => native().stepProfile(dry ? 'cpu' : 'cuda:0', dry ? 'f32' : 'bf16', dry ? 'small' : 'reference'));
if (results.step_profile) {
  const total = results.step_profile.reduce((sum, p) => sum + p.msPerMicroBatch, 0);
  for (const p of results.step_profile) {
    log(
      `  ${p.part.padEnd(58)} ${p.msEach.toFixed(3).padStart(9)} ms x ${p.perMicroBatch.toFixed(3).padStart(6)} = ${p.msPerMicroBatch.toFixed(2).padStart(8)} ms (${((100 * p.msPerMicroBatch) / total).toFixed(1)}%)`,
    );
  }
  results.step_profile_total_ms = total;
  log(
    `  sum: ${total.toFixed(1)} ms per micro-batch of ${dry ? 80 : 40960} tokens = ${Math.round((dry ? 80 : 40960) / (total / 1000)).toLocaleString('en-US')} tokens/s with no gaps`,
  );
}

const runs = { pretrain: [loadPretrainConfig, pretrain], sft: [loadSftConfig, sft], dpo: [loadDpoConfig, dpo] };
/** A training run through the library (`kind`: pretrain, sft or dpo); returns its step events and what it printed at start. */
async function train(name, device, tree, seconds = Infinity, kind = 'pretrain') {
  const [load, run] = runs[kind];
  const config = load({ tree: { ...tree, out_dir: path.join(outDir, name) } });
  const steps = [];
  let start = null;
  let validation = null;
  const stop = new AbortController();
  const timer = Number.isFinite(seconds) ? setTimeout(() => stop.abort(), seconds * 1000) : undefined;
  const began = Date.now();
  try {
    await run(config, {
      device,
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
  log(
    `  ${name}: ${steps.length} steps on ${start?.device} (${start?.precision}) in ${((Date.now() - began) / 1000).toFixed(1)} s, last loss ${steps.at(-1)?.loss.toFixed(4)}`,
  );
  return { steps, start, validation };
}

// A learning rate of 1e-3: at 3e-3 this model's loss spiked (grad norm 14 at step 8), and each spike grew
// the float rounding differences between the devices until the curves parted (first H200 run, 2026-12-04:
// the same to 1e-5 for 16 steps, then 4% apart by step 40, with one micro-batch per step still 2e-7).
function tiny(precision, maxSteps) {
  return {
    model_config: {
      name: 'gpu-check-tiny',
      block_size: 256,
      vocab_size: 6400,
      padded_vocab_size: 6400,
      n_layer: 4,
      n_head: 8,
      n_query_groups: 4,
      n_embd: 256,
      rotary_percentage: 1.0,
      parallel_residual: false,
      bias: false,
      norm_class_name: 'RMSNorm',
      mlp_class_name: 'LLaMAMLP',
      intermediate_size: 688,
    },
    precision,
    data: { class_path: 'LitData', init_args: { data_path: data, split_names: ['train', 'val'] } },
    train: {
      global_batch_size: 16,
      micro_batch_size: 8,
      max_tokens: 16 * 256 * 1000,
      max_steps: maxSteps,
      lr_warmup_steps: 5,
      save_interval: 100000,
      log_interval: 1,
      tie_embeddings: true,
      min_lr: 1e-4,
    },
    eval: { interval: 100000, final_validation: false },
    optimizer: { class_path: 'AdamW', init_args: { lr: 1e-3, weight_decay: 0.1, betas: [0.9, 0.95] } },
    logger_name: 'csv',
    seed: 42,
  };
}

// 1. Correctness: the same tiny run (same seed, data and batches) on the CPU in float32, on the GPU in
// float32, and on the GPU in bf16-mixed. Step 1's loss compares the forward passes (same initial
// weights); its gradient norm compares the gradients; 40 steps compare the curves.
const steps = dry ? 5 : 40;
const correctness = part('correctness');
if (correctness) log('== correctness: tiny config (4 layers, n_embd 256), 40 steps, CPU float32 vs GPU');
const cpu = !correctness ? null : await attempt('tiny CPU float32 run', () => train('tiny-cpu-f32', 'cpu', tiny('32-true', steps)));
const gpu32 = !correctness ? null : await attempt('tiny GPU float32 run', () => train('tiny-gpu-f32', gpu, tiny('32-true', steps)));
const gpu16 = dry || !correctness ? gpu32 : await attempt('tiny GPU bf16-mixed run', () => train('tiny-gpu-bf16', gpu, tiny('bf16-mixed', steps)));
// Two narrower comparisons, 12 steps each, that say where a curve that drifts apart goes wrong: with a
// learning rate of ~0 (the same weights every step: only the data, forward and backward passes are
// compared), and with one micro-batch per step (no accumulation).
const variant = (precision, change) => {
  const tree = tiny(precision, 12);
  change(tree);
  return tree;
};
const frozen = (t) => {
  t.optimizer.init_args.lr = 1e-12; // the config asks for a learning rate > 0: this one moves no weight
  t.train.min_lr = 0;
};
const single = (t) => {
  t.train.global_batch_size = t.train.micro_batch_size;
};
const variants = {};
if (correctness && !dry) {
  for (const [name, change] of [
    ['lr0', frozen],
    ['acc1', single],
  ]) {
    const onCpu = await attempt(`tiny CPU ${name}`, () => train(`tiny-cpu-${name}`, 'cpu', variant('32-true', change)));
    const onGpu = await attempt(`tiny GPU ${name}`, () => train(`tiny-gpu-${name}`, gpu, variant('32-true', change)));
    variants[name] = { cpu: onCpu, gpu: onGpu };
  }
}
const compare = (run, reference = cpu) => {
  if (!reference || !run || run.steps.length !== reference.steps.length) return null;
  const loss = run.steps.map((s, i) => Math.abs(s.loss - reference.steps[i].loss) / reference.steps[i].loss);
  const norm = run.steps.map((s, i) => Math.abs(s.grad_norm - reference.steps[i].grad_norm) / reference.steps[i].grad_norm);
  return {
    step1_loss_rel: loss[0],
    step1_grad_norm_rel: norm[0],
    max_loss_rel: Math.max(...loss),
    max_grad_norm_rel: Math.max(...norm),
    final_loss: run.steps.at(-1).loss,
  };
};
// Each step's [loss, grad norm], so that a drift can be traced to the step where it starts.
const curve = (run) => run?.steps.map((s) => [s.loss, s.grad_norm]) ?? null;
results.correctness = {
  cpu_final_loss: cpu?.steps.at(-1)?.loss ?? null,
  gpu_f32: compare(gpu32),
  gpu_bf16_mixed: compare(gpu16),
  curves: { cpu_f32: curve(cpu), gpu_f32: curve(gpu32), gpu_bf16_mixed: curve(gpu16) },
  variants: Object.fromEntries(
    Object.entries(variants).map(([name, v]) => [name, { gpu_vs_cpu: compare(v.gpu, v.cpu), cpu: curve(v.cpu), gpu: curve(v.gpu) }]),
  ),
};
for (const [name, v] of Object.entries(results.correctness.variants)) {
  log(`  ${name}: GPU vs CPU f32, max loss ${v.gpu_vs_cpu?.max_loss_rel.toExponential(1)}, max grad norm ${v.gpu_vs_cpu?.max_grad_norm_rel.toExponential(1)}`);
}
for (const [i, c] of (results.correctness.curves.cpu_f32 ?? []).entries()) {
  const g = results.correctness.curves.gpu_f32?.[i];
  const h = results.correctness.curves.gpu_bf16_mixed?.[i];
  log(
    `  step ${String(i + 1).padStart(2)}: loss cpu ${c[0].toFixed(5)} gpu32 ${g?.[0].toFixed(5)} bf16 ${h?.[0].toFixed(5)}  grad norm cpu ${c[1].toFixed(4)} gpu32 ${g?.[1].toFixed(4)} bf16 ${h?.[1].toFixed(4)}`,
  );
}
const { gpu_f32: f32, gpu_bf16_mixed: bf16 } = results.correctness;
// A part left out by GPU_CHECK_PARTS passes: it was not asked for.
const pass = {
  f32: !correctness || (f32 !== null && f32.max_loss_rel < 1e-3 && f32.step1_grad_norm_rel < 1e-3),
  bf16: !correctness || (bf16 !== null && bf16.max_loss_rel < 3e-2 && bf16.step1_grad_norm_rel < 5e-2),
};
results.correctness.pass = pass;

// 2. Fine-tuning: LoRA sft (adapters trained, merged after each step), dpo (the frozen reference's
// log-probabilities computed once, then the policy trained) and LoRA dpo, each 12 steps from the tiny
// run's checkpoint on the CPU and on the GPU in float32 (LoRA sft in bf16-mixed too), the same seed and data.
const finetuneData = path.resolve('gpu-bundle/finetune');
const finetuneTree = (base, file, precision, changes) => ({
  checkpoint_dir: base,
  precision,
  data: { class_path: 'litgpt.data.JSON', init_args: { json_path: path.join(finetuneData, file), mask_prompt: true, val_split_fraction: 0.1, seed: 42 } },
  train: {
    save_interval: 1000,
    log_interval: 1,
    global_batch_size: 16,
    micro_batch_size: 8,
    lr_warmup_steps: 2,
    epochs: 1,
    max_steps: 12,
    max_seq_length: 128,
  },
  eval: { interval: 1000, final_validation: false },
  optimizer: { class_path: 'torch.optim.AdamW', init_args: { lr: 2e-3, weight_decay: 0, betas: [0.9, 0.95] } },
  logger_name: 'csv',
  seed: 1337,
  ...changes,
});
const preference = {
  dpo: { beta: 0.1, loss_type: 'sigmoid', label_smoothing: 0 },
  optimizer: { class_path: 'AdamW', init_args: { lr: 5e-4, weight_decay: 0, betas: [0.9, 0.95] } },
};
const finetunes = [
  ['lora-sft', 'sft', 'chat.jsonl', { lora: { r: 8, alpha: 16 } }],
  ['dpo', 'dpo', 'pairs.jsonl', preference],
  ['lora-dpo', 'dpo', 'pairs.jsonl', { ...preference, lora: { r: 4, alpha: 8, targets: ['qkv', 'mlp'] } }],
];
results.finetune = {};
if (part('finetune')) {
  log('== fine-tuning: LoRA sft, dpo and LoRA dpo from the tiny checkpoint, 12 steps, CPU float32 vs GPU');
  const base =
    [path.join(outDir, 'tiny-cpu-f32', 'final')].find((dir) => fs.existsSync(dir)) ??
    ((await attempt('tiny CPU base for fine-tuning', () => train('finetune-base', 'cpu', tiny('32-true', dry ? 3 : 20)))) &&
      path.join(outDir, 'finetune-base', 'final'));
  for (const [name, kind, file, changes] of base ? finetunes : []) {
    const on = (device, precision) =>
      attempt(`${name} on ${device} ${precision}`, () =>
        train(`${name}-${device}-${precision}`, device === 'gpu' ? gpu : 'cpu', finetuneTree(base, file, precision, changes), Infinity, kind),
      );
    const onCpu = await on('cpu', '32-true');
    const onGpu = await on('gpu', '32-true');
    const onGpu16 = name === 'lora-sft' && !dry ? await on('gpu', 'bf16-mixed') : null;
    results.finetune[name] = { gpu_f32: compare(onGpu, onCpu), gpu_bf16_mixed: compare(onGpu16, onCpu), cpu: curve(onCpu), gpu_f32_curve: curve(onGpu) };
    log(
      `  ${name}: GPU f32 vs CPU f32, max loss ${results.finetune[name].gpu_f32?.max_loss_rel.toExponential(1)}, max grad norm ${results.finetune[name].gpu_f32?.max_grad_norm_rel.toExponential(1)}`,
    );
  }
}
const finetunePass = Object.values(results.finetune).every(
  (f) => f.gpu_f32 !== null && f.gpu_f32.max_loss_rel < 1e-3 && (f.gpu_bf16_mixed === null || f.gpu_bf16_mixed.max_loss_rel < 3e-2),
);

// 2b. Data-parallel over NCCL, where the machine has two GPUs or more: the tiny config's 12 steps as
// `minilm pretrain --devices 2` (micro-batch 4 on each GPU) against one process with micro-batch 8, in
// float32, through the command line as a user runs it; then the same 2 ranks summing the gradient in
// 1 MiB buckets during the backward pass (MINILM_BUCKET_MB=1, a few parameters each; the tiny model's
// whole gradient, 19 MB, would fit one of the default 25 MiB) and whole after it (MINILM_BUCKET_MB=0): two ranks' sums are
// one addition per element, so all three must be the same bits; and the ranks sharding AdamW's state
// (minilm.shard_optimizer, ZeRO-1: NCCL broadcasts each rank's updated shard), also the same bits. One GPU
// cannot (NCCL refuses two ranks on one); the kernel check's last row runs the buckets on one rank.
const gpuCount = dry ? 0 : (spawnSync('nvidia-smi', ['-L'], { encoding: 'utf8' }).stdout ?? '').split('\n').filter((l) => l.startsWith('GPU ')).length;
results.data_parallel = null;
if (part('data-parallel') && gpuCount >= 2) {
  await attempt('data-parallel on 2 GPUs', async () => {
    const run = (name, extra, env = {}) => {
      const out = path.join(outDir, name);
      const file = path.join(outDir, `${name}.yaml`);
      fs.writeFileSync(file, YAML.stringify({ ...tiny('32-true', 12), out_dir: out }));
      const cli = spawnSync(process.execPath, ['dist/cli/main.js', 'pretrain', '--config', file, ...extra], {
        encoding: 'utf8',
        timeout: 300_000,
        env: { ...process.env, ...env },
      });
      if (cli.status !== 0) throw new Error(`${name}: ${(cli.stderr || String(cli.error)).trim().split('\n').slice(-3).join(' / ')}`);
      const [header, ...rows] = fs.readFileSync(path.join(out, 'logs/csv/version_0/metrics.csv'), 'utf8').trim().split('\n');
      const loss = header.split(',').indexOf('loss');
      return rows
        .map((r) => r.split(',')[loss])
        .filter((v) => v !== '')
        .map(Number);
    };
    const twoRanks = ['--devices', '2', '--train.micro_batch_size', '4'];
    const alone = run('dp-alone', []);
    const ranks = run('dp-2gpu', twoRanks, { MINILM_BUCKET_MB: '1' });
    const whole = run('dp-2gpu-whole', twoRanks, { MINILM_BUCKET_MB: '0' });
    const sharded = run('dp-2gpu-sharded', [...twoRanks, '--minilm.shard_optimizer', 'true'], { MINILM_BUCKET_MB: '1' });
    const rel = ranks.map((l, i) => Math.abs(l - alone[i]) / alone[i]);
    const sameBits = (other) => other.length === ranks.length && other.every((l, i) => l === ranks[i]);
    const [bucketsSameBits, shardedSameBits] = [sameBits(whole), sameBits(sharded)];
    results.data_parallel = {
      gpus: gpuCount,
      steps: ranks.length,
      max_loss_rel: Math.max(...rel),
      buckets_same_bits: bucketsSameBits,
      sharded_same_bits: shardedSameBits,
      alone,
      ranks,
      whole,
      sharded,
    };
    log(
      `  2 GPUs x micro 4 (1 MiB buckets) against 1 x micro 8: ${ranks.length} steps, max loss difference ${results.data_parallel.max_loss_rel.toExponential(1)}`,
    );
    log(`  summed in buckets during the backward pass against whole after it: ${bucketsSameBits ? 'the same bits' : 'DIFFERENT'}`);
    log(`  the optimizer's state sharded over the 2 GPUs against whole on each: ${shardedSameBits ? 'the same bits' : 'DIFFERENT'}`);
  });
} else if (part('data-parallel')) {
  log(`  skipped: ${gpuCount} GPU here; data-parallel needs 2 or more`);
}

// 3. Speed: the reference config (108M, micro-batch 80 x 512) in bf16-mixed, one micro-batch per step so
// that 100 steps fit the check's time (a step of the reference's 8 micro-batches does the same work per
// token, plus 1/8 of the AdamW updates). GPU memory is sampled with nvidia-smi while it runs. The
// backward pass keeps each layer's bf16 attention weights (640 MiB per layer at micro-batch 80); if 80
// does not fit, the check says so and measures smaller micro-batches.
log('== speed: configs/pretrain.yaml, bf16-mixed, block 512');
const speedTree = (micro) => ({
  model_config: dry ? tiny('32-true', 1).model_config : YAML.parse(fs.readFileSync('configs/pretrain.yaml', 'utf8')).model_config,
  precision: dry ? '32-true' : 'bf16-mixed',
  data: { class_path: 'LitData', init_args: { data_path: data, split_names: ['train', 'val'] } },
  train: {
    global_batch_size: micro,
    micro_batch_size: micro,
    max_seq_length: dry ? 256 : 512,
    max_tokens: 45_000_000_000,
    max_steps: dry ? 3 : 100,
    lr_warmup_steps: 2000,
    save_interval: 100000,
    log_interval: 1,
    tie_embeddings: true,
    min_lr: 1e-5,
  },
  // The final validation's forward passes alone, timed against the training steps: how a step splits
  // between the forward pass and the backward pass + AdamW. A validation halfway loads the loss's
  // kernels first: timed with their loading, the final one read 108-157K tokens/s where it read 705K
  // after another part's validations had loaded them (H200, 2026-12-04).
  eval: { interval: dry ? 2 : 50, final_validation: true, max_iters: dry ? 2 : 20 },
  optimizer: { class_path: 'AdamW', init_args: { lr: 1e-3, weight_decay: 0.1, betas: [0.9, 0.95] } },
  logger_name: 'csv',
  seed: 42,
});
results.speed_attempts = [];
/** The speed run on the attention path the run chooses (null) or on one set through MINILM_ATTENTION; its results, or null. */
async function measureSpeed(asked, seconds) {
  if (asked !== null) process.env.MINILM_ATTENTION = asked;
  let run = null;
  for (const size of dry ? [8] : [80, 32, 8]) {
    const memory = dry ? null : sampleGpuMemory();
    const name = `reference-bf16-${asked ?? 'auto'}-mb${size}`;
    try {
      const speed = await train(name, gpu, speedTree(size), seconds);
      run = { name, size, speed, peakMemoryMb: memory ? await memory.stop() : null };
      break;
    } catch (error) {
      if (memory) await memory.stop();
      const message = String(error?.message ?? error)
        .split('\n')[0]
        .slice(0, 300);
      results.speed_attempts.push({ attention: asked ?? 'auto', micro_batch_size: size, error: message });
      log(`  ${asked ?? 'auto'}, micro-batch ${size} failed: ${message}`);
    }
  }
  delete process.env.MINILM_ATTENTION;
  if (run === null || run.speed.steps.length === 0) return null;
  const { speed, size: micro } = run;
  const timed = speed.steps.slice(Math.min(5, speed.steps.length - 1)); // the first steps include kernel loading
  const tokensPerSec = timed.reduce((a, s) => a + s.tokens_per_sec, 0) / timed.length;
  const flopsPerToken = speed.start.info.flopsPerToken;
  const attention = speed.start.attention.path;
  const measured = {
    attention,
    attention_why: speed.start.attention.why,
    run: run.name,
    micro_batch_size: micro,
    steps: speed.steps.length,
    tokens_per_sec: tokensPerSec,
    flops_per_token: flopsPerToken,
    run_peak_flops: speed.start.peakFlops,
    run_peak_flops_source: speed.start.peakFlopsSource,
    mfu_vs_datasheet: (tokensPerSec * flopsPerToken) / DATASHEET_BF16,
    mfu_vs_run_peak: (tokensPerSec * flopsPerToken) / speed.start.peakFlops,
    peak_gpu_memory_mb: run.peakMemoryMb,
    target_tokens_per_sec: 520_000,
  };
  // The dry run's estimate for the same run, beside the measured peak, so that the model can be corrected.
  const speedConfig = loadPretrainConfig({ tree: { ...speedTree(micro), out_dir: path.join(outDir, run.name) } });
  const estimate = estimatePeakMemory(speedConfig.model, micro, speedConfig.train.max_seq_length, speedConfig.precision, attention);
  measured.estimated_peak_gpu_memory_gib = estimate.total / 2 ** 30;
  measured.estimated_peak_gpu_memory = describeMemoryEstimate(estimate);
  if (speed.validation) {
    const windows = Math.min(20 * micro, speed.start.info.valWindows);
    measured.forward_tokens_per_sec = (windows * (dry ? 256 : 512)) / ((speed.validation.at - speed.steps.at(-1).at) / 1000);
  }
  return measured;
}
// The path the run chooses (the composite one where it fits, train/attention-path.ts) and flash
// (MINILM_ATTENTION=flash, what a smaller GPU falls back to), each for at most 100 steps or 80 / 60 seconds.
results.speed = part('speed') ? await measureSpeed(null, dry ? 120 : 80) : null;
results.speed_flash = part('speed-flash') && !dry ? await measureSpeed('flash', 60) : null;

log('== generate: batch 1, greedy, 200 new tokens');
// The 108M checkpoint when the speed run made one, else the tiny GPU run's.
// (A speed run stopped by its time limit saves no final checkpoint: on 2026-12-04 the flash run did not.)
const checkpoint = [results.speed?.run, results.speed_flash?.run, 'tiny-gpu-f32']
  .filter(Boolean)
  .map((run) => path.join(outDir, run, 'final'))
  .find((dir) => fs.existsSync(dir));
results.generate = { checkpoint: checkpoint ?? null, devices: {} };
for (const device of checkpoint && part('generate') ? (dry ? ['cpu'] : ['cuda', 'cpu']) : []) {
  await attempt(`generate on ${device}`, async () => {
    const model = await Model.load(checkpoint, { device });
    const generation = model.generate('床前明月光', { maxNewTokens: 200, temperature: 0, seed: 1 });
    for await (const _ of generation) {
      /* drain */
    }
    const { tokensPerSec, firstTokenMs, newTokens } = generation.stats;
    results.generate.devices[device] = { tokens_per_sec: tokensPerSec, first_token_ms: firstTokenMs, new_tokens: newTokens };
    log(`  ${device}: ${tokensPerSec.toFixed(1)} tokens/s after a first token in ${firstTokenMs.toFixed(0)} ms (${path.basename(path.dirname(checkpoint))})`);
  });
}

// Continuous batching (what `minilm serve` does): 8 greedy generations at once against the same 8 one
// after another, on the GPU: the aggregate speed-up, and how many texts are the same both ways (on the
// CPU all of them are; the GPU's batched step uses cuBLAS, which promises no batch invariance).
log('== generate: 8 at once (continuous batching) against one after another, greedy, 100 new tokens');
for (const device of checkpoint && part('generate') ? [gpu] : []) {
  await attempt(`batched generate on ${device}`, async () => {
    const model = await Model.load(checkpoint, { device });
    const prompts = ['床前明月光', '春眠不觉晓', '白日依山尽', '千山鸟飞绝', '独在异乡为异客', '红豆生南国', '空山不见人', '松下问童子'];
    const run = async (prompt) => {
      const generation = model.generate(prompt, { maxNewTokens: 100, temperature: 0, seed: 1 });
      let text = '';
      for await (const piece of generation) text += piece;
      return { text, tokens: generation.stats.newTokens };
    };
    await run(prompts[0]); // warm-up
    const timed = async (work) => {
      const started = performance.now();
      const out = await work();
      return { out, tokensPerSec: (out.reduce((sum, r) => sum + r.tokens, 0) * 1000) / (performance.now() - started) };
    };
    const alone = await timed(async () => {
      const out = [];
      for (const prompt of prompts) out.push(await run(prompt));
      return out;
    });
    const together = await timed(() => Promise.all(prompts.map(run)));
    const identical = together.out.filter((r, i) => r.text === alone.out[i].text).length;
    results.generate.batched = {
      device,
      alone_tokens_per_sec: alone.tokensPerSec,
      together_tokens_per_sec: together.tokensPerSec,
      speedup: together.tokensPerSec / alone.tokensPerSec,
      identical,
      of: prompts.length,
    };
    log(
      `  ${device}: ${alone.tokensPerSec.toFixed(1)} -> ${together.tokensPerSec.toFixed(1)} tokens/s (${results.generate.batched.speedup.toFixed(2)}x); ${identical} of ${prompts.length} texts the same as alone`,
    );
  });
}

// The peer: transformers' LlamaForCausalLM (eager, its KV cache) on the same checkpoint exported to HF,
// on the GPU, when the machine's python has transformers.
if (!dry && checkpoint && part('generate')) {
  await attempt('transformers generate on cuda', async () => {
    const hf = path.join(outDir, 'hf-export');
    fs.rmSync(hf, { recursive: true, force: true });
    await exportHf(checkpoint, hf);
    const ids = Tokenizer.fromDir(checkpoint).encode('床前明月光');
    const python = process.env.GPU_CHECK_PYTHON ?? 'python3';
    const args = ['scripts/bench-generate-torch.py', '--device', 'cuda', '--model', hf, '--prompt_ids', JSON.stringify(ids), '--new_tokens', '200'];
    const run = spawnSync(python, args, { encoding: 'utf8', timeout: 120_000 });
    if (run.status !== 0) throw new Error((run.stderr || String(run.error)).trim().split('\n').at(-1));
    results.generate.transformers_cuda = JSON.parse(run.stdout.trim().split('\n').at(-1));
  });
}

/** The peer's last JSON line, or null when it did not run or failed. */
function peer(file) {
  if (!file || !fs.existsSync(file)) return null;
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8').trim().split('\n').at(-1));
  } catch {
    return null;
  }
}
results.pytorch = peer(torchJson);
results.pytorch_compile = peer(torchCompileJson);
fs.writeFileSync(path.join(outDir, 'results.json'), JSON.stringify(results, null, 2));

const pct = (x) => `${(100 * x).toFixed(1)}%`;
const row = (what, value, note = '') => log(`| ${what.padEnd(44)} | ${String(value).padStart(22)} | ${note}`);
log(`\n== GPU check summary${dry ? ' (DRY RUN on the CPU: numbers mean nothing)' : ''}`);
const exp = (x) => x.toExponential(1);
if (results.step_profile_total_ms) {
  row('step profile: sum of parts per micro-batch', `${results.step_profile_total_ms.toFixed(1)} ms`, 'the parts are listed above');
}
if (results.kernels) {
  const failed = results.kernels.filter((k) => !k.passed);
  row(
    `kernel check: ${results.kernels.length} comparisons`,
    failed.length === 0 ? 'PASS' : `${failed.length} FAILED`,
    failed
      .map((k) => `${k.dtype} ${k.name}`)
      .join(', ')
      .slice(0, 100),
  );
}
for (const [label, c, ok, limits] of [
  ['GPU f32', f32, pass.f32, '1e-3'],
  ['GPU bf16-mixed', bf16, pass.bf16, '3e-2 (loss), 5e-2 (grad norm)'],
]) {
  if (!correctness) row(`${label} vs CPU f32`, 'not run', 'GPU_CHECK_PARTS left out correctness');
  else if (c === null) row(`${label} vs CPU f32`, 'NO RESULT', 'see the failures below');
  else {
    row(`${label} vs CPU f32: step-1 loss, grad norm`, `${exp(c.step1_loss_rel)}, ${exp(c.step1_grad_norm_rel)}`, `relative; pass < ${limits}`);
    row(`${label} vs CPU f32: max loss over ${steps} steps`, exp(c.max_loss_rel), ok ? 'PASS' : 'FAIL');
  }
}
for (const [name, f] of Object.entries(results.finetune)) {
  if (f.gpu_f32 === null) row(`${name}: GPU f32 vs CPU f32`, 'NO RESULT', 'see the failures below');
  else row(`${name}: GPU f32 vs CPU f32, max loss (12 steps)`, exp(f.gpu_f32.max_loss_rel), f.gpu_f32.max_loss_rel < 1e-3 ? 'PASS' : 'FAIL');
  if (f.gpu_bf16_mixed)
    row(`${name}: GPU bf16-mixed vs CPU f32, max loss`, exp(f.gpu_bf16_mixed.max_loss_rel), f.gpu_bf16_mixed.max_loss_rel < 3e-2 ? 'PASS' : 'FAIL');
}
if (results.data_parallel) {
  const dp = results.data_parallel;
  row('data-parallel: 2 GPUs vs 1, max loss', exp(dp.max_loss_rel), dp.steps === 12 && dp.max_loss_rel < 1e-4 ? 'PASS' : 'FAIL');
  row('data-parallel: buckets vs whole sum', dp.buckets_same_bits ? 'same bits' : 'different', dp.buckets_same_bits ? 'PASS' : 'FAIL');
  row('data-parallel: sharded optimizer vs whole', dp.sharded_same_bits ? 'same bits' : 'different', dp.sharded_same_bits ? 'PASS' : 'FAIL');
}
for (const failed of results.speed_attempts)
  row(`train 108M bf16-mixed, ${failed.attention}, micro ${failed.micro_batch_size}`, 'FAILED', failed.error.slice(0, 80));
for (const sp of [results.speed, results.speed_flash]) {
  if (!sp) continue;
  row(
    `train tokens/s, 108M bf16, ${sp.attention}, micro ${sp.micro_batch_size} (${sp.steps} steps)`,
    Math.round(sp.tokens_per_sec).toLocaleString('en-US'),
    'target >= 520,000 at micro-batch 80',
  );
  row(`  MFU vs 989 TFLOP/s datasheet`, pct(sp.mfu_vs_datasheet), `${(sp.flops_per_token / 1e6).toFixed(1)} MFLOP/token`);
  row('  MFU as pretrain reports it', pct(sp.mfu_vs_run_peak), `${(sp.run_peak_flops / 1e12).toFixed(0)} TFLOP/s: ${sp.run_peak_flops_source}`);
  if (sp.forward_tokens_per_sec)
    row(
      '  forward only (validation), tokens/s',
      Math.round(sp.forward_tokens_per_sec).toLocaleString('en-US'),
      'a training step is about 3 forward passes of work',
    );
  row(
    '  peak GPU memory (nvidia-smi)',
    sp.peak_gpu_memory_mb === null ? '-' : `${(sp.peak_gpu_memory_mb / 1024).toFixed(1)} GiB`,
    `reference ~22 GB at micro-batch 80; estimated ${sp.estimated_peak_gpu_memory_gib.toFixed(2)} GiB`,
  );
}
const fastest = [results.speed, results.speed_flash].filter(Boolean).sort((a, b) => b.tokens_per_sec - a.tokens_per_sec)[0];
if (results.pytorch)
  row(
    'PyTorch eager bf16 autocast, 108M, micro 80',
    `${Math.round(results.pytorch.tokens_per_sec).toLocaleString('en-US')} tok/s`,
    fastest
      ? `minilm / PyTorch = ${(fastest.tokens_per_sec / results.pytorch.tokens_per_sec).toFixed(2)}x (minilm ${fastest.attention}, micro ${fastest.micro_batch_size})`
      : '',
  );
const hfPeer = results.generate.transformers_cuda;
if (hfPeer)
  row(
    'transformers eager generate batch 1 on cuda',
    `${hfPeer.tokens_per_sec.toFixed(1)} tok/s`,
    results.generate.devices.cuda ? `minilm / transformers = ${(results.generate.devices.cuda.tokens_per_sec / hfPeer.tokens_per_sec).toFixed(2)}x` : '',
  );
if (results.pytorch_compile)
  row(
    'PyTorch torch.compile bf16 autocast, micro 80',
    `${Math.round(results.pytorch_compile.tokens_per_sec).toLocaleString('en-US')} tok/s`,
    fastest ? `minilm / compiled = ${(fastest.tokens_per_sec / results.pytorch_compile.tokens_per_sec).toFixed(2)}x` : '',
  );
for (const [device, g] of Object.entries(results.generate.devices))
  row(
    `generate batch 1 on ${device}`,
    `${g.tokens_per_sec.toFixed(1)} tok/s`,
    `first token ${g.first_token_ms.toFixed(0)} ms; ${path.basename(path.dirname(results.generate.checkpoint))}`,
  );
const batched = results.generate.batched;
if (batched)
  row(
    `generate 8 at once on ${batched.device}`,
    `${batched.together_tokens_per_sec.toFixed(1)} tok/s`,
    `${batched.speedup.toFixed(2)}x one after another; ${batched.identical} of ${batched.of} texts as alone`,
  );
for (const failure of results.failures) row(`FAILED: ${failure.what}`, '', failure.error.slice(0, 100));
const kernelsPass = results.kernels === null || results.kernels.every((k) => k.passed); // null: not run (GPU_CHECK_PARTS)
const dataParallelPass =
  results.data_parallel === null ||
  (results.data_parallel.steps === 12 &&
    results.data_parallel.max_loss_rel < 1e-4 &&
    results.data_parallel.buckets_same_bits &&
    results.data_parallel.sharded_same_bits);
process.exit(pass.f32 && pass.bf16 && kernelsPass && finetunePass && dataParallelPass ? 0 : 2);

/** Polls nvidia-smi's used memory every half second; stop() resolves to the peak in MiB. */
function sampleGpuMemory() {
  let peak = 0;
  const child = spawn('nvidia-smi', ['--query-gpu=memory.used', '--format=csv,noheader,nounits', '-lms', '500'], { stdio: ['ignore', 'pipe', 'ignore'] });
  child.stdout.on('data', (chunk) => {
    for (const line of chunk.toString().split('\n')) if (line.trim()) peak = Math.max(peak, Number(line.trim()));
  });
  child.on('error', () => {});
  return {
    stop: () =>
      new Promise((resolve) => {
        child.kill();
        setTimeout(() => resolve(peak), 100);
      }),
  };
}
