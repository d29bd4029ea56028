// How long a run is and litgpt's learning rate for each of its steps. The two commands litgpt has
// count differently, and minilm follows each:
// - pretraining (litgpt's pretrain.py) sets the rate per micro-batch of each rank: linear warmup, then
//   cosine decay to min_lr over max_tokens / world / (micro_batch_size x seq_len) micro-batches;
// - fine-tuning (finetune/full.py) moves it once per optimizer step, warmup then cosine over the run's
//   steps (torch's LambdaLR and CosineAnnealingLR), whatever the accumulation and the world size.
// An optimizer step uses the rate of its last iteration, whose index is counted before the increment
// (litgpt sets the rate, then bumps iter_num): step s (from 0) uses lrAt((s + 1) x itersPerStep - 1),
// so a run's first step has rate 0, as in litgpt. The rates are checked against litgpt's own code in
// test/schedule.test.ts.
import type { PretrainConfig } from '../config/pretrain-config.js';
import { MinilmError } from '../errors.js';

export interface Schedule {
  lr: number;
  minLr: number;
  /** Iterations per optimizer step: a rank's micro-batches (pretraining), or 1 (fine-tuning). */
  itersPerStep: number;
  /** Iterations of warmup. */
  warmupIters: number;
  /** Iterations in the whole run. */
  maxIters: number;
}

/** What of a run's config its length and rates depend on. */
export interface RunLengthSettings {
  train: Pick<
    PretrainConfig['train'],
    'micro_batch_size' | 'gradient_accumulation_steps' | 'max_seq_length' | 'max_tokens' | 'max_steps' | 'min_lr' | 'lr_warmup_steps' | 'lr_warmup_fraction'
  >;
  optimizer: Pick<PretrainConfig['optimizer'], 'lr'>;
  /** Fine-tuning's epochs; null when pretraining. */
  sft: Pick<NonNullable<PretrainConfig['sft']>, 'epochs'> | null;
}

/** How long a run is: its optimizer steps, and the rate of each. */
export interface RunPlan {
  totalSteps: number;
  schedule: Schedule;
}

export function lrAt(it: number, s: Schedule): number {
  if (it < s.warmupIters) return (s.lr * it) / s.warmupIters;
  if (it > s.maxIters) return s.minLr;
  const decayRatio = (it - s.warmupIters) / (s.maxIters - s.warmupIters);
  const coeff = 0.5 * (1 + Math.cos(Math.PI * decayRatio));
  return s.minLr + coeff * (s.lr - s.minLr);
}

/** The learning rate of optimizer step `step` (counted from 0). */
export function stepLr(step: number, s: Schedule): number {
  return lrAt((step + 1) * s.itersPerStep - 1, s);
}

/**
 * The run's length, from train.max_tokens (pretraining) or train.epochs (fine-tuning) and max_steps, for
 * `world` data-parallel ranks over `trainWindows` training windows (fine-tuning: examples). The steps do
 * not depend on the world size. A pretraining rank's rates do, as in litgpt: they are those of one process
 * whose micro-batch is micro_batch_size x world, so 2 ranks of micro-batch 4 follow 1 process of 8.
 */
export function planRun(config: RunLengthSettings, trainWindows: number, world: number): RunPlan {
  const { train, optimizer } = config;
  const rates = { lr: optimizer.lr, minLr: train.min_lr };
  const accumulation = train.gradient_accumulation_steps;
  if (config.sft !== null) {
    // An epoch is ceil(examples / micro_batch_size) micro-batches, run in whole steps.
    const stepsPerEpoch = Math.max(1, Math.floor(Math.ceil(trainWindows / train.micro_batch_size) / accumulation));
    const totalSteps = Math.min(config.sft.epochs * stepsPerEpoch, train.max_steps ?? Infinity);
    // litgpt's warmup here may outlast the run (torch's LambdaLR is not capped): the rate then never peaks.
    return { totalSteps, schedule: { ...rates, itersPerStep: 1, maxIters: totalSteps, warmupIters: warmupIters(train, 1, Infinity, stepsPerEpoch) } };
  }
  const itersPerStep = accumulation / world;
  const tokensPerIter = train.micro_batch_size * train.max_seq_length;
  const maxIters = Math.floor(train.max_tokens / world / tokensPerIter);
  const totalSteps = Math.min(Math.floor(maxIters / itersPerStep), train.max_steps ?? Infinity);
  if (totalSteps < 1) {
    throw new MinilmError(
      `train.max_tokens ${train.max_tokens} is less than one optimizer step (${tokensPerIter * accumulation} tokens); raise it`,
      'InvalidArg',
    );
  }
  const itersPerEpoch = Math.floor(trainWindows / (train.micro_batch_size * world));
  return { totalSteps, schedule: { ...rates, itersPerStep, maxIters, warmupIters: warmupIters(train, itersPerStep, maxIters, itersPerEpoch) } };
}

/** litgpt's warmup: lr_warmup_steps optimizer steps, or lr_warmup_fraction of an epoch (rounded up), up to `maxIters`. */
function warmupIters(
  train: Pick<PretrainConfig['train'], 'lr_warmup_steps' | 'lr_warmup_fraction'>,
  itersPerStep: number,
  maxIters: number,
  itersPerEpoch: number,
): number {
  const iters = train.lr_warmup_fraction !== null ? Math.ceil(train.lr_warmup_fraction * itersPerEpoch) : train.lr_warmup_steps * itersPerStep;
  return Math.min(maxIters, iters);
}
