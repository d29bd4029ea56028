// `prepare`: text files (Parquet, JSONL, CSV) to litdata token shards, from TypeScript, whole or as one
// shard of a sharded prepare (./shard.ts) that `mergeShards` joins. The options, progress and summaries
// are the addon's types (crates/minilm-node/src/prepare.rs).
import { native } from '../native.js';
import { runJob, type JobOptions } from '../job.js';
import { lockFolder } from '../lock.js';
import type { MergeSummary, PrepareDefaults, PrepareOptions, PrepareSummary } from '../../native/index.js';

export type { MergeSummary, PrepareOptions, PrepareDefaults, PrepareProgress, PrepareSummary, SplitSummary } from '../../native/index.js';

/**
 * Tokenizes a corpus. Resolves to the summary; rejects with a MinilmError whose message names the bad
 * file and row. Aborting the signal stops it at the next safe point (code "Cancelled"); running it again
 * with the same options resumes.
 */
export async function prepare(options: PrepareOptions, jobOptions: JobOptions = {}): Promise<PrepareSummary> {
  // A shard locks its own folder, so that every shard of a job array can run at once into one output folder.
  const folder = options.shard ? native().prepareShardFolder(options.outputDir, options.shard) : options.outputDir;
  const lock = lockFolder(folder, options.shard ? `minilm prepare --shard ${options.shard.index}/${options.shard.count}` : 'minilm prepare');
  try {
    return await runJob((job) => native().prepare(options, job), jobOptions);
  } finally {
    lock.release();
  }
}

/**
 * Joins the shards of a sharded prepare (`prepare` with `shard`, one call per shard) into `outputDir`'s
 * train/ and val/, once every one has finished; rejects naming a shard that is missing or unfinished.
 */
export async function mergeShards(outputDir: string): Promise<MergeSummary> {
  const lock = lockFolder(outputDir, 'minilm prepare --merge');
  try {
    return await runJob(() => native().mergePreparedShards(outputDir));
  } finally {
    lock.release();
  }
}

/** What prepare uses for an option left out. */
export function prepareDefaults(): PrepareDefaults {
  return native().prepareDefaults();
}
