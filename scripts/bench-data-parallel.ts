// `npm run bench:data-parallel`: what data-parallel training costs on one machine's CPUs. The same
// pretraining run (configs/quickstart.yaml on the quickstart's prepared poetry, which `npm start`
// writes) as one process of micro-batch 8 and as `--devices 2` ranks of micro-batch 4, with a global
// batch of 16 (2 micro-batches per step alone and on each rank: the same samples, and litgpt's warmup
// and cosine give both the same learning rates), in turn:
// tokens/s over the steps after the first (rank 0's metrics.csv, which counts every rank's tokens) and
// the largest loss difference between the two curves. On 2 cores the ranks share the cores the one
// process has: the ratio weighs two processes of one thread each against one of two threads, with
// the ranks' sums. Then the 2 ranks again with the optimizer's state sharded (minilm.shard_optimizer,
// ZeRO-1): what sharing the updated weights costs, and whether the losses are the same. Needs Open MPI
// and `npm run build:mpi`. Prints a Markdown table.
//
//   npm run bench:data-parallel [-- --rounds 2 --steps 30]
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { cliPath, repoRoot } from '../test/support/cli.js';

const { values: flags } = parseArgs({ options: { rounds: { type: 'string', default: '2' }, steps: { type: 'string', default: '30' } } });
const data = path.join(repoRoot, 'data', 'sample', 'prepared');
if (!existsSync(path.join(data, 'train'))) throw new Error(`${data} is missing: run npm start first (it prepares the poetry)`);
const env = { ...process.env, OMPI_ALLOW_RUN_AS_ROOT: '1', OMPI_ALLOW_RUN_AS_ROOT_CONFIRM: '1', OMPI_MCA_rmaps_base_oversubscribe: '1' };

/** One run's (tokens/s after its first step, losses by step). */
function run(ranks: number, sharded = false): { tokensPerSec: number; losses: number[] } {
  const out = path.join(repoRoot, 'bench-data', 'data-parallel', `ranks-${ranks}${sharded ? '-sharded' : ''}`);
  rmSync(out, { recursive: true, force: true });
  const args = [cliPath, 'pretrain', '--config', path.join(repoRoot, 'configs', 'quickstart.yaml')];
  args.push('--data.init_args.data_path', data, '--out_dir', out, '--train.max_steps', flags.steps, '--train.log_interval', '1');
  args.push('--train.global_batch_size', '16', '--train.micro_batch_size', String(8 / ranks));
  args.push('--train.save_interval', '100000', '--eval.initial_validation', 'false', '--eval.final_validation', 'false', '--devices', String(ranks));
  if (sharded) args.push('--minilm.shard_optimizer', 'true');
  const done = spawnSync(process.execPath, args, { env, encoding: 'utf8' });
  if (done.status !== 0) throw new Error(`${ranks} rank(s) failed (exit ${done.status}): ${done.stderr.trim().split('\n').slice(-3).join(' / ')}`);
  const [header, ...rows] = readFileSync(path.join(out, 'logs/csv/version_0/metrics.csv'), 'utf8').trim().split('\n');
  const columns = header.split(',');
  const cells = rows.map((row) => row.split(',')).filter((cells) => cells[columns.indexOf('loss')] !== '');
  const rates = cells.slice(1).map((c) => Number(c[columns.indexOf('tokens_per_sec')]));
  return { tokensPerSec: rates.reduce((a, b) => a + b, 0) / rates.length, losses: cells.map((c) => Number(c[columns.indexOf('loss')])) };
}

const rows: string[] = [];
for (let round = 1; round <= Number(flags.rounds); round++) {
  const alone = run(1);
  const ranks = run(2);
  const sharded = run(2, true);
  const apart = Math.max(...ranks.losses.map((loss, i) => Math.abs(loss - alone.losses[i]) / alone.losses[i]));
  const same = sharded.losses.length === ranks.losses.length && sharded.losses.every((loss, i) => loss === ranks.losses[i]);
  rows.push(
    `| ${round} | ${Math.round(alone.tokensPerSec)} | ${Math.round(ranks.tokensPerSec)} | ${(ranks.tokensPerSec / alone.tokensPerSec).toFixed(2)}x | ${apart.toExponential(1)} ` +
      `| ${Math.round(sharded.tokensPerSec)} | ${(sharded.tokensPerSec / ranks.tokensPerSec).toFixed(2)}x | ${same ? 'yes' : 'NO'} |`,
  );
}
console.log(
  `${os.cpus()[0].model}, ${os.availableParallelism()} cores; configs/quickstart.yaml, global batch 16 x 128 tokens, micro-batch 8 alone and 4 on each of 2 ranks, ${flags.steps} steps`,
);
console.log(
  '| round | 1 process: tokens/s | 2 ranks: tokens/s | ratio | max loss difference | 2 ranks, sharded optimizer: tokens/s | sharded / 2 ranks | same losses |',
);
console.log('|---|---|---|---|---|---|---|---|');
for (const row of rows) console.log(row);
