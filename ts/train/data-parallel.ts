// The rules of a data-parallel run (the ranks come from ts/ranks.ts, NCCL's id from
// rendezvous.ts; the arithmetic is the addon's, crates/minilm-core/src/train/collective.rs): MPI sums
// CPU ranks' gradients, NCCL GPU ranks'. train.global_batch_size is the batch of a step
// whatever the world size, so each rank runs global / (micro_batch_size * world) micro-batches, and the
// step count and the samples of each step stay those of one process (the rates: schedule.ts).
import type { PretrainConfig } from '../config/pretrain-config.js';
import { MinilmError } from '../errors.js';
import type { DataParallelSettings } from '../../native/index.js';
import { runJob } from '../job.js';
import { native } from '../native.js';
import type { Ranks } from '../ranks.js';
import { numberFromEnv } from './env-number.js';
import { fetchId, IdServer, rendezvousFromEnv } from './rendezvous.js';

export interface DataParallelPlan {
  ranks: Ranks;
  /** What sums the gradients: MPI among CPU ranks, NCCL among GPU ranks; null alone. */
  engine: 'mpi' | 'nccl' | null;
  /** The rank's device: a GPU rank's own GPU. */
  device: string;
  /** Micro-batches per step on each rank. */
  accumulation: number;
  /** Rank 0 writes the logs, checkpoints and lock; the others only train. */
  writer: boolean;
}

/** How this process trains in its job: alone, or as one rank of several; refuses what cannot run. */
export function planDataParallel(config: PretrainConfig, ranks: Ranks, device: string): DataParallelPlan {
  const steps = config.train.gradient_accumulation_steps;
  const { world } = ranks;
  if (world === 1) {
    if (config.num_nodes > 1) {
      throw new MinilmError(
        `num_nodes: ${config.num_nodes} spreads the ranks over ${config.num_nodes} machines: start them there with srun (one task per rank) or mpirun ` +
          '(docs/data-parallel.md, "Slurm"); `--devices N` starts ranks on this machine alone',
        'InvalidArg',
      );
    }
    if (typeof config.devices === 'number' && config.devices > 1) {
      throw new MinilmError(
        `devices: ${config.devices} needs ${config.devices} processes: \`minilm pretrain --devices ${config.devices}\` starts them with mpirun, ` +
          `or start them yourself with mpirun -np ${config.devices} or srun (docs/data-parallel.md)`,
        'InvalidArg',
      );
    }
    return { ranks, engine: null, device, accumulation: steps, writer: true };
  }
  const refuse = (message: string) => {
    throw new MinilmError(`rank ${ranks.rank} of ${world}: ${message}`, 'InvalidArg');
  };
  const engine = device === 'cpu' ? 'mpi' : 'nccl';
  if (engine === 'mpi' && ranks.launcher === 'torchrun') {
    refuse('CPU ranks sum through MPI, whose ranks mpirun or srun start, not torchrun: start them with mpirun -np N or srun (docs/data-parallel.md)');
  }
  const requested = requestedRanks(config);
  if (requested !== null && requested !== world) {
    const { devices, num_nodes: nodes } = config;
    refuse(
      nodes === 1
        ? `devices: ${devices}, but the launcher started ${world} processes; set devices to ${world} or auto`
        : `devices: ${devices} on each of num_nodes: ${nodes} machines is ${requested} ranks, but the launcher started ${world} processes; ` +
            (world % nodes === 0 ? `set devices to ${world / nodes} (the ranks of each machine) or auto` : 'set devices to auto'),
    );
  }
  const unshared = unevenBatch(config, world);
  if (unshared !== null) refuse(unshared);
  if (!native().dataParallelEngines().includes(engine)) {
    refuse(
      engine === 'mpi'
        ? 'this build of minilm has no MPI: install Open MPI (Debian/Ubuntu: apt install openmpi-bin libopenmpi-dev libclang-dev) and run npm run build:mpi'
        : 'this build of minilm has no NCCL: GPU ranks need the CUDA build (npm run build:cuda)',
    );
  }
  return { ranks, engine, device: engine === 'nccl' ? rankGpu(ranks) : device, accumulation: steps / world, writer: ranks.rank === 0 };
}

/** The ranks a config asks for, as litgpt counts them (`devices` on each of `num_nodes` machines); null for auto or -1 (all). */
export function requestedRanks(config: Pick<PretrainConfig, 'devices' | 'num_nodes'>): number | null {
  return typeof config.devices === 'number' && config.devices >= 1 ? config.devices * config.num_nodes : null;
}

/** What to tell a run that asks to shard the optimizer's state with no ranks to shard it over, or null. */
export function shardingWarning(config: Pick<PretrainConfig, 'shard_optimizer'>, world: number): string | null {
  if (!config.shard_optimizer || world > 1) return null;
  return 'minilm.shard_optimizer splits the optimizer state over data-parallel ranks; this run is one process, so it keeps the whole state (start ranks with --devices N, mpirun or srun)';
}

/** Why `world` ranks cannot share a step's micro-batches evenly, or null when they can. */
export function unevenBatch(config: PretrainConfig, world: number): string | null {
  const { gradient_accumulation_steps: steps, micro_batch_size: micro, global_batch_size: global } = config.train;
  if (steps % world === 0) return null;
  return (
    `train.global_batch_size ${global} is ${steps} micro-batch${steps === 1 ? '' : 'es'} of ${micro}, which ${world} ranks cannot share evenly: ` +
    `make it a multiple of ${micro * world} (micro_batch_size x ranks)`
  );
}

/**
 * A GPU rank's device: its local rank's GPU, or the one GPU its launcher left visible to it (srun
 * --gpus-per-task sets CUDA_VISIBLE_DEVICES so).
 */
function rankGpu(ranks: Ranks, env: NodeJS.ProcessEnv = process.env): string {
  const visible = env.CUDA_VISIBLE_DEVICES?.split(',').filter((d) => d.trim() !== '') ?? null;
  return visible !== null && visible.length === 1 ? 'cuda:0' : `cuda:${ranks.localRank}`;
}

/**
 * How the trainer joins its ranks: MPI's job, or NCCL's group, whose id rank 0 makes and hands to the
 * others at MASTER_ADDR:MASTER_PORT (rendezvous.ts). Made first thing in a run: rank 0 of GPU ranks
 * listens from then on, so that while it prepares a fine-tuning run's examples the others wait for it
 * connected, whatever the time it takes.
 */
export class Joining {
  private readonly idServer: IdServer | null;

  constructor(
    private readonly parallel: DataParallelPlan,
    private readonly env: NodeJS.ProcessEnv = process.env,
  ) {
    const { engine, ranks } = parallel;
    this.idServer = engine === 'nccl' && ranks.rank === 0 ? new IdServer(rendezvousFromEnv(0, ranks.world, env)) : null;
  }

  /**
   * What the trainer joins with; undefined alone. With `meet`, the ranks also wait for each other here
   * (NCCL's hand-over does that by itself): how the others wait until rank 0 has prepared a fine-tuning
   * run's examples (rank 0 comes here after preparing them, the others before).
   */
  async settings(meet = false): Promise<DataParallelSettings | undefined> {
    const { engine, ranks } = this.parallel;
    if (engine === null) return undefined;
    const timeoutSeconds = collectiveTimeout(ranks, this.env);
    const bucketSize = bucketMegabytes(ranks, this.env);
    if (engine === 'mpi') {
      if (meet) await runJob(() => native().dataParallelBarrier());
      return { engine: 'mpi', timeoutSeconds };
    }
    const { rank, world } = ranks;
    let ncclId: Buffer;
    if (this.idServer !== null) {
      ncclId = native().ncclUniqueId();
      await this.idServer.handOver(ncclId);
    } else {
      ncclId = await fetchId(rendezvousFromEnv(rank, world, this.env));
    }
    return { engine: 'nccl', ncclId, rank, world, timeoutSeconds, bucketMegabytes: bucketSize };
  }

  /** Stops rank 0's listening, if the run ends (or fails) before the hand-over. */
  close(): void {
    this.idServer?.close();
  }
}

/**
 * How much gradient NCCL sums at a time while the backward pass runs
 * (crates/minilm-core/src/train/gradient_buckets.rs): MINILM_BUCKET_MB MiB, as PyTorch DDP's
 * bucket_cap_mb; 0 sums the whole gradient after the pass. Undefined keeps the default, 25.
 */
export function bucketMegabytes(ranks: Ranks, env: NodeJS.ProcessEnv = process.env): number | undefined {
  return numberFromEnv(env, 'MINILM_BUCKET_MB', ranks.rank, (mb) => mb >= 0, 'a number of MiB, 0 or more (0: sum after the backward pass)');
}

/**
 * How long one sum over the ranks may wait before this rank gives up on the others and exits
 * (crates/minilm-core/src/train/watchdog.rs): MINILM_COLLECTIVE_TIMEOUT seconds, 600 by default, as
 * PyTorch's NCCL groups wait 10 minutes.
 */
export function collectiveTimeout(ranks: Ranks, env: NodeJS.ProcessEnv = process.env): number {
  return numberFromEnv(env, 'MINILM_COLLECTIVE_TIMEOUT', ranks.rank, (seconds) => seconds > 0, 'a number of seconds above 0') ?? 600;
}
