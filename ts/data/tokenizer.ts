// Training a tokenizer and inspecting a prepared dataset, from TypeScript.
import { native } from '../native.js';
import { fromNative } from '../errors.js';
import { runJob, type JobOptions } from './job.js';

export interface TrainTokenizerOptions {
  inputDir: string;
  outputDir: string;
  textKey?: string;
  fileType?: 'parquet' | 'jsonl' | 'csv';
  /** Default 6400. */
  vocabSize?: number;
  /** Default ["<unk>", "<s>", "</s>"]: ids 0, 1, 2 as unknown, BOS and EOS. */
  specialTokens?: string[];
}

export interface TrainTokenizerSummary {
  output_dir: string;
  files: number;
  documents: number;
  text_bytes: number;
  vocab_size: number;
  seconds: number;
}

/** Trains a byte-level BPE; writes tokenizer.json and tokenizer_config.json into outputDir. */
export function trainTokenizer(
  options: TrainTokenizerOptions,
  jobOptions: Pick<JobOptions<never>, 'signal'> = {},
): Promise<TrainTokenizerSummary> {
  return runJob((job) => native().trainTokenizer({ ...options }, job), jobOptions);
}

export interface SplitReport {
  name: string;
  path: string;
  documents: number;
  tokens: number;
  chunks: number;
  dtype: string;
  item_loader: string | null;
  distinct_ids: number;
  max_id: number;
  samples: string[];
}

export interface InspectReport {
  splits: SplitReport[];
  tokenizer: string | null;
  tokenizer_vocab_size: number | null;
}

/** What a prepared dataset (an output folder, or one split folder) holds. */
export async function inspectDataset(dir: string, options: { tokenizerPath?: string; samples?: number } = {}): Promise<InspectReport> {
  try {
    return JSON.parse((await native().inspect(dir, options.tokenizerPath, options.samples)) as string) as InspectReport;
  } catch (error) {
    throw fromNative(error);
  }
}
