// `prepare`: text files (Parquet, JSONL, CSV) to litdata token shards, from TypeScript.
import { native } from '../native.js';
import { runJob, type JobOptions } from './job.js';
import { lockFolder } from '../lock.js';

export interface PrepareOptions {
  /** Folder searched recursively (links followed) for input files. */
  inputDir: string;
  /** Receives train/ and val/ (litdata TokensLoader datasets) and tokenizer/. */
  outputDir: string;
  /** A folder with tokenizer.json and tokenizer_config.json, or a tokenizer.json. */
  tokenizerPath: string;
  /** Column or key holding the text. Default "text". */
  textKey?: string;
  /** Default: the one kind of supported file found in inputDir. */
  fileType?: 'parquet' | 'jsonl' | 'csv';
  /** Only the first 10,000 documents. */
  fastDevRun?: boolean;
  /** Tokenizing threads. Default: one per core. The output does not depend on it. */
  numWorkers?: number;
  /** Tokens per chunk file. Default 2049 * 8012 = 16,416,588. */
  chunkSize?: number;
  /** Fraction of documents held out for validation, chosen from the seed. Default 0.001. */
  valFraction?: number;
  /** Default 42. */
  seed?: number;
  /** Token type on disk. Default: int16 when every id fits, else int32. */
  dtype?: 'int16' | 'int32';
}

export interface PrepareProgress {
  files_done: number;
  files_total: number;
  current_file: string;
  input_bytes_done: number;
  input_bytes_total: number;
  /** This run's text bytes, documents and tokens. */
  text_bytes: number;
  documents: number;
  tokens: number;
  elapsed_seconds: number;
}

export interface SplitSummary {
  documents: number;
  tokens: number;
  chunks: number;
}

export interface PrepareSummary {
  output_dir: string;
  file_type: string;
  dtype: string;
  files: number;
  /** Files done by an earlier, interrupted run. */
  files_resumed: number;
  already_complete: boolean;
  train: SplitSummary;
  val: SplitSummary;
  skipped_null: number;
  skipped_empty: number;
  num_workers: number;
  /** This run only. */
  seconds: number;
  text_bytes: number;
  tokens: number;
  megabytes_per_second: number;
  tokens_per_second: number;
}

/**
 * Tokenizes a corpus. Resolves to the summary; rejects with a MinilmError whose message names the bad
 * file and row. Aborting the signal stops it at the next safe point (code "Cancelled"); running it again
 * with the same options resumes.
 */
export async function prepare(options: PrepareOptions, jobOptions: JobOptions<PrepareProgress> = {}): Promise<PrepareSummary> {
  const lock = lockFolder(options.outputDir, 'minilm prepare');
  try {
    return await runJob<PrepareProgress, PrepareSummary>((job) => native().prepare({ ...options }, job), jobOptions);
  } finally {
    lock.release();
  }
}

export interface PrepareDefaults {
  chunkSize: number;
  valFraction: number;
  seed: number;
  fastDevRunDocuments: number;
}

export function prepareDefaults(): PrepareDefaults {
  return JSON.parse(native().prepareDefaults()) as PrepareDefaults;
}
