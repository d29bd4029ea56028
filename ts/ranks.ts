// Where this process stands in a data-parallel job, read from the environment its launcher set: Open
// MPI's mpirun (OMPI_COMM_WORLD_*), MPICH's (PMI_RANK, PMI_SIZE), Slurm's srun (SLURM_PROCID,
// SLURM_NTASKS, SLURM_LOCALID), or torchrun's (RANK, WORLD_SIZE, LOCAL_RANK). No launcher: rank 0 of 1.

export type Launcher = 'mpirun' | 'srun' | 'torchrun';

export interface Ranks {
  rank: number;
  world: number;
  /** The rank among the processes on this machine. */
  localRank: number;
  /** What started the ranks; null for a process alone. */
  launcher: Launcher | null;
}

const ALONE: Ranks = { rank: 0, world: 1, localRank: 0, launcher: null };

/** The ranks of the first launcher whose variables are set (and name more than one process). */
export function ranksFromEnv(env: NodeJS.ProcessEnv = process.env): Ranks {
  const launchers: [Launcher, string, string, string][] = [
    ['mpirun', 'OMPI_COMM_WORLD_RANK', 'OMPI_COMM_WORLD_SIZE', 'OMPI_COMM_WORLD_LOCAL_RANK'],
    ['mpirun', 'PMI_RANK', 'PMI_SIZE', 'MPI_LOCALRANKID'],
    // Inside an srun job step (SLURM_STEP_ID): sbatch's own shell has SLURM_NTASKS but is one process.
    ['srun', 'SLURM_PROCID', 'SLURM_NTASKS', 'SLURM_LOCALID'],
    ['torchrun', 'RANK', 'WORLD_SIZE', 'LOCAL_RANK'],
  ];
  for (const [launcher, rankName, worldName, localName] of launchers) {
    if (launcher === 'srun' && env.SLURM_STEP_ID === undefined) continue;
    const world = Number(env[worldName]);
    const rank = Number(env[rankName]);
    if (!(Number.isSafeInteger(world) && world > 1 && Number.isSafeInteger(rank) && rank >= 0 && rank < world)) continue;
    const localRank = Number(env[localName] ?? 0);
    return { rank, world, localRank: Number.isSafeInteger(localRank) ? localRank : 0, launcher };
  }
  return ALONE;
}
