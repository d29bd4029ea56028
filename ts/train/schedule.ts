// litgpt's learning rate: linear warmup, then cosine decay to min_lr, evaluated per micro-iteration.
// An optimizer step uses the rate of its last micro-iteration, whose index is counted before the
// increment (litgpt sets the rate, then bumps iter_num), so step s of a run with accumulation A uses
// lrAt(s * A - 1). That makes the very first step's rate 0, as in litgpt.

export interface Schedule {
  lr: number;
  minLr: number;
  /** Micro-iterations of warmup. */
  warmupIters: number;
  /** Micro-iterations in the whole run (max_tokens / tokens per micro-batch). */
  maxIters: number;
}

export function lrAt(it: number, s: Schedule): number {
  if (it < s.warmupIters) return (s.lr * it) / s.warmupIters;
  if (it > s.maxIters) return s.minLr;
  const decayRatio = (it - s.warmupIters) / (s.maxIters - s.warmupIters);
  const coeff = 0.5 * (1 + Math.cos(Math.PI * decayRatio));
  return s.minLr + coeff * (s.lr - s.minLr);
}

/** litgpt's warmup length: lr_warmup_steps optimizer steps, or a fraction of the first epoch. */
export function warmupIters(options: {
  lrWarmupSteps: number;
  lrWarmupFraction: number | null;
  accumulation: number;
  maxIters: number;
  itersPerEpoch: number;
}): number {
  const iters =
    options.lrWarmupFraction !== null
      ? options.lrWarmupFraction * Math.min(options.maxIters, options.itersPerEpoch)
      : options.lrWarmupSteps * options.accumulation;
  return Math.min(options.maxIters, iters);
}
