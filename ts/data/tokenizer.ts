// Training a tokenizer and inspecting a prepared dataset, from TypeScript. Options and reports are the
// addon's types (crates/minilm-node/src/tokenizer_training.rs and inspect.rs).
import { native } from '../native.js';
import { runJob, type JobOptions } from '../job.js';
import type { InspectReport, TrainTokenizerOptions, TrainTokenizerSummary } from '../../native/index.js';

export type {
  TrainTokenizerOptions,
  TrainTokenizerSummary,
  InspectReport,
  SplitReport,
  TokenizerTrainingDefaults,
} from '../../native/index.js';

/** Trains a byte-level BPE; writes tokenizer.json and tokenizer_config.json into outputDir. */
export function trainTokenizer(options: TrainTokenizerOptions, jobOptions: Pick<JobOptions, 'signal'> = {}): Promise<TrainTokenizerSummary> {
  return runJob((job) => native().trainTokenizer(options, job), jobOptions);
}

/** What a prepared dataset (an output folder, or one split folder) holds. */
export function inspectDataset(dir: string, options: { tokenizerPath?: string; samples?: number } = {}): Promise<InspectReport> {
  return runJob(() => native().inspect(dir, options.tokenizerPath, options.samples));
}
