// `prepare`: text files (Parquet, JSONL, CSV) to litdata token shards, from TypeScript. The options,
// progress and summary are the addon's types (crates/minilm-node/src/prepare.rs).
import { native } from '../native.js';
import { runJob, type JobOptions } from '../job.js';
import { lockFolder } from '../lock.js';
import type { PrepareDefaults, PrepareOptions, PrepareSummary } from '../../native/index.js';

export type { PrepareOptions, PrepareDefaults, PrepareProgress, PrepareSummary, SplitSummary } from '../../native/index.js';

/**
 * Tokenizes a corpus. Resolves to the summary; rejects with a MinilmError whose message names the bad
 * file and row. Aborting the signal stops it at the next safe point (code "Cancelled"); running it again
 * with the same options resumes.
 */
export async function prepare(options: PrepareOptions, jobOptions: JobOptions = {}): Promise<PrepareSummary> {
  const lock = lockFolder(options.outputDir, 'minilm prepare');
  try {
    return await runJob((job) => native().prepare(options, job), jobOptions);
  } finally {
    lock.release();
  }
}

/** What prepare uses for an option left out. */
export function prepareDefaults(): PrepareDefaults {
  return native().prepareDefaults();
}
