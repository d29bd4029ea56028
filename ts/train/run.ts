// `pretrain`: drives the native trainer through a litgpt-style run: the schedule, validation, logging
// (CSV + TensorBoard), checkpoints every save_interval steps and at the end, exact resume, and a clean
// stop on an AbortSignal (Ctrl-C / SIGTERM in the CLI) that saves a checkpoint first.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { native } from '../native.js';
import { fromNative, MinilmError } from '../errors.js';
import type { PretrainConfig } from '../config/pretrain-config.js';
import { CsvMetricsLogger, litgptCsvMetricsFile } from '../log/csv-metrics.js';
import { TensorBoardWriter } from '../log/tensorboard.js';
import { lrAt, warmupIters, type Schedule } from './schedule.js';
import { chooseDevice } from './device.js';
import { lockFolder } from '../lock.js';
import { pruneCheckpoints, resumeCheckpoint, stepFolderName, writeCheckpoint } from './checkpoints.js';

export interface TrainerInfo {
  parameters: number;
  flops_per_token: number;
  train_dir: string;
  train_windows: number;
  train_tokens: number;
  val_dir: string | null;
  val_windows: number;
}

export type PretrainEvent =
  | { type: 'start'; info: TrainerInfo; totalSteps: number; resumedFrom: string | null; step: number; peakFlops: number; peakFlopsSource: string; device: string; precision: string; whyNotGpu: string | null }
  | { type: 'step'; step: number; totalSteps: number; iter: number; tokens: number; loss: number; learning_rate: number; grad_norm: number; tokens_per_sec: number; mfu: number; eta_seconds: number }
  | { type: 'validation'; step: number; val_loss: number; val_ppl: number }
  | { type: 'checkpoint'; step: number; dir: string }
  | { type: 'warning'; message: string };

export interface PretrainSummary {
  steps: number;
  tokens: number;
  loss: number | null;
  val_loss: number | null;
  out_dir: string;
  final_dir: string;
  seconds: number;
}

export interface PretrainOptions {
  onLog?: (event: PretrainEvent) => void;
  signal?: AbortSignal;
  /** 'auto' (default): the GPU when usable, else the CPU; 'cuda' fails with the reason when it is not; 'cpu'. Overrides MINILM_DEVICE. */
  device?: 'auto' | 'cuda' | 'cpu';
}

const CSV_COLUMNS = ['step', 'iter', 'tokens', 'loss', 'learning_rate', 'grad_norm', 'tokens_per_sec', 'mfu', 'val_loss', 'val_ppl'];
const STATE_FORMAT = 'minilm-checkpoint-1';

/** What must not change between a run and its resumption: the model, the data and the batch order. */
function settingsHash(config: PretrainConfig): string {
  const { model, data, seed } = config;
  const { micro_batch_size, gradient_accumulation_steps, max_seq_length } = config.train;
  const settings = { model, data, seed, micro_batch_size, gradient_accumulation_steps, max_seq_length };
  return createHash('sha256').update(JSON.stringify(settings)).digest('hex').slice(0, 16);
}

export async function pretrain(config: PretrainConfig, options: PretrainOptions = {}): Promise<PretrainSummary> {
  const { onLog = () => {}, signal, device: requested } = options;
  for (const message of config.warnings) onLog({ type: 'warning', message });
  const { train } = config;
  const tokensPerMicroBatch = train.micro_batch_size * train.max_seq_length;
  const maxIters = Math.floor(train.max_tokens / tokensPerMicroBatch);
  const totalSteps = Math.min(Math.floor(maxIters / train.gradient_accumulation_steps), train.max_steps ?? Infinity);
  if (totalSteps < 1) {
    throw new MinilmError(`train.max_tokens ${train.max_tokens} is less than one optimizer step (${tokensPerMicroBatch * train.gradient_accumulation_steps} tokens); raise it`, 'InvalidArg');
  }
  const initialWeights = config.initial_checkpoint_dir === null ? null : path.join(config.initial_checkpoint_dir, 'model.safetensors');
  if (initialWeights !== null && !fs.existsSync(initialWeights)) {
    throw new MinilmError(`initial_checkpoint_dir: ${config.initial_checkpoint_dir} has no model.safetensors; expected a checkpoint folder written by minilm pretrain (step-XXXXXXXX or final)`, 'InvalidArg');
  }

  const env = requested === undefined ? process.env : { ...process.env, MINILM_DEVICE: requested === 'auto' ? undefined : requested };
  const placement = chooseDevice(config, env);
  for (const message of placement.warnings) onLog({ type: 'warning', message });
  const lock = lockFolder(config.out_dir, 'minilm pretrain');
  const trainer = new (native().NativeTrainer)();
  const call = async <T>(work: Promise<unknown>): Promise<T> => {
    try {
      return JSON.parse((await work) as string) as T;
    } catch (error) {
      throw fromNative(error);
    }
  };
  try {
    const info = await call<TrainerInfo>(trainer.open(JSON.stringify({
      model: config.model,
      seed: config.seed,
      data_path: config.data.data_path,
      split_names: config.data.split_names,
      micro_batch_size: train.micro_batch_size,
      seq_len: train.max_seq_length,
      accumulation: train.gradient_accumulation_steps,
      optimizer: { weight_decay: config.optimizer.weight_decay, betas: config.optimizer.betas, eps: config.optimizer.eps },
      max_norm: train.max_norm,
      initial_weights: initialWeights,
      device: placement.device,
      precision: placement.precision,
    })));
    if (info.val_dir === null) {
      onLog({ type: 'warning', message: `${config.data.data_path} has no validation split (val/): validation is skipped; \`minilm prepare\` writes one with --val_fraction` });
    }
    const schedule: Schedule = {
      lr: config.optimizer.lr,
      minLr: train.min_lr,
      maxIters,
      warmupIters: warmupIters({
        lrWarmupSteps: train.lr_warmup_steps,
        lrWarmupFraction: train.lr_warmup_fraction,
        accumulation: train.gradient_accumulation_steps,
        maxIters,
        itersPerEpoch: Math.floor(info.train_windows / train.micro_batch_size),
      }),
    };

    let step = 0;
    let tokens = 0;
    const resumeDir = resumeCheckpoint(config);
    if (resumeDir !== null) {
      const state = await call<{ format?: string; step: number; tokens: number; settings: string }>(trainer.restore(resumeDir));
      if (state.format !== STATE_FORMAT) throw new MinilmError(`${resumeDir}/state.json is not a ${STATE_FORMAT} state`, 'InvalidArg');
      if (state.settings !== settingsHash(config)) {
        throw new MinilmError(
          `cannot resume from ${resumeDir}: it was trained with a different model, data path, seed, micro_batch_size, ` +
            'global_batch_size or max_seq_length, so the run would not continue where it stopped. Restore those settings, ' +
            'or start a new run in another out_dir (initial_checkpoint_dir takes its weights).', 'InvalidArg');
      }
      ({ step, tokens } = state);
    }
    const peak = await call<{ flops: number; measured: boolean; source: string }>(trainer.peakFlops());
    let peakFlops = peak.flops;
    const { device, precision, whyNotGpu } = placement;
    onLog({ type: 'start', info, totalSteps, resumedFrom: resumeDir, step, peakFlops, peakFlopsSource: peak.source, device, precision, whyNotGpu });

    fs.mkdirSync(config.out_dir, { recursive: true });
    const csv = CsvMetricsLogger.open(litgptCsvMetricsFile(config.out_dir), CSV_COLUMNS, resumeDir !== null ? { resumeAfterStep: step } : {});
    const tensorboard = new TensorBoardWriter(path.join(config.out_dir, 'logs', 'tensorboard'));
    const started = Date.now();
    let lastLoss: number | null = null;
    let lastVal: number | null = null;

    const validate = async (maxIters: number) => {
      const valLoss = await call<number | null>(trainer.evaluate(maxIters));
      if (valLoss === null) return;
      lastVal = valLoss;
      const metrics = { val_loss: valLoss, val_ppl: Math.exp(valLoss) };
      onLog({ type: 'validation', step, ...metrics });
      csv.log(step, { iter: step * train.gradient_accumulation_steps, tokens, ...metrics });
      tensorboard.addScalars(step, metrics);
    };
    const save = async (dir: string) => {
      const extra = { format: STATE_FORMAT, step, iter_num: step * train.gradient_accumulation_steps, tokens, settings: settingsHash(config) };
      await writeCheckpoint(dir, config, (tmp) => call(trainer.save(tmp, JSON.stringify(extra))));
      onLog({ type: 'checkpoint', step, dir });
    };

    try {
      if (resumeDir === null && config.eval.initial_validation) await validate(config.eval.max_iters);
      // tokens/s counts the training steps' own time, as litgpt's throughput does: validation and
      // checkpoint saves between two log lines would otherwise show up as dips.
      let windowSeconds = 0;
      let windowTokens = 0;
      let savedStep = resumeDir === null ? -1 : step;
      const firstStep = step;
      while (step < totalSteps) {
        if (signal?.aborted) {
          if (step !== savedStep) await save(path.join(config.out_dir, stepFolderName(step)));
          throw new MinilmError(`stopped at step ${step}; run again with resume: auto (--resume auto) to continue`, 'Cancelled');
        }
        const learningRate = lrAt((step + 1) * train.gradient_accumulation_steps - 1, schedule);
        const stepStart = Date.now();
        const stats = await call<{ loss: number; grad_norm: number; tokens: number }>(trainer.step(learningRate));
        windowSeconds += (Date.now() - stepStart) / 1000;
        step += 1;
        tokens += stats.tokens;
        windowTokens += stats.tokens;
        lastLoss = stats.loss;
        if (step % train.log_interval === 0 || step === totalSteps) {
          const tokensPerSec = windowTokens / Math.max(windowSeconds, 1e-9);
          const achieved = tokensPerSec * info.flops_per_token;
          // A measured peak can be low (a busy moment when it was timed): the run's own rate is a
          // better lower bound. A datasheet peak stays; beating it would mean a wrong FLOP count.
          if (achieved > peakFlops && peak.measured) {
            if (peakFlops === peak.flops) {
              onLog({ type: 'warning', message: `this run's rate (${(achieved / 1e12).toFixed(3)} TFLOP/s) beat the measured matmul peak (${(peak.flops / 1e12).toFixed(3)}); MFU is against the run's best rate from here on` });
            }
            peakFlops = achieved;
          }
          const elapsed = (Date.now() - started) / 1000;
          const metrics = {
            iter: step * train.gradient_accumulation_steps,
            tokens,
            loss: stats.loss,
            learning_rate: learningRate,
            grad_norm: stats.grad_norm,
            tokens_per_sec: tokensPerSec,
            mfu: achieved / peakFlops,
          };
          onLog({ type: 'step', step, totalSteps, ...metrics, eta_seconds: (elapsed / (step - firstStep)) * (totalSteps - step) });
          csv.log(step, metrics);
          tensorboard.addScalars(step, { loss: stats.loss, learning_rate: learningRate, tokens_per_sec: tokensPerSec, mfu: metrics.mfu, grad_norm: stats.grad_norm });
          windowSeconds = 0;
          windowTokens = 0;
        }
        if (step % config.eval.interval === 0 && step < totalSteps) await validate(config.eval.max_iters);
        if (step % train.save_interval === 0) {
          await save(path.join(config.out_dir, stepFolderName(step)));
          savedStep = step;
          pruneCheckpoints(config.out_dir, config.keep_last_checkpoints);
        }
      }
      // litgpt's final validation runs over the whole validation split.
      if (config.eval.final_validation) await validate(Math.ceil(info.val_windows / train.micro_batch_size));
      const finalDir = path.join(config.out_dir, 'final');
      await save(finalDir);
      return { steps: step, tokens, loss: lastLoss, val_loss: lastVal, out_dir: config.out_dir, final_dir: finalDir, seconds: (Date.now() - started) / 1000 };
    } finally {
      csv.close();
      tensorboard.close();
    }
  } finally {
    trainer.close();
    lock.release();
  }
}
