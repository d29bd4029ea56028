// minilm as a library: `import { prepare, pretrain, Model, Tokenizer, exportHf, loadPretrainConfig, trainTokenizer, inspectDataset } from 'minilm'`.
export { prepare, prepareDefaults } from './data/prepare.js';
export type { PrepareOptions, PrepareProgress, PrepareSummary, SplitSummary, PrepareDefaults } from './data/prepare.js';
export { trainTokenizer, inspectDataset } from './data/tokenizer.js';
export type { TrainTokenizerOptions, TrainTokenizerSummary, InspectReport, SplitReport } from './data/tokenizer.js';
export type { JobOptions } from './data/job.js';
export { writeParquetTexts } from './data/parquet.js';
export { pretrain } from './train/run.js';
export type { PretrainEvent, PretrainOptions, PretrainSummary, TrainerInfo } from './train/run.js';
export { loadPretrainConfig, countParameters } from './config/pretrain-config.js';
export type { PretrainConfig, ModelConfig, LoadPretrainConfigOptions } from './config/pretrain-config.js';
export { Model, Generation } from './generate/model.js';
export type { GenerateOptions, GenerationStats } from './generate/model.js';
export { Tokenizer } from './generate/tokenizer.js';
export { exportHf } from './generate/export-hf.js';
export type { ExportSummary } from './generate/export-hf.js';
export { writeReport } from './report/report.js';
export type { ReportOptions, ReportSummary } from './report/report.js';
export { MinilmError, isCancelled } from './errors.js';
