// The peak GPU memory estimate: the reference config's dry run prints it (within what the reference
// PyTorch run needs on a 24 GB card), it scales with the micro-batch as the kept activations do, a tiny
// config's figure matches a count by hand, and a run too big for its GPU is told which micro-batch fits.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { loadPretrainConfig, modelSize, type ModelConfig } from '../ts/config/pretrain-config.js';
import { estimatePeakMemory, largestFittingMicroBatch, loraCounts, memoryWarning, optimizerShards, parameterCounts } from '../ts/train/memory-estimate.js';
import { repoRoot, runCli } from './support/cli.js';

const GiB = 2 ** 30;
const referenceFile = path.join(repoRoot, 'configs/pretrain.yaml');
const reference = loadPretrainConfig({ configFile: referenceFile });

test("the reference config's dry run prints both attention paths' estimates, each within 5% of the H200's measured peak", async () => {
  const result = await runCli(['pretrain', '--config', referenceFile, '--dry_run']);
  const totals: Record<string, number> = {};
  for (const line of result.stdout.matchAll(
    /^estimated peak GPU memory: (\d+\.\d\d) GiB \(weights (\d+\.\d\d) GiB, gradients (\d+\.\d\d) GiB, optimizer (\d+\.\d\d) GiB, activations (\d+\.\d\d) GiB, workspace (\d+\.\d\d) GiB\) with (composite|flash) attention/gm,
  )) {
    const [total, ...parts] = line.slice(1, 7).map(Number);
    assert.ok(Math.abs(parts.reduce((a, b) => a + b) - total) < 0.03, 'the parts add up to the total');
    totals[line[7]] = total;
  }
  assert.deepEqual(Object.keys(totals).sort(), ['composite', 'flash'], result.stdout + result.stderr);
  // nvidia-smi's peak on the H200 at micro-batch 80 (benchmarks/gpu/2026-12-04-ab79325.json), which also
  // holds the allocator's cache: flash 19.4 GiB (within the reference's 22 GB card), composite 31.5 GiB.
  assert.ok(Math.abs(totals.flash / 19.4 - 1) < 0.05, `flash ${totals.flash} GiB`);
  assert.ok(Math.abs(totals.composite / 31.5 - 1) < 0.05, `composite ${totals.composite} GiB`);
  // The data check comes after it (its data_path may not be prepared here: then it fails on stderr).
  const data = result.stdout.indexOf('\ndata: train');
  assert.ok(data === -1 || data > result.stdout.indexOf('estimated peak GPU memory'));
});

test("the estimate counts the model's own parameters, tied or untied", () => {
  const untied = { ...reference.model, tie_embeddings: false };
  for (const model of [reference.model, untied]) {
    assert.equal(parameterCounts(model).total, modelSize(model, 512).parameters);
  }
});

test("a LoRA run's estimate holds the adapters' optimizer and gradient sum, and a copy of the adapted weights", () => {
  const m = reference.model;
  const lora = { r: 8, targets: ['qkv', 'proj', 'mlp'] as ('qkv' | 'proj' | 'mlp' | 'head')[] };
  // By hand for the reference model (C 768, H 16, G 8, D 48, I 2048, 16 layers), each weight out x in:
  // qkv 1536 x 768, proj 768 x 768, fc_1 and fc_2 2048 x 768, the MLP's proj 768 x 2048.
  const adapters = 16 * 8 * (1536 + 768 + (768 + 768) + 3 * (2048 + 768));
  const adapted = 16 * (1536 * 768 + 768 * 768 + 3 * 2048 * 768);
  assert.deepEqual(loraCounts(m, lora), { adapters, adapted });
  assert.equal(adapters, 1_572_864); // lora.safetensors of bench:lora: 6.0 MiB of float32
  const full = estimatePeakMemory(m, 8, 512, '32-true', 'flash');
  const tuned = estimatePeakMemory(m, 8, 512, '32-true', 'flash', lora);
  const total = parameterCounts(m).total;
  assert.equal(tuned.optimizer, 2 * adapters * 4);
  assert.equal(tuned.weights, full.weights + adapters * 4 + adapted * 4);
  assert.equal(tuned.gradients, full.gradients - total * 4 + 2 * adapters * 4);
  assert.equal(tuned.activations, full.activations);
  assert.ok(tuned.total < full.total, `${tuned.total} against ${full.total}`);
});

test("ranks that shard the optimizer's state each hold the largest shard of its moments, and nothing else changes", () => {
  const m = reference.model;
  const total = parameterCounts(m).total;
  const whole = estimatePeakMemory(m, 80, 512, 'bf16-mixed', 'composite');
  const sharded = estimatePeakMemory(m, 80, 512, 'bf16-mixed', 'composite', null, 3);
  assert.equal(sharded.optimizer, 2 * Math.ceil(total / 3) * 4);
  assert.equal(whole.total - sharded.total, whole.optimizer - sharded.optimizer);
  assert.deepEqual([optimizerShards({ shard_optimizer: true }, 8), optimizerShards({ shard_optimizer: false }, 8)], [8, 1]);
});

test('activations and workspace grow linearly with the micro-batch; weights, gradients and the optimizer stay', () => {
  const at = (b: number) => estimatePeakMemory(reference.model, b, 512, 'bf16-mixed', 'flash');
  const [one, two, eighty] = [at(1), at(2), at(80)];
  for (const part of ['weights', 'gradients', 'optimizer'] as const) assert.equal(two[part], one[part], part);
  assert.equal(eighty.activations, 80 * one.activations);
  assert.equal(eighty.workspace - one.workspace, 79 * (two.workspace - one.workspace));
  assert.ok(at(80).total > at(79).total);
  // float32 activations take twice bf16's room, except the attention's log-sum-exp (float32 in both):
  // 80 x 512 rows x 16 heads x 16 layers x 4 bytes.
  const logSumExp = 80 * 512 * 16 * 16 * 4;
  assert.equal(estimatePeakMemory(reference.model, 80, 512, '32-true', 'flash').activations, 2 * eighty.activations - logSumExp);
});

test("the composite path adds each layer's bf16 probabilities, and one layer's two gradients of them", () => {
  const [flash, composite] = (['flash', 'composite'] as const).map((path) => estimatePeakMemory(reference.model, 80, 512, 'bf16-mixed', path));
  const probabilities = 80 * 16 * 512 * 512 * 2; // B H T T in bf16: 640 MiB
  const logSumExp = 80 * 512 * 16 * 4;
  assert.equal(composite.activations - flash.activations, 16 * (probabilities - logSumExp));
  assert.equal(composite.workspace - flash.workspace, 2 * probabilities);
});

test('a tiny config gives the figure counted by hand', () => {
  // 1 layer, n_embd 4, 2 heads of size 2 in 1 query group, MLP 8, vocabulary 16, tied; micro-batch 2 of
  // 3 tokens = 6 rows; bf16-mixed (bfloat16 2 bytes, float32 4).
  // Parameters: wte 16 x 4 = 64; qkv (2 + 2) heads x 2 = 8 rows x 4 = 32; proj 4 x 4 = 16; fc_1, fc_2 and
  // the MLP's proj 8 x 4 = 32 each (96); norm_1, norm_2, ln_f 4 each (12): 64 + 32 + 16 + 96 + 12 = 220.
  // weights: 220 x 4 = 880, + bf16 copies of the block's matmuls (32 + 16 + 96 = 144) and the head (the
  //   tied wte, 64): 208 x 2 = 416 -> 1296.
  // gradients: the float32 sum 220 x 4 = 880 + this micro-batch's in bf16 220 x 2 = 440 -> 1320.
  // optimizer: m and v, 2 x 220 x 4 = 1760.
  // activations per row: the block's input, h1, mid, h2 (4 each, 16), queries 4, keys 2, values 2, the
  //   attention output 4, gate, up, gated (8 each, 24): 52 bf16 = 104 bytes, + the log-sum-exp, 2 heads x 4
  //   = 8 -> 112; after the block: last, normed and normed's gradient (12), logits and their gradient
  //   (32): 44 bf16 = 88. 6 rows x (112 + 88) = 1200.
  // workspace per row: 8 gradients of width 4 (32), d_gated, d_gate, d_up (24), d_y and its heads (8),
  //   the queries', keys' and values' gradients (4 + 2 + 2) and their merged form (8): 80 bf16 = 160 bytes;
  //   6 x 160 = 960, + cuBLAS's 32 MiB + the CUDA context's 0.5 GiB.
  const tiny: ModelConfig = {
    name: 'tiny',
    block_size: 3,
    vocab_size: 16,
    padded_vocab_size: 16,
    n_layer: 1,
    n_head: 2,
    n_embd: 4,
    head_size: 2,
    n_query_groups: 1,
    rotary_percentage: 1,
    rope_base: 10000,
    norm_eps: 1e-5,
    intermediate_size: 8,
    tie_embeddings: true,
  };
  const workspace = 960 + 32 * 2 ** 20 + 0.5 * GiB;
  assert.deepEqual(estimatePeakMemory(tiny, 2, 3, 'bf16-mixed', 'flash'), {
    weights: 1296,
    gradients: 1320,
    optimizer: 1760,
    activations: 1200,
    workspace,
    total: 1296 + 1320 + 1760 + 1200 + workspace,
  });
});

test('a run whose estimate exceeds the GPU is told the largest micro-batch that fits', () => {
  const config = { model: reference.model, train: { ...reference.train, micro_batch_size: 80, global_batch_size: 640 } };
  const bytesAt = (b: number) => estimatePeakMemory(reference.model, b, 512, 'bf16-mixed', 'flash').total;
  assert.equal(memoryWarning(config, 'bf16-mixed', 'flash', null), null, 'no warning when the memory is unknown (the CPU)');
  assert.equal(memoryWarning(config, 'bf16-mixed', 'flash', bytesAt(80)), null, 'no warning when it fits');

  assert.equal(largestFittingMicroBatch(reference.model, 512, 'bf16-mixed', 'flash', bytesAt(40)), 40);
  assert.equal(largestFittingMicroBatch(reference.model, 512, 'bf16-mixed', 'flash', bytesAt(41) - 1), 40);
  const warning = memoryWarning(config, 'bf16-mixed', 'flash', bytesAt(40) + 1);
  assert.match(warning!, /^estimated peak GPU memory: \d+\.\d\d GiB \(.*\) exceeds the GPU's \d+\.\d\d GiB: train\.micro_batch_size 40 would fit$/);
  // 45 fits but does not divide the global batch of 640: the warning also names the largest that does.
  assert.match(memoryWarning(config, 'bf16-mixed', 'flash', bytesAt(45))!, /train\.micro_batch_size 45 would fit \(40 divides train\.global_batch_size 640\)$/);
  assert.match(
    memoryWarning(config, 'bf16-mixed', 'flash', 1 * GiB)!,
    /even at train\.micro_batch_size 1: shorten train\.max_seq_length or choose a smaller model$/,
  );
  // DPO's item is a pair: two sequences of the micro-batch each.
  const dpo = { ...config, dpo: { beta: 0.1, loss_type: 'sigmoid' as const, label_smoothing: 0 } };
  assert.match(memoryWarning(dpo, 'bf16-mixed', 'flash', bytesAt(80))!, /train\.micro_batch_size 40 would fit$/);
  assert.match(memoryWarning(dpo, 'bf16-mixed', 'flash', bytesAt(40) + 1)!, /train\.micro_batch_size 20 would fit$/);
});
