// The peak GPU memory of a training step, counted from the model's shapes: what the step keeps alive at
// its peak, buffer by buffer, as crates/minilm-core/src/model/llama.rs and backprop.rs allocate them.
// A model of the allocations, not a measurement: scripts/gpu-check.sh records the measured peak beside it.
//
// The peak is during the backward pass of the first block (the last one walked): every block's
// activations are still kept (the forward pass's `Activations`, dropped only when backprop returns), the
// logits and their gradient are alive, most of this micro-batch's gradients are made, and one block's
// backward intermediates exist at once (Rust drops them at the end of `block_backward`, not at their
// last use). Shapes: B micro-batch, T sequence length, N = B T rows, C n_embd, H heads, G query groups,
// D head_size, I intermediate_size, V padded_vocab_size, L layers, P parameters.
import type { LoraSettings, ModelConfig, PretrainConfig } from '../config/pretrain-config.js';

export type Precision = PretrainConfig['precision'];
/** How attention runs on the GPU (ts/train/attention-path.ts chooses): the composite path keeps each
 * layer's T x T probabilities, flash one float32 log-sum-exp per query row and head. */
export type AttentionPath = 'composite' | 'flash';

/** Bytes at the step's peak, by what they hold. */
export interface MemoryEstimate {
  /** The parameters, plus their copies in the matmul dtype under bf16-mixed. */
  weights: number;
  gradients: number;
  /** AdamW's moments. */
  optimizer: number;
  /** What the forward pass keeps for the backward pass, the logits and their gradient. */
  activations: number;
  /** One block's backward intermediates, cuBLAS's workspace and the CUDA context. */
  workspace: number;
  total: number;
}

const MiB = 2 ** 20;
const GiB = 2 ** 30;
const FLOAT32 = 4;
// cuBLAS's default workspace on Hopper (4 MiB before it); candle's matmuls use one cuBLAS handle.
const CUBLAS_WORKSPACE = 32 * MiB;
// The CUDA context (driver state, the loaded kernels' code) is counted, as a fixed ~0.5 GiB: the device's
// total memory, which the estimate is compared with, includes it, and nvidia-smi's reading shows it.
const CUDA_CONTEXT = 0.5 * GiB;

/** Bytes per element of the weights and of the activations and matmuls (model/precision.rs). */
function dtypeBytes(precision: Precision): { weight: number; compute: number } {
  switch (precision) {
    case '32-true':
      return { weight: 4, compute: 4 };
    case 'bf16-mixed':
      return { weight: 4, compute: 2 };
    case 'bf16-true':
      return { weight: 2, compute: 2 };
  }
}

/** Parameter counts by role, as parameters.rs creates them (a tied lm_head is the embedding). */
export function parameterCounts(m: ModelConfig): { layerMatmuls: number; head: number; total: number } {
  const { n_embd: c, n_head: h, n_query_groups: g, head_size: d, intermediate_size: i } = m;
  // qkv (H + 2G) D x C, attention's projection C x H D, fc_1 and fc_2 I x C, the MLP's projection C x I.
  const layerMatmuls = (h + 2 * g) * d * c + c * h * d + 3 * i * c;
  const layerNorms = 2 * c;
  const embedding = m.padded_vocab_size * c;
  const head = embedding; // the lm_head's matmul weight, whether or not it is the embedding
  const total = m.n_layer * (layerMatmuls + layerNorms) + embedding + (m.tie_embeddings ? 0 : head) + c;
  return { layerMatmuls, head, total };
}

/** LoRA's counts (model/lora.rs): the values it trains (each adapted weight's A, r x in, and B, out x r)
 * and the adapted weights' own, of which the trainer keeps a copy to merge into. */
export function loraCounts(m: ModelConfig, lora: Pick<LoraSettings, 'r' | 'targets'>): { adapters: number; adapted: number } {
  const { n_embd: c, n_head: h, n_query_groups: g, head_size: d, intermediate_size: i } = m;
  // (out, in) of each target's weights in one layer.
  const shapes: Record<LoraSettings['targets'][number], [number, number][]> = {
    qkv: [[(h + 2 * g) * d, c]],
    proj: [[c, h * d]],
    mlp: [
      [i, c],
      [i, c],
      [c, i],
    ],
    head: [],
  };
  const perLayer = lora.targets.flatMap((t) => shapes[t]);
  const all = [...Array.from({ length: m.n_layer }, () => perLayer).flat(), ...(lora.targets.includes('head') ? [[m.padded_vocab_size, c]] : [])];
  return {
    adapters: all.reduce((sum, [out, inputs]) => sum + lora.r * (out + inputs), 0),
    adapted: all.reduce((sum, [out, inputs]) => sum + out * inputs, 0),
  };
}

/**
 * The peak memory of one micro-batch's forward and backward pass (and the optimizer's state beside it);
 * `lora`: a LoRA run's, whose optimizer and gradient sum hold the adapters alone; `optimizerShards`: the
 * ranks that share the optimizer's state (minilm.shard_optimizer), each holding its shard.
 */
export function estimatePeakMemory(
  m: ModelConfig,
  microBatch: number,
  seqLen: number,
  precision: Precision,
  attention: AttentionPath,
  lora: Pick<LoraSettings, 'r' | 'targets'> | null = null,
  optimizerShards = 1,
): MemoryEstimate {
  const { weight, compute } = dtypeBytes(precision);
  const { n_embd: c, n_head: h, n_query_groups: g, head_size: d, intermediate_size: i, n_layer: layers } = m;
  const rows = microBatch * seqLen;
  const params = parameterCounts(m);
  const adapters = lora === null ? null : loraCounts(m, lora);

  // The master weights; under bf16-mixed also the bfloat16 copies the matmuls use, kept per block in
  // `MatmulWeights` (and the head's in `Activations`) so that the backward pass does not cast again.
  // LoRA adds the adapters (float32) and the copy of the adapted weights that each merge starts from.
  const copies = weight === compute ? 0 : (layers * params.layerMatmuls + params.head) * compute;
  const loraWeights = adapters === null ? 0 : adapters.adapters * FLOAT32 + adapters.adapted * weight;
  const weights = params.total * weight + copies + loraWeights;

  // The float32 (bf16-true: bfloat16) sum of the step's earlier micro-batches (trainer.rs adds each
  // micro-batch's gradients into it), plus this micro-batch's own, which backprop.rs makes in the matmul
  // dtype (the norms' few float32 ones counted the same). Counted as if accumulating, as the reference
  // config does (640 / 80 = 8 micro-batches); with one micro-batch per step the sum is not there.
  // Under LoRA the backward pass still makes every weight's gradient, but the sum (and the adapters'
  // gradients read off them) is the adapters' alone, in float32.
  const sum = adapters === null ? params.total * weight : 2 * adapters.adapters * FLOAT32;
  const gradients = sum + params.total * compute;

  // AdamW's moments m and v, float32 under every precision (train/optimizer.rs), of what it trains; of
  // the largest shard when the ranks shard them (collective.rs's shard_ranges).
  const optimizer = 2 * Math.ceil((adapters === null ? params.total : adapters.adapters) / optimizerShards) * FLOAT32;

  // Kept per block (`BlockActivations`), per row, in the compute dtype: the block's input, norm_1's
  // output h1, the rotated queries (H D), keys and values (G D each, head-major), the attention's output
  // with the heads merged (H D), the residual after attention (mid), norm_2's output h2, and the MLP's
  // gate, up and gated (I each); plus what attention keeps: flash, a float32 log-sum-exp per query row
  // and head; the composite path, each head's row of T probabilities in the compute dtype.
  const attentionRow = attention === 'flash' ? h * FLOAT32 : h * seqLen * compute;
  const perBlockRow = (4 * c + 2 * h * d + 2 * g * d + 3 * i) * compute + attentionRow;
  // After the blocks: the last block's output and the final norm's (`last`, `normed`), the logits and
  // their gradient (cross_entropy_with_grad writes dlogits into a new buffer; the logits stay kept), and
  // the gradient of the final norm's output, which backprop holds until it returns.
  const headRow = (3 * c + 2 * m.padded_vocab_size) * compute;
  const activations = rows * (layers * perBlockRow + headRow);

  // One block's backward intermediates, all alive when `block_backward` returns (per row, compute dtype):
  // the gradient coming in, d_h2 from gate and from up, d_mid_norm, d_mid, d_h1, d_input_norm and the
  // gradient going out (C each); d_gated, d_gate, d_up (I each); d_y and its heads split (H D each); the
  // queries', keys' and values' gradients and their merged (B T, (H + 2G) D) form.
  // The composite path adds the gradients of the probabilities and of the scores (T per row and head).
  const attentionBackwardRow = attention === 'flash' ? 0 : 2 * h * seqLen * compute;
  const blockBackwardRow = (8 * c + 3 * i + 2 * h * d + 2 * (h + 2 * g) * d) * compute + attentionBackwardRow;
  const workspace = rows * blockBackwardRow + CUBLAS_WORKSPACE + CUDA_CONTEXT;

  return { weights, gradients, optimizer, activations, workspace, total: weights + gradients + optimizer + activations + workspace };
}

/**
 * The largest micro-batch whose estimate fits in `memoryBytes`, 0 if not even one does. The estimate
 * grows with the micro-batch, so a doubling then a bisection finds it.
 */
export function largestFittingMicroBatch(
  m: ModelConfig,
  seqLen: number,
  precision: Precision,
  attention: AttentionPath,
  memoryBytes: number,
  lora: LoraSettings | null = null,
  optimizerShards = 1,
): number {
  const fits = (b: number) => estimatePeakMemory(m, b, seqLen, precision, attention, lora, optimizerShards).total <= memoryBytes;
  if (!fits(1)) return 0;
  let low = 1; // fits
  let high = 2;
  while (fits(high)) [low, high] = [high, high * 2];
  while (high - low > 1) {
    const mid = Math.floor((low + high) / 2);
    if (fits(mid)) low = mid;
    else high = mid;
  }
  return low;
}

export function gib(bytes: number): string {
  return `${(bytes / GiB).toFixed(2)} GiB`;
}

/** The dry run's line. */
export function describeMemoryEstimate(e: MemoryEstimate): string {
  return (
    `estimated peak GPU memory: ${gib(e.total)} (weights ${gib(e.weights)}, gradients ${gib(e.gradients)}, ` +
    `optimizer ${gib(e.optimizer)}, activations ${gib(e.activations)}, workspace ${gib(e.workspace)})`
  );
}

/**
 * What sizes a run's memory, from its config: the model, batch, DPO's pairs and LoRA, and
 * `optimizerShards`, the ranks sharing the optimizer's state (1 unless minilm.shard_optimizer: see
 * `optimizerShards()`).
 */
export type SizedRun = Pick<PretrainConfig, 'model' | 'train'> & { dpo?: PretrainConfig['dpo']; lora?: PretrainConfig['lora']; optimizerShards?: number };

/** How many ranks share the optimizer's state: the world under minilm.shard_optimizer, else 1. */
export function optimizerShards(config: Pick<PretrainConfig, 'shard_optimizer'>, world: number): number {
  return config.shard_optimizer ? world : 1;
}

/** Sequences per item of a micro-batch: DPO's item is a pair, a chosen and a rejected reply. */
export function sequencesPerItem(config: { dpo?: PretrainConfig['dpo'] }): number {
  return config.dpo ? 2 : 1;
}

/**
 * A warning when the run's estimate exceeds the GPU's `memoryBytes`, naming the largest micro-batch that
 * would fit; null when it fits, and when the memory is unknown (null: on the CPU, or not reported).
 */
export function memoryWarning(config: SizedRun, precision: Precision, attention: AttentionPath, memoryBytes: number | null): string | null {
  if (memoryBytes === null) return null;
  const { model, train } = config;
  const perItem = sequencesPerItem(config);
  const lora = config.lora ?? null;
  const shards = config.optimizerShards ?? 1;
  const estimate = estimatePeakMemory(model, train.micro_batch_size * perItem, train.max_seq_length, precision, attention, lora, shards);
  if (estimate.total <= memoryBytes) return null;
  const exceeds = `${describeMemoryEstimate(estimate)} exceeds the GPU's ${gib(memoryBytes)}`;
  const fitting = Math.floor(largestFittingMicroBatch(model, train.max_seq_length, precision, attention, memoryBytes, lora, shards) / perItem);
  if (fitting === 0) return `${exceeds}, even at train.micro_batch_size 1: shorten train.max_seq_length or choose a smaller model`;
  // global_batch_size must stay a multiple of micro_batch_size; the largest such divisor keeps the step.
  let divisor = fitting;
  while (train.global_batch_size % divisor !== 0) divisor--;
  const keep = divisor === fitting ? '' : ` (${divisor} divides train.global_batch_size ${train.global_batch_size})`;
  return `${exceeds}: train.micro_batch_size ${fitting} would fit${keep}`;
}
