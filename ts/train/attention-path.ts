// Which attention a training run on the GPU uses. Both paths compute the same function (the GPU check's
// kernel check and curves); they differ in speed and memory. The composite path (cuBLAS products and the
// fused causal softmax) keeps each layer's B x H x T x T probabilities for the backward pass; the flash
// kernels keep one log-sum-exp per query row instead. On the first GPU measured (H200, 2026-12-04,
// BENCHMARKS.md) the composite path trained the reference config at 318K tokens/s in 31.5 GiB, flash at
// 40K tokens/s in 19.4 GiB: so the composite path whenever its estimate fits the GPU, flash when only
// it fits. MINILM_ATTENTION=composite or =flash overrides the choice.
import type { PretrainConfig } from '../config/pretrain-config.js';
import type { TrainingPlacement } from '../device.js';
import { MinilmError } from '../errors.js';
import { type AttentionPath, estimatePeakMemory, gib, type SizedRun, sequencesPerItem } from './memory-estimate.js';

/** The head sizes the CUDA flash kernels are built for (model/fused/attention.rs FLASH_HEAD_SIZES). */
export const FLASH_HEAD_SIZES = [48, 64, 128];

export interface AttentionChoice {
  path: AttentionPath;
  /** Why, for the run's start line. */
  why: string;
}

/** Whether a GPU can run this model's attention on the flash kernels (bf16-true trains through candle's autograd, which has none). */
export function flashPossible(model: Pick<PretrainConfig['model'], 'head_size'>, precision: PretrainConfig['precision']): boolean {
  return FLASH_HEAD_SIZES.includes(model.head_size) && precision !== 'bf16-true';
}

/** The path a run takes on `placement`, and why; on the CPU always the composite path. */
export function chooseAttention(
  config: SizedRun,
  placement: Pick<TrainingPlacement, 'device' | 'precision' | 'memoryBytes'>,
  env: Record<string, string | undefined> = process.env,
): AttentionChoice {
  const asked = env.MINILM_ATTENTION;
  if (asked !== undefined && asked !== 'composite' && asked !== 'flash') {
    throw new MinilmError(`MINILM_ATTENTION=${asked}: expected composite or flash`, 'InvalidArg');
  }
  if (placement.device === 'cpu') return { path: 'composite', why: 'the CPU runs the composite path' };
  const flash = flashPossible(config.model, placement.precision);
  const flashUnavailable = `the flash kernels take head sizes ${FLASH_HEAD_SIZES.join(', ')} under 32-true or bf16-mixed`;
  if (asked === 'flash') {
    return flash ? { path: 'flash', why: 'MINILM_ATTENTION=flash' } : { path: 'composite', why: `MINILM_ATTENTION=flash, but ${flashUnavailable}` };
  }
  if (asked === 'composite') return { path: 'composite', why: 'MINILM_ATTENTION=composite' };
  const { micro_batch_size: micro, max_seq_length: seqLen } = config.train;
  const composite = estimatePeakMemory(
    config.model,
    micro * sequencesPerItem(config),
    seqLen,
    placement.precision,
    'composite',
    config.lora ?? null,
    config.optimizerShards,
  ).total;
  if (placement.memoryBytes === null || composite <= placement.memoryBytes) {
    return { path: 'composite', why: placement.memoryBytes === null ? 'the faster path' : `the faster path; its ${gib(composite)} fit` };
  }
  if (!flash) return { path: 'composite', why: `it needs ${gib(composite)}, but ${flashUnavailable}` };
  return { path: 'flash', why: `the composite path's ${gib(composite)} do not fit the GPU's ${gib(placement.memoryBytes)}` };
}
