// Which part of a sharded prepare this process is: `--shard I/N`, or what a job array tells each task
// (Slurm's SLURM_ARRAY_TASK_ID / SLURM_ARRAY_TASK_COUNT, litdata's DATA_OPTIMIZER_NODE_RANK /
// DATA_OPTIMIZER_NUM_NODES, a Kubernetes indexed Job's JOB_COMPLETION_INDEX with --num_shards, since
// Kubernetes does not tell a pod how many there are). Shards count from 0.
import { MinilmError } from '../errors.js';

export interface ShardChoice {
  index: number;
  count: number;
  /** Where it came from, for the log: "--shard", or the variables read. */
  source: string;
}

/** `flag` is --shard's value ("I/N", or "none" to ignore the environment); `numShards` is --num_shards. */
export function chooseShard(flag: string | undefined, numShards: number | undefined, env: NodeJS.ProcessEnv): ShardChoice | null {
  if (flag === 'none') return null;
  if (flag !== undefined) {
    const match = /^(\d+)\/(\d+)$/.exec(flag.trim());
    if (match === null) throw new MinilmError(`--shard ${flag}: expected I/N, the I-th of N parts counting from 0 (0/3, 1/3, 2/3)`, 'InvalidArg');
    return checked(Number(match[1]), Number(match[2]), '--shard');
  }
  const integer = (name: string): number | undefined => {
    const value = env[name];
    if (value === undefined || value === '') return undefined;
    if (!/^\d+$/.test(value)) throw new MinilmError(`${name}=${value}: expected a whole number`, 'InvalidArg');
    return Number(value);
  };
  const slurmTask = integer('SLURM_ARRAY_TASK_ID');
  if (slurmTask !== undefined) {
    const count = integer('SLURM_ARRAY_TASK_COUNT') ?? numShards;
    if (count === undefined) throw new MinilmError('SLURM_ARRAY_TASK_ID is set but SLURM_ARRAY_TASK_COUNT is not: give --num_shards', 'InvalidArg');
    // An array may start at 1 (--array=1-8): the shard is the task's place in the array.
    const first = integer('SLURM_ARRAY_TASK_MIN') ?? 0;
    return count === 1 ? null : checked(slurmTask - first, count, 'SLURM_ARRAY_TASK_ID, SLURM_ARRAY_TASK_COUNT');
  }
  const nodeRank = integer('DATA_OPTIMIZER_NODE_RANK');
  const nodes = integer('DATA_OPTIMIZER_NUM_NODES');
  if (nodeRank !== undefined && nodes !== undefined) {
    return nodes === 1 ? null : checked(nodeRank, nodes, 'DATA_OPTIMIZER_NODE_RANK, DATA_OPTIMIZER_NUM_NODES');
  }
  const completion = integer('JOB_COMPLETION_INDEX');
  if (completion !== undefined) {
    if (numShards === undefined) {
      throw new MinilmError(
        "JOB_COMPLETION_INDEX is set (a Kubernetes indexed Job) but not how many shards there are: give --num_shards (the Job's completions)",
        'InvalidArg',
      );
    }
    return numShards === 1 ? null : checked(completion, numShards, 'JOB_COMPLETION_INDEX, --num_shards');
  }
  if (numShards !== undefined) {
    throw new MinilmError(
      '--num_shards counts the shards of a job array, but no shard index was found (--shard, SLURM_ARRAY_TASK_ID or JOB_COMPLETION_INDEX)',
      'InvalidArg',
    );
  }
  return null;
}

function checked(index: number, count: number, source: string): ShardChoice {
  if (count < 1 || index < 0 || index >= count) {
    throw new MinilmError(`${source}: shard ${index} of ${count}: expected a shard from 0 to ${count - 1}`, 'InvalidArg');
  }
  return { index, count, source };
}
