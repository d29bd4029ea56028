// `minilm pretrain --config FILE [--dry_run] [--train.micro_batch_size 4 --out_dir out/x ...]`: litgpt's
// pretrain YAML as it is, with litgpt-style dotted overrides after it.
import type { Argv } from 'yargs';
import { loadPretrainConfig, modelSize, type PretrainConfig } from '../config/pretrain-config.js';
import { native } from '../native.js';
import { callNative } from '../job.js';
import { type DpoStats, pretrain, type PretrainEvent, type PretrainSummary, type SftDataSummary, type TrainerInfo } from '../train/run.js';
import { ProgressDisplay } from '../log/progress.js';
import { formatCount, formatDuration, shellPath, thousands } from '../log/format.js';
import { stopOnSignals } from './signals.js';
import { launchRanks } from './launch-ranks.js';
import { ranksFromEnv } from '../ranks.js';
import { requestedRanks, unevenBatch } from '../train/data-parallel.js';
import { MinilmError } from '../errors.js';
import { chooseDevice } from '../device.js';
import { chooseAttention, flashPossible } from '../train/attention-path.js';
import { type AttentionPath, describeMemoryEstimate, estimatePeakMemory, memoryWarning, optimizerShards, sequencesPerItem } from '../train/memory-estimate.js';
import { PRETRAIN_SCHEMA } from '../config/pretrain-schema.js';
import { overrideHelp } from './override-help.js';

const OWN_FLAGS = new Set(['--config', '--dry_run', '--dry-run']);

/** The tokens after `pretrain` that are not minilm's own flags: litgpt-style overrides. */
export function overrideTokens(argv: string[], command = 'pretrain', ownFlags = OWN_FLAGS): string[] {
  const rest = argv.slice(argv.indexOf(command) + 1);
  const out: string[] = [];
  for (let i = 0; i < rest.length; i++) {
    const [flag] = rest[i].split('=');
    if (ownFlags.has(flag)) {
      if (!rest[i].includes('=') && (flag === '--config' || flag === '--format')) i++;
      continue;
    }
    out.push(rest[i]);
  }
  return out;
}

export function describe(config: PretrainConfig): string[] {
  const m = config.model;
  const t = config.train;
  const { parameters, flopsPerToken: flops } = modelSize(m, t.max_seq_length);
  return [
    `model ${m.name || '(unnamed)'}: ${thousands(parameters)} parameters (${m.tie_embeddings ? 'tied' : 'untied'} embeddings), ` +
      `${m.n_layer} layers, n_embd ${m.n_embd}, ${m.n_head} heads of ${m.head_size}, ${m.n_query_groups} query groups, ` +
      `MLP ${m.intermediate_size}, vocab ${m.vocab_size} (padded ${m.padded_vocab_size}), block ${m.block_size}`,
    `batch: ${t.micro_batch_size} x ${t.max_seq_length} tokens, ${t.gradient_accumulation_steps} micro-batches per step ` +
      `(global ${t.global_batch_size}); ${config.sft ? `${config.sft.epochs} epochs` : `${formatCount(t.max_tokens)} tokens`}${t.max_steps === null ? '' : ` or ${thousands(t.max_steps)} steps`}; ` +
      `${(flops / 1e6).toFixed(1)} MFLOP per token`,
    `optimizer: AdamW lr ${config.optimizer.lr} -> ${t.min_lr}, warmup ${t.lr_warmup_fraction ?? `${t.lr_warmup_steps} steps`}, ` +
      `weight decay ${config.optimizer.weight_decay}, betas ${config.optimizer.betas.join('/')}, clip ${t.max_norm}`,
    config.dpo
      ? `dpo: ${config.dpo.loss_type} loss, beta ${config.dpo.beta}, label_smoothing ${config.dpo.label_smoothing}; ` +
        `pairs ${config.sft!.json_path} (${config.sft!.val_split_fraction} held out); reference and start ${config.initial_checkpoint_dir}`
      : config.sft
        ? `data: ${config.sft.json_path} (${config.sft.format ?? 'format detected per file'}; mask_prompt ${config.sft.mask_prompt}; ` +
          `${config.sft.val_split_fraction} held out${config.sft.packing ? '; packed' : ''}); from ${config.initial_checkpoint_dir}`
        : config.data.mixture
          ? `data: mixture of ${config.data.mixture.sources.map((s) => `${s.name} ${s.weight} (${s.path})`).join(', ')}; on_exhausted ${config.data.mixture.on_exhausted}`
          : `data: ${config.data.data_path}${config.data.split_names ? ` (${config.data.split_names.join(', ')})` : ''}`,
    `out_dir: ${config.out_dir}; save every ${t.save_interval} steps; validate every ${config.eval.interval} steps; precision ${config.precision}, devices ${config.devices}${config.num_nodes > 1 ? ` on each of ${config.num_nodes} nodes` : ''}`,
  ];
}

/** "N parameters", or under LoRA "N LoRA parameters (x% of M)". */
function trainedParameters(info: TrainerInfo): string {
  if (info.trainedParameters === info.parameters) return `${thousands(info.parameters)} parameters`;
  const share = (100 * info.trainedParameters) / info.parameters;
  return `${thousands(info.trainedParameters)} LoRA parameters (${share.toFixed(2)}% of the model's ${thousands(info.parameters)}, which stay frozen)`;
}

/** Prints a run's events: lines, and a progress bar on a terminal. */
export function printer(): (event: PretrainEvent) => void {
  const bar = new ProgressDisplay(process.stderr, Number(process.env.MINILM_PROGRESS_INTERVAL_MS ?? 0));
  const line = (text: string) => {
    bar.done();
    process.stderr.write(`${text}\n`);
  };
  return (event) => {
    switch (event.type) {
      case 'warning':
        return line(`warning: ${event.message}`);
      case 'start':
        line(
          `device: ${event.device}, ${event.precision}, matmul peak ${(event.peakFlops / 1e12).toFixed(2)} TFLOP/s for MFU (${event.peakFlopsSource})` +
            (event.whyNotGpu ? ` (not the GPU: ${event.whyNotGpu})` : `, ${event.attention.path} attention (${event.attention.why})`),
        );
        if (event.info.optimizerShard < event.info.trainedParameters)
          line(
            `optimizer state sharded (minilm.shard_optimizer): rank 0 keeps ${thousands(event.info.optimizerShard)} of ${thousands(event.info.trainedParameters)} values' moments`,
          );
        return line(
          event.resumedFrom
            ? `resumed from ${event.resumedFrom} at step ${event.step} of ${event.totalSteps}`
            : `training ${trainedParameters(event.info)} for ${event.totalSteps} steps on ${formatCount(event.info.trainTokens)} tokens ` +
                `(${thousands(event.info.trainWindows)} ${itemName(event)}; validation: ${thousands(event.info.valWindows)} ${itemName(event)})` +
                event.info.sources
                  .map(
                    (s) =>
                      `\n  source ${s.name}: ${thousands(s.trainWindows)} windows, ${formatCount(s.trainTokens)} tokens, ${thousands(s.valWindows)} val windows`,
                  )
                  .join(''),
        );
      case 'sft-data-progress': {
        const p = event.progress;
        const fraction = p.inputBytesTotal > 0 ? p.inputBytesDone / p.inputBytesTotal : 0;
        const detail = `conversations: ${thousands(p.documents)} records, ${formatCount(p.tokens)} tokens (file ${p.filesDone + 1}/${p.filesTotal})`;
        if (process.stderr.isTTY) return bar.update({ fraction, detail, etaSeconds: fraction > 0 ? (p.elapsedSeconds / fraction) * (1 - fraction) : null });
        return undefined;
      }
      case 'sft-data':
        return line(describeSftData(event.summary));
      case 'step': {
        const detail =
          `step ${event.step}/${event.totalSteps}  loss ${event.loss.toFixed(4)}  lr ${event.learning_rate.toExponential(2)}  ` +
          `${formatCount(event.tokens)} tok  ${Math.round(event.tokens_per_sec)} tok/s  MFU ${(100 * event.mfu).toFixed(1)}%` +
          (event.padding === null ? '' : `  padding ${(100 * event.padding).toFixed(0)}%`) +
          dpoDetail(event.dpo);
        if (process.stderr.isTTY) return bar.update({ fraction: event.step / event.totalSteps, detail, etaSeconds: event.eta_seconds });
        return line(`${detail}  ETA ${formatDuration(event.eta_seconds)}`);
      }
      case 'validation': {
        const perSource = Object.entries(event.sources).map(([name, loss]) => `  ${name} ${loss.toFixed(4)}`);
        const bpb = event.val_bpb === null ? '' : `  val_bpb ${event.val_bpb.toFixed(4)}`;
        if (event.dpo !== null) return line(`step ${event.step}: val_loss ${event.val_loss.toFixed(4)}${dpoDetail(event.dpo, 'val_')}`);
        return line(`step ${event.step}: val_loss ${event.val_loss.toFixed(4)}  val_ppl ${event.val_ppl.toFixed(2)}${bpb}${perSource.join('')}`);
      }
      case 'exhausted':
        return line(`mixture source ${event.source} has no windows left for step ${event.step + 1} (on_exhausted: stop): ending the run`);
      case 'checkpoint':
        return line(`saved ${event.dir}`);
    }
  };
}

/** What a run's items are: windows (pretraining), examples (SFT), rows of packed examples, or preference pairs. */
function itemName(start: { sft: boolean; packing: boolean; dpo: boolean }): string {
  if (start.dpo) return 'pairs';
  if (!start.sft) return 'windows';
  return start.packing ? 'packed rows' : 'examples';
}

/** DPO's figures for a log line: how often the chosen reply's reward beats the rejected one's, and by how much. */
function dpoDetail(stats: DpoStats | null, prefix = ''): string {
  if (stats === null) return '';
  return `  ${prefix}rewards/accuracies ${(100 * stats.rewardsAccuracies).toFixed(0)}%  ${prefix}rewards/margins ${stats.rewardsMargins.toFixed(3)}`;
}

function describeSftData(s: SftDataSummary): string {
  const skipped = s.skippedEmpty + s.skippedNoAssistant + s.skippedTruncatedAway + s.skippedIdentical + s.skippedReplyTooLong;
  const pairs = s.files.some((f) => f.format === 'preferences');
  const made = pairs
    ? `${thousands(s.records)} preference records -> ${thousands(s.trainExamples / 2)} train + ${thousands(s.valExamples / 2)} val pairs`
    : `${thousands(s.records)} conversations -> ${thousands(s.trainExamples)} train + ${thousands(s.valExamples)} val examples`;
  const lines = [
    `${s.reused ? 'reusing' : 'prepared'} ${s.outputDir}: ${made}, ` +
      `${formatCount(s.tokens)} tokens (${formatCount(s.trainedTokens)} trained on, ${((100 * s.trainedTokens) / Math.max(1, s.tokens)).toFixed(0)}%)` +
      (s.reused ? '' : ` in ${formatDuration(s.seconds)}`),
    `  files: ${s.files.map((f) => `${f.path} (${f.format})`).join(', ')}`,
  ];
  if (s.truncated > 0) lines.push(`  truncated to max_seq_length: ${thousands(s.truncated)} examples (trained on what fits)`);
  if (s.splitByReply > 0) lines.push(`  one example per reply: ${thousands(s.splitByReply)} conversations (the template rewrites earlier turns)`);
  if (skipped > 0) {
    lines.push(
      `  skipped ${thousands(skipped)}: ${s.skippedEmpty} empty, ${s.skippedNoAssistant} without an assistant turn, ${s.skippedTruncatedAway} with no assistant token within max_seq_length` +
        (pairs
          ? `, ${s.skippedIdentical} pairs with the same chosen and rejected reply, ${s.skippedReplyTooLong} with a reply longer than max_seq_length`
          : '') +
        (s.skippedExamples.length > 0 ? `; e.g. ${s.skippedExamples.join('; ')}` : ''),
    );
  }
  return lines.join('\n');
}

export function pretrainCommand(yargs: Argv): Argv {
  return yargs.command(
    'pretrain',
    "Train a model on a prepared dataset from litgpt's pretrain YAML; litgpt-style overrides follow (--train.micro_batch_size 4)",
    (y) =>
      y
        .strict(false)
        .option('config', {
          type: 'string',
          describe: 'litgpt pretrain YAML (e.g. configs/pretrain.yaml); relative paths inside resolve against the working directory',
        })
        .option('dry_run', { alias: 'dry-run', type: 'boolean', default: false, describe: 'Resolve the config, check the model, print a summary and exit' })
        .example('$0 pretrain --config configs/pretrain.yaml', '')
        .example('$0 pretrain --config configs/pretrain.yaml --train.micro_batch_size 4 --out_dir out/x', '')
        .epilog(overrideHelp(PRETRAIN_SCHEMA, 'docs/pretrain.md#config-reference')),
    async (argv) => {
      const config = loadPretrainConfig({ configFile: argv.config as string | undefined, overrides: overrideTokens(process.argv) });
      if (argv.dry_run) {
        for (const warning of config.warnings) process.stdout.write(`warning: ${warning}\n`);
        for (const text of describe(config)) process.stdout.write(`${text}\n`);
        process.stdout.write(`${describeMemory(config)}\n`);
        process.stdout.write(`${describeData(config)}\n`);
        return;
      }
      await runCommand(config);
    },
  );
}

/**
 * The dry run's memory line: the config's precision on a GPU (the CPU's run is float32 and not
 * estimated), then the warning the run would give if the device's memory is known to be too small.
 */
function describeMemory(config: PretrainConfig): string {
  const { model, train } = config;
  const placement = chooseDevice(config);
  // Per rank: the ranks the config asks for (devices x num_nodes), or the launcher's.
  const requested = requestedRanks(config);
  const world = requested !== null && requested > 1 ? requested : ranksFromEnv().world;
  const sized = { ...config, optimizerShards: optimizerShards(config, world) };
  // Without a GPU here, the path a GPU of unknown size would take.
  const onGpu = placement.device === 'cpu' ? { device: 'cuda:0', precision: config.precision, memoryBytes: null } : placement;
  const attention = chooseAttention(sized, onGpu);
  const rows = train.micro_batch_size * sequencesPerItem(config);
  const estimate = (path: AttentionPath) => estimatePeakMemory(model, rows, train.max_seq_length, config.precision, path, config.lora, sized.optimizerShards);
  const lines = [`${describeMemoryEstimate(estimate(attention.path))} with ${attention.path} attention (${attention.why})`];
  // The other path's figure, when a GPU could take it: what a smaller GPU runs, or what the faster path costs.
  const other: AttentionPath = attention.path === 'composite' ? 'flash' : 'composite';
  if (flashPossible(model, config.precision)) {
    lines.push(`${describeMemoryEstimate(estimate(other))} with ${other} attention`);
  }
  const warning = memoryWarning(sized, placement.precision, attention.path, placement.memoryBytes);
  if (warning !== null) lines.push(`warning: ${warning}`);
  return lines.join('\n');
}

/**
 * The dry run's data check: the train and val folders, their index and chunk files read as training
 * windows, the dataset's tokenizer against the model's vocabulary, and the ids of a sample of windows.
 * A problem is an error naming the file, as the run itself would give it, only before any training.
 */
function describeData(config: PretrainConfig): string {
  const mixture = config.data.mixture;
  if (mixture === null) return `data: ${describeDataset(config, config.data.data_path)}`;
  const lines = mixture.sources.map((s) => `  ${s.name} (weight ${s.weight}): ${describeDataset(config, s.path)}`);
  return [`data: a mixture of ${mixture.sources.length} datasets (on_exhausted: ${mixture.on_exhausted})`, ...lines].join('\n');
}

function describeDataset(config: PretrainConfig, dataPath: string): string {
  const check = callNative(() =>
    native().checkData({
      dataPath,
      splitNames: config.data.split_names ?? undefined,
      seqLen: config.train.max_seq_length,
      vocab: config.model.padded_vocab_size,
    }),
  );
  const val = check.valDir == null ? 'no validation split' : `val ${thousands(check.valWindows)} windows (${check.valDir})`;
  const vocab =
    check.tokenizerVocabSize == null
      ? 'no tokenizer stored with the data'
      : `its tokenizer's ${thousands(check.tokenizerVocabSize)} tokens fit the model's ${thousands(config.model.padded_vocab_size)}`;
  return (
    `train ${thousands(check.trainWindows)} windows of ${config.train.max_seq_length + 1} tokens (${formatCount(check.trainTokens)} tokens, ${check.trainDir}); ` +
    `${val}; ${vocab}; ids of ${check.sampledWindows} sampled windows within the vocabulary`
  );
}

/**
 * The run of `pretrain`, `sft` or `dpo`: as `devices` ranks (cli/launch-ranks.ts) when the config asks
 * for several on this one machine and no launcher started this process as one of them, else here.
 */
export async function runCommand(config: PretrainConfig): Promise<void> {
  if (typeof config.devices === 'number' && config.devices > 1 && config.num_nodes === 1 && ranksFromEnv().world === 1) {
    // Refused here rather than by every rank once they have started.
    const uneven = unevenBatch(config, config.devices);
    if (uneven !== null) throw new MinilmError(`--devices ${config.devices}: ${uneven}`, 'InvalidArg');
    process.exitCode = await launchRanks(config.devices, chooseDevice(config).device !== 'cpu');
    return;
  }
  await runPretrain(config);
}

/** A training run (pretraining or SFT) as the command shows it: the summary, progress, and Ctrl-C / SIGTERM saving a checkpoint. */
export async function runPretrain(config: PretrainConfig): Promise<PretrainSummary> {
  // Of a data-parallel run's ranks, rank 0 prints.
  const { rank, world } = ranksFromEnv();
  if (rank === 0) for (const text of describe(config)) process.stderr.write(`${text}\n`);
  if (rank === 0 && world > 1) {
    const perRank = config.train.gradient_accumulation_steps / world;
    process.stderr.write(`data-parallel: ${world} ranks, each ${perRank} micro-batch${perRank === 1 ? '' : 'es'} per step\n`);
  }
  const stop = stopOnSignals();
  try {
    const summary = await pretrain(config, { onLog: printer(), signal: stop.signal });
    if (rank !== 0) return summary;
    process.stderr.write(
      `done: ${summary.steps} steps, ${formatCount(summary.tokens)} tokens in ${formatDuration(summary.seconds)}; ` +
        `loss ${summary.loss?.toFixed(4) ?? '-'}, val_loss ${summary.val_loss?.toFixed(4) ?? '-'}; final checkpoint ${summary.final_dir}\n`,
    );
    process.stderr.write(`curves: npx minilm report ${shellPath(summary.out_dir)}\n`);
    return summary;
  } finally {
    stop.dispose();
  }
}
