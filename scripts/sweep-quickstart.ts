// `npm run bench:quickstart`: the quickstart's tuning sweep. Each candidate trains on the quickstart's
// data (data/sample, made by `npm start` first) for the same wall-clock budget on this machine: a short
// calibration run measures its tokens/s, max_tokens is set to fill the budget, then the full run reports
// its final val loss and val bits per byte (over the whole validation split) and a greedy sample.
//   npm run bench:quickstart -- [--budget_s 330] [--only 'NAME PREFIX;NAME PREFIX']
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const cli = path.join(root, 'dist/cli/main.js');
const args = process.argv.slice(2);
const flag = (name: string) => {
  const i = args.indexOf(`--${name}`);
  return i === -1 ? undefined : args[i + 1];
};
const budget = Number(flag('budget_s') ?? 330);
const only = flag('only')?.split(';');

type Overrides = Record<string, string | number>;

/** A 256-wide model (4 heads of 64), the quickstart's own being 384 wide. */
const WIDTH_256: Overrides = { 'model_config.n_embd': 256, 'model_config.n_head': 4, 'model_config.intermediate_size': 704 };

/** A peak learning rate (cosine to a tenth of it) and micro-batches of `batch` x `context` tokens, one per step. */
function schedule(lr: number, batch: number, context: number): Overrides {
  return {
    'optimizer.init_args.lr': lr,
    'train.min_lr': Number((lr / 10).toPrecision(6)),
    'train.micro_batch_size': batch,
    'train.global_batch_size': batch,
    'train.max_seq_length': context,
  };
}

/** Settings over configs/quickstart.yaml (6 layers), as pretrain's command-line overrides. */
const CANDIDATES: Record<string, Overrides> = {
  'today: 6x384, lr 1e-3, 8x256': {},
  '4x256, lr 3e-3, 16x128': { 'model_config.n_layer': 4, ...WIDTH_256, ...schedule(0.003, 16, 128) },
  '6x256, lr 2e-3, 16x128': { ...WIDTH_256, ...schedule(0.002, 16, 128) },
  '4x256, lr 5e-3, 16x128': { 'model_config.n_layer': 4, ...WIDTH_256, ...schedule(0.005, 16, 128) },
  '4x256, lr 3e-3, 32x64': { 'model_config.n_layer': 4, ...WIDTH_256, ...schedule(0.003, 32, 64) },
  '3x256, lr 4e-3, 16x128': { 'model_config.n_layer': 3, ...WIDTH_256, ...schedule(0.004, 16, 128) },
  '4x384, lr 2e-3, 16x128': { 'model_config.n_layer': 4, ...schedule(0.002, 16, 128) },
};

function train(name: string, overrides: Overrides, extra: string[]): { seconds: number; out: string } {
  const out = path.join(root, 'out/sweep', name.replace(/[^a-z0-9]+/gi, '-'));
  fs.rmSync(out, { recursive: true, force: true });
  const flags = Object.entries(overrides).flatMap(([k, v]) => [`--${k}`, String(v)]);
  const started = Date.now();
  execFileSync(
    process.execPath,
    [cli, 'pretrain', '--config', path.join(root, 'configs/quickstart.yaml'), '--out_dir', out, '--resume', 'false', ...flags, ...extra],
    { cwd: root, stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, MINILM_PROGRESS_INTERVAL_MS: '60000' } },
  );
  return { seconds: (Date.now() - started) / 1000, out };
}

function lastValues(out: string): { tokens: number; valLoss: number; valBpb: number } {
  const lines = fs.readFileSync(path.join(out, 'logs/csv/version_0/metrics.csv'), 'utf8').trim().split('\n');
  const header = lines[0].split(',');
  const rows = lines.slice(1).map((l) => l.split(','));
  const col = (name: string) => header.indexOf(name);
  const validated = rows.filter((r) => r[col('val_loss')] !== '');
  const last = validated.at(-1)!;
  return { tokens: Number(last[col('tokens')]), valLoss: Number(last[col('val_loss')]), valBpb: Number(last[col('val_bpb')]) };
}

const rows: string[] = [];
for (const [name, overrides] of Object.entries(CANDIDATES)) {
  if (only && !only.some((o) => name.startsWith(o))) continue;
  // Calibration: 12 steps with no validation, from the log's tokens/s.
  const calibration = train(name, overrides, [
    '--train.max_steps',
    '12',
    '--eval.initial_validation',
    'false',
    '--eval.final_validation',
    'false',
    '--train.log_interval',
    '4',
  ]);
  const log = fs.readFileSync(path.join(calibration.out, 'logs/csv/version_0/metrics.csv'), 'utf8').trim().split('\n');
  const rateColumn = log[0].split(',').indexOf('tokens_per_sec');
  const rate = Number(log.at(-1)!.split(',')[rateColumn]);
  // The final validation and checkpoint saves take part of the budget: train for 90% of it.
  const maxTokens = Math.floor(rate * budget * 0.9);
  const run = train(name, overrides, ['--train.max_tokens', String(maxTokens)]);
  const { tokens, valLoss, valBpb } = lastValues(run.out);
  const sample = execFileSync(
    process.execPath,
    [cli, 'generate', path.join(run.out, 'final'), '--prompt', '床前明月光', '--max_new_tokens', '40', '--temperature', '0'],
    {
      cwd: root,
    },
  )
    .toString()
    .trim()
    .replace(/\n/g, ' / ');
  const row = `| ${name} | ${tokens.toLocaleString('en-US')} | ${valLoss.toFixed(3)} | ${valBpb.toFixed(3)} | ${run.seconds.toFixed(0)} s | ${sample} |`;
  process.stdout.write(`${row}\n`);
  rows.push(row);
}
process.stdout.write(`\n| settings | tokens seen | val loss | val bpb | time | greedy sample |\n|---|---:|---:|---:|---:|---|\n${rows.join('\n')}\n`);
