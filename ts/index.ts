// minilm as a library: `import { prepare, pretrain, sft, Model, Tokenizer, exportHf, loadPretrainConfig, trainTokenizer, inspectDataset, evaluate } from 'minilm'`.
export { mergeShards, prepare, prepareDefaults } from './data/prepare.js';
export type { MergeSummary, PrepareOptions, PrepareProgress, PrepareSummary, SplitSummary, PrepareDefaults } from './data/prepare.js';
export { loadFilters, screenDefaults } from './data/filters.js';
export type { FilterRules, ScreenDefaults } from './data/filters.js';
export { readFilterReport } from './data/filter-report.js';
export type { FilterReport, ReportExample } from './data/filter-report.js';
export { trainTokenizer, inspectDataset } from './data/tokenizer.js';
export type { TrainTokenizerOptions, TrainTokenizerSummary, InspectReport, SplitReport } from './data/tokenizer.js';
export type { JobOptions } from './job.js';
export { writeParquetTexts } from './data/parquet.js';
export { dpo, pretrain, sft } from './train/run.js';
export type { PretrainEvent, PretrainOptions, PretrainSummary, SftDataSummary, TrainerInfo } from './train/run.js';
export { loadPretrainConfig, modelSize } from './config/pretrain-config.js';
export type { PretrainConfig, ModelConfig, LoadPretrainConfigOptions, SftSettings, DpoSettings } from './config/pretrain-config.js';
export { loadDpoConfig, loadSftConfig } from './config/sft-config.js';
export { Model, Generation } from './model/model.js';
export type { BatcherStats, DecodeBatcher, TokenSource } from './model/decode-batcher.js';
export { generateDefaults } from './model/sampling.js';
export type { GenerateOptions, GenerationStats } from './model/sampling.js';
export { Tokenizer } from './model/tokenizer.js';
export { ChatTemplate } from './chat/template.js';
export { ChatReply, fitConversation } from './model/chat-reply.js';
export type { ChatOptions, ChatStats } from './model/chat-reply.js';
export { serve } from './serve/server.js';
export type { ServeOptions, ServerHandle } from './serve/server.js';
export type { ChatMessage, RenderOptions } from './chat/template.js';
export { exportHf } from './model/export-hf.js';
export type { ExportSummary } from './model/export-hf.js';
export { exportCheckpoint } from './model/export-checkpoint.js';
export type { ExportOptions } from './model/export-checkpoint.js';
export type { GgufDtype, GgufExportSummary } from './model/export-gguf.js';
export { evaluate, EVALUATION_FILE } from './eval/evaluate.js';
export type {
  EvaluateOptions,
  EvaluationReport,
  GenerationReport,
  TaskResult,
  TextEvaluation,
  LossFigures,
  AccuracyFigure,
  RepetitionStats,
} from './eval/evaluate.js';
export { writeReport } from './report/report.js';
export type { ReportOptions, ReportSummary } from './report/report.js';
export { MinilmError, isCancelled } from './errors.js';
