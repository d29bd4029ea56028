// Data-parallel pretraining as a user runs it: `minilm pretrain --devices 2` on the CPU starts two ranks
// under Open MPI's mpirun, which take the steps one process takes with twice the micro-batch; a run
// checkpointed on 2 ranks resumes on 1; Ctrl-C stops both ranks after a saved step. Needs Open MPI and
// the MPI addon (`npm run build:mpi`; .ci/run builds both), and says so when they are missing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { loadPretrainConfig } from '../ts/config/pretrain-config.js';
import { mpiAddonFile } from '../ts/native.js';
import { bucketMegabytes, collectiveTimeout, planDataParallel, requestedRanks, shardingWarning } from '../ts/train/data-parallel.js';
import { ranksFromEnv } from '../ts/ranks.js';
import { fetchId, IdServer, rendezvousFromEnv } from '../ts/train/rendezvous.js';
import { runCli, startCli } from './support/cli.js';
import { writeAuthorPairs } from '../ts/data/sample-chat.js';
import { pretrainedCheckpoint, sftConfig, writePoetryConversations } from './support/sft.js';
import { tempDir } from './support/files.js';
import { lossesByStep, poetryDataset, tinyConfig, writeConfig } from './support/training.js';

test("a rank's place comes from its launcher's variables; a lone process is rank 0 of 1", () => {
  assert.deepEqual(ranksFromEnv({ OMPI_COMM_WORLD_RANK: '3', OMPI_COMM_WORLD_SIZE: '4', OMPI_COMM_WORLD_LOCAL_RANK: '1' }), {
    rank: 3,
    world: 4,
    localRank: 1,
    launcher: 'mpirun',
  });
  assert.deepEqual(ranksFromEnv({ PMI_RANK: '1', PMI_SIZE: '2' }), { rank: 1, world: 2, localRank: 0, launcher: 'mpirun' });
  const slurm = { SLURM_PROCID: '5', SLURM_NTASKS: '8', SLURM_LOCALID: '1' };
  assert.deepEqual(ranksFromEnv({ ...slurm, SLURM_STEP_ID: '0' }), { rank: 5, world: 8, localRank: 1, launcher: 'srun' });
  // sbatch's own shell has the job's task count but is one process.
  assert.equal(ranksFromEnv(slurm).world, 1);
  assert.deepEqual(ranksFromEnv({ RANK: '0', WORLD_SIZE: '2', LOCAL_RANK: '0' }), { rank: 0, world: 2, localRank: 0, launcher: 'torchrun' });
  assert.deepEqual(ranksFromEnv({}), { rank: 0, world: 1, localRank: 0, launcher: null });
  assert.deepEqual(
    ranksFromEnv({ OMPI_COMM_WORLD_RANK: '2', OMPI_COMM_WORLD_SIZE: '2' }),
    { rank: 0, world: 1, localRank: 0, launcher: null },
    'a rank outside its world',
  );
});

test('a data-parallel run splits the global batch over the ranks, and refuses what it cannot run', async () => {
  const data = await poetryDataset(3000);
  const config = (changes: Record<string, unknown> = {}) => loadPretrainConfig({ tree: tinyConfig(data, tempDir('dp-plan'), changes) });
  const rank = (world: number, launcher: 'mpirun' | 'torchrun' = 'mpirun') => ({ rank: 1, world, localRank: 1, launcher });
  // global 16 = 2 micro-batches of 8: alone 2, on 2 ranks 1 each.
  assert.deepEqual(planDataParallel(config(), ranksFromEnv({}), 'cpu'), {
    ranks: ranksFromEnv({}),
    engine: null,
    device: 'cpu',
    accumulation: 2,
    writer: true,
  });
  assert.throws(
    () => planDataParallel(config(), rank(4), 'cpu'),
    /global_batch_size 16 is 2 micro-batches of 8, which 4 ranks cannot share evenly: make it a multiple of 32/,
  );
  assert.throws(() => planDataParallel(config(), rank(2, 'torchrun'), 'cpu'), /CPU ranks sum through MPI, whose ranks mpirun or srun start, not torchrun/);
  // --devices N refuses a batch the ranks cannot share before it starts any.
  const uneven = await runCli(['pretrain', '--config', writeConfig(tinyConfig(data, tempDir('dp-uneven'))), '--devices', '3']);
  assert.equal(uneven.code, 2, uneven.stderr);
  assert.match(uneven.stderr, /--devices 3: train\.global_batch_size 16 is 2 micro-batches of 8, which 3 ranks cannot share evenly: make it a multiple of 24/);
  assert.equal(collectiveTimeout(rank(2), {}), 600);
  assert.equal(collectiveTimeout(rank(2), { MINILM_COLLECTIVE_TIMEOUT: '30' }), 30);
  assert.throws(
    () => collectiveTimeout(rank(2), { MINILM_COLLECTIVE_TIMEOUT: 'soon' }),
    /MINILM_COLLECTIVE_TIMEOUT=soon: expected a number of seconds above 0/,
  );
  assert.equal(bucketMegabytes(rank(2), {}), undefined);
  assert.equal(bucketMegabytes(rank(2), { MINILM_BUCKET_MB: '0' }), 0);
  assert.equal(bucketMegabytes(rank(2), { MINILM_BUCKET_MB: '12.5' }), 12.5);
  assert.throws(() => bucketMegabytes(rank(2), { MINILM_BUCKET_MB: '-1' }), /MINILM_BUCKET_MB=-1: expected a number of MiB, 0 or more/);
  // This process loaded the CPU addon: it has neither engine.
  assert.throws(() => planDataParallel(config(), rank(2, 'torchrun'), 'cuda:0'), /no NCCL: GPU ranks need the CUDA build/);
  assert.throws(() => planDataParallel(config({ devices: 4 }), rank(2), 'cpu'), /devices: 4, but the launcher started 2 processes/);
  // litgpt's num_nodes: devices counts each machine's ranks, and only a cluster launcher starts them.
  assert.equal(requestedRanks(config({ devices: 4, num_nodes: 2 })), 8);
  assert.throws(
    () => planDataParallel(config({ devices: 4, num_nodes: 2 }), rank(4), 'cpu'),
    /devices: 4 on each of num_nodes: 2 machines is 8 ranks, but the launcher started 4 processes; set devices to 2/,
  );
  assert.throws(
    () => planDataParallel(config({ devices: 4, num_nodes: 2 }), ranksFromEnv({}), 'cpu'),
    /num_nodes: 2 spreads the ranks over 2 machines: start them there with srun/,
  );
  assert.throws(
    () => planDataParallel(config({ devices: 2 }), ranksFromEnv({}), 'cpu'),
    /devices: 2 needs 2 processes: `minilm pretrain --devices 2` starts them/,
  );
  assert.throws(() => planDataParallel(config(), rank(2), 'cpu'), /no MPI: install Open MPI .* npm run build:mpi/);
  // A sharded optimizer state on one process is the whole state: the run says so.
  assert.match(shardingWarning({ shard_optimizer: true }, 1) ?? '', /this run is one process, so it keeps the whole state/);
  assert.equal(shardingWarning({ shard_optimizer: true }, 2), null);
  assert.equal(shardingWarning({ shard_optimizer: false }, 1), null);
});

test('the NCCL rendezvous: rank 0 hands its id to every other rank, however long it prepares; a rank 0 that never comes is an error, not a hang', async () => {
  const id = Buffer.from(Array.from({ length: 128 }, (_, i) => (i * 37) % 256));
  const port = 29500 + (process.pid % 1000);
  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
  const at = (rank: number) => rendezvousFromEnv(rank, 3, { MASTER_ADDR: '127.0.0.1', MASTER_PORT: String(port), MINILM_RENDEZVOUS_TIMEOUT: '1' });
  // The others may ask before rank 0 listens: they retry. Once connected, they wait past the time limit
  // while rank 0 gets ready (a fine-tuning run's rank 0 prepares the examples first).
  const fetched = [fetchId(at(1)), fetchId(at(2))];
  await sleep(300);
  const server = new IdServer(at(0));
  await sleep(1500);
  await server.handOver(id);
  for (const got of await Promise.all(fetched)) assert.deepEqual(got, id);
  server.close();

  // A connection that breaks before the hand-over (a probe, a rank that will connect again) is no rank.
  const second = (rank: number) => rendezvousFromEnv(rank, 3, { MASTER_ADDR: '127.0.0.1', MASTER_PORT: String(port + 2), MINILM_RENDEZVOUS_TIMEOUT: '5' });
  const another = new IdServer(second(0));
  await new Promise<void>((resolve) => {
    const probe = net.connect({ host: '127.0.0.1', port: port + 2 }, () => {
      probe.destroy();
      resolve();
    });
  });
  await sleep(100);
  const late = [fetchId(second(1)), fetchId(second(2))];
  await sleep(300);
  await another.handOver(id);
  for (const got of await Promise.all(late)) assert.deepEqual(got, id);
  another.close();

  const lonely = rendezvousFromEnv(1, 2, { MASTER_ADDR: '127.0.0.1', MASTER_PORT: String(port + 1), MINILM_RENDEZVOUS_TIMEOUT: '1' });
  await assert.rejects(fetchId(lonely), /rank 1: rank 0 did not hand over NCCL's id at 127\.0\.0\.1:\d+ within 1 s/);
  const alone = new IdServer({ ...lonely, rank: 0 });
  await assert.rejects(alone.handOver(id), /rank 0: 1 of the 1 other ranks did not come for NCCL's id within 1 s/);
  assert.throws(() => rendezvousFromEnv(1, 2, {}), /rank 1 of 2: the GPU ranks meet at MASTER_ADDR:MASTER_PORT .* is not set/);
  // A time limit that is not one is refused, as the other variables are, not replaced by the default.
  assert.throws(
    () => rendezvousFromEnv(1, 2, { MASTER_ADDR: '127.0.0.1', MASTER_PORT: '29500', MINILM_RENDEZVOUS_TIMEOUT: '5m' }),
    /rank 1: MINILM_RENDEZVOUS_TIMEOUT=5m: expected a number of seconds above 0/,
  );
});

const missing =
  spawnSync('mpirun', ['--version'], { stdio: 'ignore' }).status !== 0
    ? 'Open MPI (mpirun) is not installed'
    : mpiAddonFile() === null
      ? 'the MPI addon is not built (npm run build:mpi)'
      : false;

// mpirun refuses root unless told, and counts this machine's 2 cores as fewer slots than 2 ranks need.
const mpiEnv = { OMPI_ALLOW_RUN_AS_ROOT: '1', OMPI_ALLOW_RUN_AS_ROOT_CONFIRM: '1', OMPI_MCA_rmaps_base_oversubscribe: '1' };

/**
 * Two steps of warmup, then a constant rate. The warmup's rates depend on micro_batch_size x ranks, as in
 * litgpt (test/schedule.test.ts), so 2 ranks of micro-batch 4 must take those of 1 process of 8. After it,
 * a run resumed on another world size keeps its rate, and the curves compare samples and arithmetic.
 */
async function config(out: string, maxSteps: number): Promise<string> {
  const data = await poetryDataset(3000);
  return writeConfig(
    tinyConfig(data, out, {
      train: { global_batch_size: 16, micro_batch_size: 8, max_steps: maxSteps, max_tokens: 16 * 64 * 100, save_interval: 3, lr_warmup_steps: 2, min_lr: 3e-3 },
      eval: { final_validation: true, max_iters: 4 },
    }),
  );
}

function assertClose(what: string, got: Map<number, string>, want: Map<number, string>, steps: number[]): void {
  for (const step of steps) {
    const [g, w] = [Number(got.get(step)), Number(want.get(step))];
    assert.ok(Math.abs(g - w) <= 1e-5 * Math.abs(w), `${what}, step ${step}: ${got.get(step)} against ${want.get(step)}`);
  }
}

test('pretrain --devices 2: two ranks of micro-batch 4 follow one process of micro-batch 8; sharded and resumed on one rank', { skip: missing }, async () => {
  const alone = tempDir('dp-alone');
  const one = await runCli(['pretrain', '--config', await config(alone, 6)]);
  assert.equal(one.code, 0, one.stderr);

  const ranks = tempDir('dp-ranks');
  const two = await runCli(['pretrain', '--config', await config(ranks, 6), '--devices', '2', '--train.micro_batch_size', '4'], mpiEnv);
  assert.equal(two.code, 0, two.stderr);
  assert.match(two.stderr, /data-parallel: 2 ranks, each 2 micro-batches per step/);
  assert.equal(two.stderr.match(/^done: /gm)?.length, 1, 'rank 0 alone reports');
  const expected = lossesByStep(alone);
  assertClose('2 ranks against 1 process', lossesByStep(ranks), expected, [1, 2, 3, 4, 5, 6]);
  // The ranks share the final validation's micro-batches and add up their sums: one process's loss over
  // the same windows (the small val split fits both runs' max_iters).
  assertClose('2 ranks validating against 1 process', lossesByStep(ranks, 'val_loss'), lossesByStep(alone, 'val_loss'), [6]);

  // Checkpointed at step 3 on 2 ranks that shard AdamW's state (ZeRO-1: the same steps, bit for bit; rank
  // 0 gathers the whole state to save it), then resumed as one process with the same micro-batch (4
  // micro-batches per step): the same samples, so the same last steps.
  const moved = tempDir('dp-moved');
  const shardedArgs = ['--devices', '2', '--train.micro_batch_size', '4', '--minilm.shard_optimizer', 'true'];
  const first = await runCli(['pretrain', '--config', await config(moved, 3), ...shardedArgs], mpiEnv);
  assert.equal(first.code, 0, first.stderr);
  const shard = first.stderr.match(/optimizer state sharded \(minilm\.shard_optimizer\): rank 0 keeps ([\d,]+) of ([\d,]+) values' moments/);
  assert.ok(shard, first.stderr);
  const [kept, trained] = shard.slice(1).map((n) => Number(n.replaceAll(',', '')));
  assert.equal(kept, Math.floor(trained / 2), 'rank 0 keeps the first half');
  assert.doesNotMatch(two.stderr, /optimizer state sharded/);
  const [sharded, plain] = [lossesByStep(moved), lossesByStep(ranks)];
  assert.deepEqual(
    [1, 2, 3].map((step) => sharded.get(step)),
    [1, 2, 3].map((step) => plain.get(step)),
    'sharded ranks, the same losses',
  );
  const resumed = await runCli(['pretrain', '--config', await config(moved, 6), '--train.micro_batch_size', '4', '--resume', 'auto']);
  assert.equal(resumed.code, 0, resumed.stderr);
  assert.match(resumed.stderr, /resumed from .*step-00000003 at step 3 of 6/);
  assertClose('resumed on 1 rank', lossesByStep(moved), expected, [4, 5, 6]);
});

test('Ctrl-C stops every rank after a step; rank 0 has saved it and the run resumes on 2 ranks', { skip: missing }, async () => {
  const out = tempDir('dp-stop');
  const file = await config(out, 100);
  const run = startCli(['pretrain', '--config', file, '--devices', '2', '--train.micro_batch_size', '4', '--train.save_interval', '100'], mpiEnv);
  await new Promise<void>((resolve) => {
    const watch = (chunk: Buffer) => {
      if (/step 2\/100/.test(chunk.toString())) {
        run.child.stderr!.off('data', watch);
        run.child.kill('SIGINT');
        resolve();
      }
    };
    run.child.stderr!.on('data', watch);
    run.done.then(() => resolve());
  });
  const stopped = await run.done;
  assert.notEqual(stopped.code, 0, stopped.stderr);
  assert.match(stopped.stderr, /the ranks stop after this step/);
  assert.match(stopped.stderr, /stopped at step \d+/);
  const saved = fs.readdirSync(out).filter((name) => name.startsWith('step-'));
  assert.equal(saved.length, 1, `one checkpoint: ${saved.join(', ')}`);
  const again = await runCli(
    ['pretrain', '--config', file, '--devices', '2', '--train.micro_batch_size', '4', '--train.max_steps', '8', '--resume', 'auto'],
    mpiEnv,
  );
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stderr, new RegExp(`resumed from .*${saved[0]}`));
  assert.ok(fs.existsSync(path.join(out, 'final', 'model.safetensors')));
});

test('a rank that dies ends the job with its rank named, not a hang', { skip: missing }, async () => {
  const file = await config(tempDir('dp-killed'), 100);
  const run = startCli(['pretrain', '--config', file, '--devices', '2', '--train.micro_batch_size', '4'], mpiEnv);
  await new Promise<void>((resolve) => {
    const watch = (chunk: Buffer) => {
      if (/step 2\/100/.test(chunk.toString())) {
        run.child.stderr!.off('data', watch);
        resolve();
      }
    };
    run.child.stderr!.on('data', watch);
    run.done.then(() => resolve());
  });
  // Rank 1: the process mpirun started with OMPI_COMM_WORLD_RANK=1 for this run's config.
  const rank1 = fs.readdirSync('/proc').find((pid) => {
    try {
      const environ = fs.readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
      return environ.includes('OMPI_COMM_WORLD_RANK=1') && fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(file);
    } catch {
      return false;
    }
  });
  assert.ok(rank1, 'rank 1 is running');
  process.kill(Number(rank1), 'SIGKILL');
  const ended = await run.done;
  assert.notEqual(ended.code, 0);
  assert.match(ended.stderr, /process rank 1 .* exited on signal 9/);
});

test('sft and dpo on 2 ranks: rank 0 prepares the examples, and the curves are those of one process', { skip: missing }, async () => {
  const checkpoint = await pretrainedCheckpoint();
  const conversations = path.join(tempDir('dp-sft-data'), 'poetry.jsonl');
  writePoetryConversations(conversations, 300);
  const pairs = path.join(tempDir('dp-dpo-data'), 'pairs.jsonl');
  writeAuthorPairs(pairs, 400);
  const runs = [
    ['sft', conversations, {}],
    ['dpo', pairs, { dpo: { beta: 0.1, loss_type: 'sigmoid', label_smoothing: 0 }, optimizer: { init_args: { lr: 5e-4 } } }],
  ] as const;
  for (const [command, data, changes] of runs) {
    // Micro-batch 4 and a global batch of 16 both ways: 4 micro-batches alone, 2 on each rank.
    const file = (out: string) =>
      writeConfig(
        sftConfig(checkpoint, data, out, { train: { max_steps: 6, micro_batch_size: 4, global_batch_size: 16 }, eval: { interval: 100 }, ...changes }),
      );
    const alone = tempDir(`dp-${command}-alone`);
    const one = await runCli([command, '--config', file(alone)]);
    assert.equal(one.code, 0, one.stderr);
    const ranks = tempDir(`dp-${command}-ranks`);
    const two = await runCli([command, '--config', file(ranks), '--devices', '2'], mpiEnv);
    assert.equal(two.code, 0, two.stderr);
    assert.equal(two.stderr.match(/^prepared .*sft-data/gm)?.length, 1, `${command}: rank 0 alone reports the preparation\n${two.stderr}`);
    assertClose(`${command} on 2 ranks against 1 process`, lossesByStep(ranks), lossesByStep(alone), [1, 2, 3, 4, 5, 6]);
  }
});
