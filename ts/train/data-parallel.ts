// The rules of a data-parallel run (the ranks come from ts/train/ranks.ts; the arithmetic is the
// addon's, crates/minilm-core/src/train/collective.rs): train.global_batch_size is the batch of a step
// whatever the world size, so each rank runs global / (micro_batch_size * world) micro-batches, and the
// step count, the learning-rate schedule and the samples of each step stay those of one process.
import type { PretrainConfig } from '../config/pretrain-config.js';
import { MinilmError } from '../errors.js';
import { native } from '../native.js';
import type { Ranks } from './ranks.js';

export interface DataParallelPlan {
  ranks: Ranks;
  /** Micro-batches per step on each rank. */
  accumulation: number;
  /** Rank 0 writes the logs, checkpoints and lock; the others only train. */
  writer: boolean;
}

/** How this process trains in its job: alone, or as one rank of several; refuses what cannot run. */
export function planDataParallel(config: PretrainConfig, ranks: Ranks, device: string): DataParallelPlan {
  const { gradient_accumulation_steps: steps, micro_batch_size: micro, global_batch_size: global } = config.train;
  const { world } = ranks;
  if (world === 1) {
    if (typeof config.devices === 'number' && config.devices > 1) {
      throw new MinilmError(
        `devices: ${config.devices} needs ${config.devices} processes: \`minilm pretrain --devices ${config.devices}\` starts them with mpirun, ` +
          `or start them yourself with mpirun -np ${config.devices} or srun (docs/data-parallel.md)`,
        'InvalidArg',
      );
    }
    return { ranks, accumulation: steps, writer: true };
  }
  const refuse = (message: string) => {
    throw new MinilmError(`rank ${ranks.rank} of ${world}: ${message}`, 'InvalidArg');
  };
  if (ranks.launcher === 'torchrun') {
    refuse(
      'torchrun-style launches (RANK, WORLD_SIZE) need NCCL and its rendezvous, not built yet; start the ranks with mpirun -np N or srun (docs/data-parallel.md)',
    );
  }
  if (typeof config.devices === 'number' && config.devices !== world && config.devices !== -1) {
    refuse(`devices: ${config.devices}, but the launcher started ${world} processes; set devices to ${world} or auto`);
  }
  if (config.sft !== null) refuse('data-parallel sft and dpo are not built yet: run them as one process');
  if (device !== 'cpu') refuse('data-parallel training on GPUs needs NCCL, not built yet: train on the CPUs (MINILM_DEVICE=cpu) or on one GPU');
  if (steps % world !== 0) {
    refuse(
      `train.global_batch_size ${global} is ${steps} micro-batches of ${micro}, which ${world} ranks cannot share evenly: ` +
        `make it a multiple of ${micro * world} (micro_batch_size x ranks)`,
    );
  }
  if (native().dataParallelEngine() === null) {
    refuse('this build of minilm has no MPI: install Open MPI (Debian/Ubuntu: apt install openmpi-bin libopenmpi-dev libclang-dev) and run npm run build:mpi');
  }
  return { ranks, accumulation: steps / world, writer: ranks.rank === 0 };
}
