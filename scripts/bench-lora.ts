// `npm run bench:lora`: what LoRA costs and saves against full fine-tuning, on the same data and model.
// The model is configs/pretrain.yaml's (the reference workflow's 108M model; `--model quickstart` for
// the 4.6M one) with random weights; the data the quickstart's poetry instruction set. Each round runs
// `minilm sft` full, then with `--lora.r 8` (qkv, proj, mlp), in turn, as separate processes: peak
// resident memory (VmHWM), tokens/s over the steps after the first (metrics.csv), and the final
// checkpoint's size. Not a test: prints machine info and a Markdown table for BENCHMARKS.md.
//
//   npm run bench:lora [-- --rounds 2 --model pretrain --steps 4]
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { poetryConversations } from '../ts/data/sample-chat.js';
import { cliPath, repoRoot } from '../test/support/cli.js';
import { writeRandomCheckpoint } from './bench-model.js';
import { runMeasured } from './peak-rss.js';

const { values: flags } = parseArgs({
  options: { rounds: { type: 'string', default: '2' }, model: { type: 'string', default: 'pretrain' }, steps: { type: 'string', default: '4' } },
});
const rounds = Number(flags.rounds);
const root = path.join(repoRoot, 'bench-data', 'lora');

interface Run {
  lora: boolean;
  peakRssMb: number;
  tokensPerSec: number;
  checkpointMb: number;
  trained: string;
}

async function run(lora: boolean, checkpoint: string, data: string): Promise<Run> {
  const outDir = path.join(root, lora ? 'lora' : 'full');
  rmSync(outDir, { recursive: true, force: true });
  const args = [
    cliPath,
    'sft',
    '--config',
    path.join(repoRoot, 'configs', 'sft.yaml'),
    ...['--checkpoint_dir', checkpoint, '--out_dir', outDir, '--data.init_args.json_path', data],
    ...['--train.max_steps', flags.steps, '--train.micro_batch_size', '4', '--train.global_batch_size', '8', '--train.log_interval', '1'],
    ...['--train.save_interval', '100000', '--eval.initial_validation', 'false', '--eval.final_validation', 'false'],
    ...(lora ? ['--lora.r', '8', '--lora.alpha', '16'] : []),
  ];
  const measured = await runMeasured(args);
  if (measured.code !== 0) throw new Error(`minilm sft ${lora ? 'with LoRA ' : ''}failed (exit ${measured.code})`);
  const [header, ...rows] = readFileSync(path.join(outDir, 'logs/csv/version_0/metrics.csv'), 'utf8').trim().split('\n');
  const column = header.split(',').indexOf('tokens_per_sec');
  const rates = rows
    .map((row) => Number(row.split(',')[column]))
    .filter((x) => x > 0)
    .slice(1);
  const final = path.join(outDir, 'final');
  const bytes = readdirSync(final).reduce((sum, file) => sum + statSync(path.join(final, file)).size, 0);
  const trainedFile = lora ? 'lora.safetensors' : 'model.safetensors';
  return {
    lora,
    peakRssMb: measured.peakRssMb,
    tokensPerSec: rates.reduce((a, b) => a + b, 0) / Math.max(1, rates.length),
    checkpointMb: bytes / 2 ** 20,
    trained: `${(statSync(path.join(final, trainedFile)).size / 2 ** 20).toFixed(2)} MiB ${trainedFile}`,
  };
}

const checkpoint = path.join(root, 'base');
writeRandomCheckpoint(checkpoint, flags.model, ['--model_config.block_size', '128', '--train.max_seq_length', '128']);
const data = path.join(root, 'poetry-chat.jsonl');
writeFileSync(data, `${[...poetryConversations(Number.MAX_SAFE_INTEGER)].map((c) => JSON.stringify(c)).join('\n')}\n`);

const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
const commit = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: repoRoot, encoding: 'utf8' }).stdout.trim();
process.stdout.write(`machine: ${cpu}, ${os.cpus().length} cores; commit ${commit}; ${new Date().toISOString().slice(0, 10)}\n`);
process.stdout.write(
  `model: configs/${flags.model}.yaml (random weights, block 128); configs/sft.yaml on the quickstart's poetry set, ${flags.steps} steps of 2 micro-batches of 4, float32 on the CPU\n\n`,
);
process.stdout.write('| round | run | peak RSS | tokens/s | final checkpoint | trained weights file |\n|---|---|---|---|---|---|\n');
const results: Run[] = [];
for (let round = 1; round <= rounds; round++) {
  for (const lora of [false, true]) {
    const r = await run(lora, checkpoint, data);
    results.push(r);
    process.stdout.write(
      `| ${round} | ${lora ? 'LoRA r=8' : 'full'} | ${r.peakRssMb.toFixed(0)} MiB | ${r.tokensPerSec.toFixed(0)} | ${r.checkpointMb.toFixed(1)} MiB | ${r.trained} |\n`,
    );
  }
}
const mean = (lora: boolean, pick: (r: Run) => number) => {
  const chosen = results.filter((r) => r.lora === lora).map(pick);
  return chosen.reduce((a, b) => a + b, 0) / chosen.length;
};
process.stdout.write(
  `\nLoRA / full: peak RSS ${(mean(true, (r) => r.peakRssMb) / mean(false, (r) => r.peakRssMb)).toFixed(2)}x, ` +
    `tokens/s ${(mean(true, (r) => r.tokensPerSec) / mean(false, (r) => r.tokensPerSec)).toFixed(2)}x, ` +
    `checkpoint ${(mean(true, (r) => r.checkpointMb) / mean(false, (r) => r.checkpointMb)).toFixed(3)}x\n`,
);
