// `pretrain`: drives the native trainer through a litgpt-style run: the schedule, validation, logging
// (CSV + TensorBoard), checkpoints every save_interval steps and at the end, exact resume, and a clean
// stop on an AbortSignal (Ctrl-C / SIGTERM in the CLI) that saves a checkpoint first.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { native } from '../native.js';
import { runJob } from '../job.js';
import { isCancelled, MinilmError } from '../errors.js';
import type { PretrainConfig } from '../config/pretrain-config.js';
import type {
  DataParallelSettings,
  DpoStats,
  NativeTrainer,
  PeakFlops,
  PrepareProgress,
  SftDataSummary,
  StepStats,
  TrainerInfo,
  WeightsFormat,
} from '../../native/index.js';
import { readModelFolder } from '../config/model-folder.js';
import { CsvMetricsLogger, litgptCsvMetricsFile } from '../log/csv-metrics.js';
import { TensorBoardWriter } from '../log/tensorboard.js';
import { planRun, type RunPlan, stepLr } from './schedule.js';
import { chooseDevice, type DeviceRequest, type TrainingPlacement } from '../device.js';
import { type AttentionChoice, chooseAttention } from './attention-path.js';
import { type AttentionPath, memoryWarning, optimizerShards } from './memory-estimate.js';
import { lockFolder } from '../lock.js';
import { FINAL_FOLDER, stepFolderName } from '../checkpoint.js';
import { pruneCheckpoints, resumeCheckpoint, writeCheckpoint } from './checkpoints.js';
import { type DataParallelPlan, Joining, planDataParallel, shardingWarning } from './data-parallel.js';
import { ranksFromEnv } from '../ranks.js';

export type { DpoStats, SftDataSummary, TrainerInfo } from '../../native/index.js';

export type PretrainEvent =
  | {
      type: 'start';
      info: TrainerInfo;
      /** An SFT run: the data are examples, not windows. */
      sft: boolean;
      /** Packed SFT: info's windows are rows of several examples. */
      packing: boolean;
      /** DPO: info's windows are preference pairs. */
      dpo: boolean;
      totalSteps: number;
      resumedFrom: string | null;
      step: number;
      peakFlops: number;
      peakFlopsSource: string;
      device: string;
      precision: string;
      whyNotGpu: string | null;
      /** The attention path on the GPU and why (train/attention-path.ts). */
      attention: AttentionChoice;
    }
  | {
      type: 'step';
      step: number;
      totalSteps: number;
      /** litgpt's iter_num: this rank's micro-batches so far. */
      iter: number;
      tokens: number;
      loss: number;
      learning_rate: number;
      grad_norm: number;
      tokens_per_sec: number;
      mfu: number;
      eta_seconds: number;
      /** SFT: the share of the step's positions that were padding (examples are padded to the longest row of a micro-batch); null for pretraining's full windows. */
      padding: number | null;
      /** DPO's figures over the step's pairs (TRL's rewards and log-probabilities), null for other runs. */
      dpo: DpoStats | null;
    }
  /** `sources`: a mixture's val loss per source. */
  /** val_bpb: bits per UTF-8 byte, null when no tokenizer was found to count bytes. */
  | {
      type: 'validation';
      step: number;
      val_loss: number;
      val_ppl: number;
      val_bpb: number | null;
      sources: Record<string, number>;
      /** DPO's figures over the validation pairs (val_loss is then their mean DPO loss). */
      dpo: DpoStats | null;
    }
  /** A mixture source with on_exhausted 'stop' would run out in the next step: the run ends here. */
  | { type: 'exhausted'; step: number; source: string }
  | { type: 'checkpoint'; step: number; dir: string }
  /** SFT: the conversations are being made into examples (before training starts). */
  | { type: 'sft-data-progress'; progress: PrepareProgress }
  | { type: 'sft-data'; summary: SftDataSummary }
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
  device?: DeviceRequest;
}

const CSV_COLUMNS = ['step', 'iter', 'tokens', 'loss', 'learning_rate', 'grad_norm', 'tokens_per_sec', 'mfu', 'val_loss', 'val_ppl', 'val_bpb'];

/** metrics.csv's columns: litgpt's, then for a mixture tokens/NAME and val_loss/NAME per source, for DPO TRL's figures and their val_ twins. */
function csvColumns(config: PretrainConfig): string[] {
  const names = config.data.mixture?.sources.map((s) => s.name) ?? [];
  const dpo = config.dpo === null ? [] : [...DPO_COLUMNS, ...DPO_COLUMNS.map((c) => `val_${c}`)];
  return [...CSV_COLUMNS, ...names.map((n) => `tokens/${n}`), ...names.map((n) => `val_loss/${n}`), ...dpo];
}

/** TRL's names for DPO's figures, as logged by its DPOTrainer. */
export const DPO_COLUMNS = ['rewards/chosen', 'rewards/rejected', 'rewards/accuracies', 'rewards/margins', 'logps/chosen', 'logps/rejected'];

/** A DPO step's or validation's figures under TRL's names, `prefix`ed (val_). */
function dpoMetrics(stats: DpoStats | null | undefined, prefix = ''): Record<string, number> {
  if (stats == null) return {};
  const values = [stats.rewardsChosen, stats.rewardsRejected, stats.rewardsAccuracies, stats.rewardsMargins, stats.logpsChosen, stats.logpsRejected];
  return Object.fromEntries(DPO_COLUMNS.map((name, i) => [`${prefix}${name}`, values[i]]));
}

export async function pretrain(config: PretrainConfig, options: PretrainOptions = {}): Promise<PretrainSummary> {
  const { signal, device } = options;
  const placement = chooseDevice(config, process.env, device);
  const parallel = planDataParallel(config, ranksFromEnv(), placement.device);
  // In a data-parallel run, rank 0 tells the story; the others' errors still throw.
  const onLog = parallel.writer ? (options.onLog ?? (() => {})) : () => {};
  for (const message of config.warnings) onLog({ type: 'warning', message });
  const lone = shardingWarning(config, parallel.ranks.world);
  if (lone !== null) onLog({ type: 'warning', message: lone });
  const start = initialWeights(config);
  for (const message of placement.warnings) onLog({ type: 'warning', message });
  if (config.sft?.packing && placement.device !== 'cpu') {
    throw new MinilmError(
      `minilm.packing is not supported on the GPU yet (its attention kernels take one conversation per row): set minilm.packing to false, or train on the CPU (MINILM_DEVICE=cpu, or the library's device: 'cpu')`,
      'InvalidArg',
    );
  }
  const sized = { ...config, optimizerShards: optimizerShards(config, parallel.ranks.world) };
  const attention = chooseAttention(sized, placement);
  const memory = memoryWarning(sized, placement.precision, attention.path, placement.memoryBytes);
  if (memory !== null) onLog({ type: 'warning', message: memory });
  const lock = parallel.writer ? lockFolder(config.out_dir, config.dpo !== null ? 'minilm dpo' : config.sft === null ? 'minilm pretrain' : 'minilm sft') : null;
  const trainer = new (native().NativeTrainer)();
  let endMpi = false;
  let joining: Joining | undefined;
  try {
    joining = new Joining(parallel);
    // A fine-tuning run's examples: rank 0 prepares them while the other ranks wait, then they reuse them.
    const fineTuning = config.sft !== null;
    let dataParallel = fineTuning && !parallel.writer ? await joining.settings(true) : undefined;
    const sftData = fineTuning ? await prepareSftExamples(config, onLog, signal) : null;
    if (!fineTuning || parallel.writer) dataParallel = await joining.settings(fineTuning);
    const info = await openTrainer(trainer, config, start, placement, attention.path, sftData, parallel, dataParallel);
    const plan = planRun(config, info.trainWindows, parallel.ranks.world);
    if (config.sft !== null && info.valDir == null) {
      onLog({
        type: 'warning',
        message: 'no conversation was held out for validation: set data.init_args.val_split_fraction (0.05, say) to see the validation loss',
      });
    } else if (config.data.mixture !== null) {
      const without = info.sources.filter((s) => s.valWindows === 0).map((s) => s.name);
      if (without.length > 0) {
        onLog({ type: 'warning', message: `mixture sources without a validation split (val/): ${without.join(', ')}; their val_loss is not logged` });
      }
    } else if (info.valDir == null) {
      onLog({
        type: 'warning',
        message: `${config.data.data_path} has no validation split (val/): validation is skipped; \`minilm prepare\` writes one with --val_fraction`,
      });
    }
    const resumeDir = resumeCheckpoint(config);
    const position = resumeDir === null ? { step: 0, tokens: 0, sourceTokens: info.sources.map(() => 0) } : await runJob(() => trainer.restore(resumeDir));
    const peak = await runJob(() => trainer.peakFlops());
    const { precision, whyNotGpu } = placement;
    onLog({
      type: 'start',
      info,
      sft: config.sft !== null,
      packing: config.sft?.packing ?? false,
      dpo: config.dpo !== null,
      totalSteps: plan.totalSteps,
      resumedFrom: resumeDir,
      step: position.step,
      peakFlops: peak.flops,
      peakFlopsSource: peak.source,
      device: parallel.device,
      precision,
      whyNotGpu,
      attention,
    });
    const run = new TrainingLoop(trainer, config, plan, info, peak, onLog, resumeDir, position, parallel);
    const summary = await run.toTheEnd(signal);
    endMpi = true;
    return summary;
  } catch (error) {
    // Every rank stops at the same step when asked to (TrainingLoop); any other error ends this rank
    // alone, and MPI must not be finalised while the others wait on it: mpirun then ends the job.
    endMpi = isCancelled(error);
    throw error;
  } finally {
    joining?.close();
    trainer.close();
    lock?.release();
    if (endMpi && parallel.ranks.world > 1) native().finalizeDataParallel();
  }
}

/**
 * Supervised fine-tuning: `config` comes from loadSftConfig (litgpt's finetune_full keys). The run is
 * pretrain's loop over the conversations' examples, with the same logs, checkpoints and resume.
 */
export function sft(config: PretrainConfig, options: PretrainOptions = {}): Promise<PretrainSummary> {
  if (config.sft === null) {
    return Promise.reject(new MinilmError('sft() takes a config from loadSftConfig; a pretraining config goes to pretrain()', 'InvalidArg'));
  }
  return pretrain(config, options);
}

/**
 * Preference tuning (`minilm dpo`): DPO on prompt / chosen / rejected pairs against the frozen starting
 * checkpoint, whose log-probabilities are computed once (cached in out_dir/sft-data), then sft's loop
 * with TRL's figures in the logs.
 */
export function dpo(config: PretrainConfig, options: PretrainOptions = {}): Promise<PretrainSummary> {
  if (config.dpo === null) {
    return Promise.reject(new MinilmError('dpo() takes a config from loadDpoConfig', 'InvalidArg'));
  }
  return pretrain(config, options);
}

/** The weights a run starts from: initial_checkpoint_dir's (SFT: checkpoint_dir's), or null for a fresh model. */
function initialWeights(config: PretrainConfig): { path: string; format: WeightsFormat; adapters: string[] } | null {
  if (config.initial_checkpoint_dir === null) return null;
  // Any model folder: minilm's checkpoints (LoRA's too), litgpt's, or an HF export.
  const folder = readModelFolder(config.initial_checkpoint_dir);
  return { path: folder.weights, format: folder.format, adapters: folder.adapters };
}

/** SFT: the conversations rendered, tokenized and masked into out_dir/sft-data (reused when unchanged). */
async function prepareSftExamples(config: PretrainConfig, onLog: (event: PretrainEvent) => void, signal?: AbortSignal): Promise<SftDataSummary> {
  const sft = config.sft!;
  const summary = await runJob(
    (job) =>
      native().prepareSftData(
        {
          jsonPath: sft.json_path,
          outputDir: config.data.data_path,
          tokenizerDir: config.tokenizer_dir!,
          format: sft.format ?? undefined,
          maskPrompt: sft.mask_prompt,
          maxSeqLength: config.train.max_seq_length,
          valSplitFraction: sft.val_split_fraction,
          seed: sft.data_seed,
          preferences: config.dpo !== null,
        },
        job,
      ),
    { signal, onProgress: (progress) => onLog({ type: 'sft-data-progress', progress }) },
  );
  onLog({ type: 'sft-data', summary });
  return summary;
}

/** What must not change between a run and its resumption: the model, the data and the batch order. */
function runSettings(config: PretrainConfig, sftData: SftDataSummary | null): string {
  const { model, data, seed, sft, dpo, lora } = config;
  const { micro_batch_size, gradient_accumulation_steps, max_seq_length } = config.train;
  // Without a mixture, the digest is what it was before mixtures existed, so older checkpoints resume.
  const dataSettings = data.mixture === null ? { data_path: data.data_path, split_names: data.split_names } : data;
  const settings = {
    model,
    data: dataSettings,
    seed,
    micro_batch_size,
    gradient_accumulation_steps,
    max_seq_length,
    sft,
    // Left out when null, so that the digests of runs from before DPO existed do not change.
    ...(dpo === null ? {} : { dpo }),
    ...(lora === null ? {} : { lora }),
    sftData: sftData?.fingerprint ?? null,
  };
  return createHash('sha256').update(JSON.stringify(settings)).digest('hex').slice(0, 16);
}

function openTrainer(
  trainer: NativeTrainer,
  config: PretrainConfig,
  start: ReturnType<typeof initialWeights>,
  placement: TrainingPlacement,
  attention: AttentionPath,
  sftData: SftDataSummary | null,
  parallel: DataParallelPlan,
  dataParallel: DataParallelSettings | undefined,
): Promise<TrainerInfo> {
  const { train } = config;
  return runJob(() =>
    trainer.open({
      model: config.model,
      seed: config.seed,
      dataPath: config.data.data_path,
      dataKind: config.sft === null ? 'windows' : 'sft',
      splitNames: config.data.split_names ?? undefined,
      mixture: config.data.mixture === null ? undefined : { sources: config.data.mixture.sources, onExhausted: config.data.mixture.on_exhausted },
      microBatchSize: train.micro_batch_size,
      seqLen: train.max_seq_length,
      accumulation: parallel.accumulation,
      dataParallel: dataParallel && { ...dataParallel, shardOptimizer: config.shard_optimizer },
      optimizer: { weightDecay: config.optimizer.weight_decay, betas: config.optimizer.betas, eps: config.optimizer.eps },
      maxNorm: train.max_norm,
      initialWeights: start?.path,
      initialWeightsFormat: start?.format,
      initialAdapters: start?.adapters,
      device: parallel.device,
      precision: placement.precision,
      runSettings: runSettings(config, sftData),
      tokenizerDir: config.tokenizer_dir ?? undefined,
      attention,
      packing: config.sft?.packing ?? false,
      dpo: config.dpo === null ? undefined : { beta: config.dpo.beta, lossType: config.dpo.loss_type, labelSmoothing: config.dpo.label_smoothing },
      lora: config.lora === null ? undefined : { ...config.lora, baseDir: loraBase(config) },
    }),
  );
}

/** The folder a LoRA run's checkpoints name as their base: the checkpoint it fine-tunes. */
function loraBase(config: PretrainConfig): string {
  if (config.initial_checkpoint_dir === null) {
    throw new MinilmError('lora: a LoRA run adapts a checkpoint; set checkpoint_dir', 'InvalidArg');
  }
  return config.initial_checkpoint_dir;
}

/**
 * tokens/s over the steps since the last log line, counting the steps' own time as litgpt's throughput
 * does (validation and saves between two lines would otherwise show up as dips), and MFU against a
 * peak that the run's own rate may raise.
 */
class Throughput {
  private seconds = 0;
  private tokens = 0;
  private peakFlops: number;

  constructor(
    private readonly peak: PeakFlops,
    private readonly flopsPerToken: number,
    private readonly onLog: (event: PretrainEvent) => void,
  ) {
    this.peakFlops = peak.flops;
  }

  add(seconds: number, tokens: number): void {
    this.seconds += seconds;
    this.tokens += tokens;
  }

  /** The window's rate and MFU; starts the next window. */
  take(): { tokensPerSec: number; mfu: number } {
    const tokensPerSec = this.tokens / Math.max(this.seconds, 1e-9);
    const achieved = tokensPerSec * this.flopsPerToken;
    // A measured peak can be low (a busy moment when it was timed): the run's own rate is a better
    // lower bound. A datasheet peak stays; beating it would mean a wrong FLOP count.
    if (achieved > this.peakFlops && this.peak.measured) {
      if (this.peakFlops === this.peak.flops) {
        this.onLog({
          type: 'warning',
          message: `this run's rate (${(achieved / 1e12).toFixed(3)} TFLOP/s) beat the measured matmul peak (${(this.peak.flops / 1e12).toFixed(3)}); MFU is against the run's best rate from here on`,
        });
      }
      this.peakFlops = achieved;
    }
    this.seconds = 0;
    this.tokens = 0;
    return { tokensPerSec, mfu: achieved / this.peakFlops };
  }
}

/** The steps from where the run stands to the end: logging, validation and checkpoints along the way. */
class TrainingLoop {
  private step: number;
  private tokens: number;
  /** A mixture's tokens per source, in config order. */
  private sourceTokens: number[];
  private lastLoss: number | null = null;
  private lastVal: number | null = null;
  /** Rank 0's logs; null on the other ranks of a data-parallel run. */
  private readonly csv: CsvMetricsLogger | null;
  private readonly tensorboard: TensorBoardWriter | null;

  constructor(
    private readonly trainer: NativeTrainer,
    private readonly config: PretrainConfig,
    private readonly plan: RunPlan,
    private readonly info: TrainerInfo,
    private readonly peak: PeakFlops,
    private readonly onLog: (event: PretrainEvent) => void,
    private readonly resumeDir: string | null,
    start: { step: number; tokens: number; sourceTokens: number[] },
    private readonly parallel: DataParallelPlan,
  ) {
    ({ step: this.step, tokens: this.tokens, sourceTokens: this.sourceTokens } = start);
    if (parallel.writer) {
      fs.mkdirSync(config.out_dir, { recursive: true });
      const csvFile = litgptCsvMetricsFile(config.out_dir);
      this.csv = CsvMetricsLogger.open(csvFile, csvColumns(config), resumeDir !== null ? { resumeAfterStep: this.step } : {});
      this.tensorboard = new TensorBoardWriter(path.join(config.out_dir, 'logs', 'tensorboard'));
    } else {
      this.csv = null;
      this.tensorboard = null;
    }
  }

  /** Whether to stop before the next step: asked here, or (data-parallel) on any rank, so that all stop together. */
  private async stopping(signal: AbortSignal | undefined): Promise<boolean> {
    const asked = signal?.aborted ?? false;
    return this.parallel.ranks.world === 1 ? asked : await runJob(() => this.trainer.anyRank(asked));
  }

  async toTheEnd(signal: AbortSignal | undefined): Promise<PretrainSummary> {
    const { config, plan } = this;
    const { train } = config;
    const started = Date.now();
    try {
      if (this.resumeDir === null && config.eval.initial_validation) await this.validate(config.eval.max_iters);
      // A step's tokens are every rank's, so the peak is every rank's too (each measured or looked up its own).
      const world = this.parallel.ranks.world;
      const throughput = new Throughput({ ...this.peak, flops: this.peak.flops * world }, this.info.flopsPerToken, this.onLog);
      let savedStep = this.resumeDir === null ? -1 : this.step;
      const firstStep = this.step;
      while (this.step < plan.totalSteps) {
        if (await this.stopping(signal)) {
          if (this.step !== savedStep) await this.save(path.join(config.out_dir, stepFolderName(this.step)));
          throw new MinilmError(`stopped at step ${this.step}; run again with resume: auto (--resume auto) to continue`, 'Cancelled');
        }
        const exhausted = this.trainer.exhaustedSource();
        if (exhausted !== null) {
          this.onLog({ type: 'exhausted', step: this.step, source: exhausted });
          break;
        }
        const learningRate = stepLr(this.step, plan.schedule);
        const stepStart = Date.now();
        const stats = await runJob(() => this.trainer.step(learningRate));
        throughput.add((Date.now() - stepStart) / 1000, stats.tokens);
        this.step += 1;
        this.tokens += stats.tokens;
        stats.sourceTokens.forEach((n, i) => {
          this.sourceTokens[i] += n;
        });
        for (const { source, epoch } of stats.newEpochs) {
          this.onLog({
            type: 'warning',
            message: `mixture source ${source} ran out of windows at step ${this.step}: starting its epoch ${epoch + 1} (on_exhausted: repeat; set stop to end the run instead)`,
          });
        }
        this.lastLoss = stats.loss;
        if (this.step % train.log_interval === 0 || this.step === plan.totalSteps) {
          const elapsed = (Date.now() - started) / 1000;
          this.logStep(stats, learningRate, throughput.take(), (elapsed / (this.step - firstStep)) * (plan.totalSteps - this.step));
        }
        if (this.step % config.eval.interval === 0 && this.step < plan.totalSteps) await this.validate(config.eval.max_iters);
        if (this.step % train.save_interval === 0) {
          await this.save(path.join(config.out_dir, stepFolderName(this.step)));
          savedStep = this.step;
          if (this.parallel.writer) pruneCheckpoints(config.out_dir, config.keep_last_checkpoints);
        }
      }
      // The final validation scores the whole split, as litgpt's fine-tuning does (its pretraining stops at
      // eval.max_iters): the run's last figure is then the split's own, the one `minilm eval` reports.
      if (config.eval.final_validation) await this.validate(Math.ceil(this.info.valWindows / train.micro_batch_size));
      const finalDir = path.join(config.out_dir, FINAL_FOLDER);
      await this.save(finalDir);
      return {
        steps: this.step,
        tokens: this.tokens,
        loss: this.lastLoss,
        val_loss: this.lastVal,
        out_dir: config.out_dir,
        final_dir: finalDir,
        seconds: (Date.now() - started) / 1000,
      };
    } finally {
      this.csv?.close();
      this.tensorboard?.close();
    }
  }

  private logStep(stats: StepStats, learningRate: number, rate: { tokensPerSec: number; mfu: number }, etaSeconds: number): void {
    const { step } = this;
    const metrics = {
      iter: step * this.parallel.accumulation,
      tokens: this.tokens,
      loss: stats.loss,
      learning_rate: learningRate,
      grad_norm: stats.gradNorm,
      tokens_per_sec: rate.tokensPerSec,
      mfu: rate.mfu,
    };
    const padding = this.config.sft === null ? null : 1 - stats.tokens / Math.max(1, stats.positions);
    const dpo = stats.dpo ?? null;
    this.onLog({ type: 'step', step, totalSteps: this.plan.totalSteps, ...metrics, eta_seconds: etaSeconds, padding, dpo });
    const perSource = Object.fromEntries(this.info.sources.map((s, i) => [`tokens/${s.name}`, this.sourceTokens[i]]));
    this.csv?.log(step, { ...metrics, ...perSource, ...dpoMetrics(dpo) });
    this.tensorboard?.addScalars(step, {
      loss: stats.loss,
      learning_rate: learningRate,
      tokens_per_sec: rate.tokensPerSec,
      mfu: rate.mfu,
      grad_norm: stats.gradNorm,
      ...perSource,
      ...dpoMetrics(dpo),
    });
  }

  private async validate(maxIters: number): Promise<void> {
    const evaluation = await runJob(() => this.trainer.evaluate(maxIters));
    if (evaluation.loss == null) return;
    const valLoss = evaluation.loss;
    this.lastVal = valLoss;
    const bpb = evaluation.bitsPerByte ?? null;
    // DPO's loss is not a per-token likelihood: no perplexity for it.
    const perplexity: Record<string, number> = evaluation.dpo == null ? { val_ppl: Math.exp(valLoss) } : {};
    const metrics = { val_loss: valLoss, ...perplexity, ...(bpb === null ? {} : { val_bpb: bpb }), ...dpoMetrics(evaluation.dpo, 'val_') };
    const sources = Object.fromEntries(evaluation.sources.map((s) => [s.source, s.loss]));
    const perSource = Object.fromEntries(evaluation.sources.map((s) => [`val_loss/${s.source}`, s.loss]));
    this.onLog({ type: 'validation', step: this.step, ...metrics, val_ppl: Math.exp(valLoss), val_bpb: bpb, sources, dpo: evaluation.dpo ?? null });
    this.csv?.log(this.step, { iter: this.step * this.parallel.accumulation, tokens: this.tokens, ...metrics, ...perSource });
    this.tensorboard?.addScalars(this.step, { ...metrics, ...perSource });
  }

  /**
   * Rank 0 writes the checkpoint (of the weights every rank holds); the other ranks hand it their shards
   * of a sharded optimizer's state (minilm.shard_optimizer), or go on at once.
   */
  private async save(dir: string): Promise<void> {
    if (!this.parallel.writer) {
      await runJob(() => this.trainer.shareForSave());
      return;
    }
    await writeCheckpoint(dir, this.config, (tmp) => runJob(() => this.trainer.save(tmp)));
    this.onLog({ type: 'checkpoint', step: this.step, dir });
  }
}
