// minilm as a library: `import { prepare, pretrain, Model, Tokenizer, exportHf, loadPretrainConfig, trainTokenizer, inspectDataset } from 'minilm'`.
export { prepare, prepareDefaults } from './data/prepare.js';
export type { PrepareOptions, PrepareProgress, PrepareSummary, SplitSummary, PrepareDefaults } from './data/prepare.js';
export { trainTokenizer, inspectDataset } from './data/tokenizer.js';
export type { TrainTokenizerOptions, TrainTokenizerSummary, InspectReport, SplitReport } from './data/tokenizer.js';
export type { JobOptions } from './job.js';
export { writeParquetTexts } from './data/parquet.js';
export { pretrain } from './train/run.js';
export type { PretrainEvent, PretrainOptions, PretrainSummary, TrainerInfo } from './train/run.js';
export { loadPretrainConfig, modelSize } from './config/pretrain-config.js';
export type { PretrainConfig, ModelConfig, LoadPretrainConfigOptions } from './config/pretrain-config.js';
export { Model, Generation, generateDefaults } from './model/model.js';
export type { GenerateOptions, GenerationStats } from './model/model.js';
export { Tokenizer } from './model/tokenizer.js';
export { exportHf } from './model/export-hf.js';
export type { ExportSummary } from './model/export-hf.js';
export { writeReport } from './report/report.js';
export type { ReportOptions, ReportSummary } from './report/report.js';
export { MinilmError, isCancelled } from './errors.js';
