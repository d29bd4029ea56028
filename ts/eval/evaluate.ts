// `evaluate(checkpoint, options)`: whether training worked, in numbers. Loss, perplexity and bits per
// byte on text the model never saw (--data), multiple-choice accuracy with its chance level and 95%
// interval (--tasks), and how repetitive its samples are (--generate). The figures are computed in the
// core (crates/minilm-core/src/eval); this file loads the model, runs what was asked and writes
// evaluation.json, which `minilm report` shows.
import fs from 'node:fs';
import path from 'node:path';
import { MinilmError } from '../errors.js';
import type { JobOptions } from '../job.js';
import { Model } from '../model/model.js';
import type { GenerateOptions } from '../model/sampling.js';
import type { DeviceRequest } from '../device.js';
import type { PrepareProgress, TaskResult, TextEvaluation } from '../../native/index.js';
import { repetitionStats, type RepetitionStats } from './repetition.js';

export type { TaskResult, TextEvaluation, LossFigures, AccuracyFigure, ItemResult, InputEvaluation } from '../../native/index.js';
export type { RepetitionStats } from './repetition.js';

/** Where `minilm eval` leaves its results in a run's out_dir, for `minilm report`. */
export const EVALUATION_FILE = 'evaluation.json';

export interface EvaluateOptions {
  /** Prepared splits (a prepare output folder means its val/), folders of Parquet / JSONL / CSV, or files. */
  data?: string[];
  textKey?: string;
  fileType?: 'parquet' | 'jsonl' | 'csv' | 'auto';
  /** Windows per forward pass (default 4). */
  batchSize?: number;
  /** C-Eval / CMMLU (.csv or JSON Lines) and HellaSwag (JSON Lines) files. */
  tasks?: string[];
  /** Put before every task question, as lm-eval's task descriptions are. */
  description?: string;
  /** Prompts to sample, one per line of a text file or given as a list, and the sampling settings. */
  generate?: { prompts: string[]; sampling?: Omit<GenerateOptions, 'signal'> };
  tokenizerDir?: string;
  device?: DeviceRequest;
  signal?: AbortSignal;
  onProgress?: (progress: PrepareProgress) => void;
}

export interface GenerationReport {
  /** The settings every sample was drawn with (seed + i for the i-th prompt). */
  settings: Omit<GenerateOptions, 'signal'>;
  stats: RepetitionStats;
  samples: Array<{ prompt: string; text: string }>;
}

export interface EvaluationReport {
  checkpoint: string;
  date: string;
  data: TextEvaluation | null;
  tasks: TaskResult[] | null;
  generation: GenerationReport | null;
}

export async function evaluate(checkpoint: string, options: EvaluateOptions = {}): Promise<EvaluationReport> {
  const { data, tasks, generate, signal, onProgress } = options;
  if (!data?.length && !tasks?.length && !generate) {
    throw new MinilmError('nothing to evaluate: give data (--data), task files (--tasks) or prompts (--generate)', 'InvalidArg');
  }
  const model = await Model.load(checkpoint, { tokenizerDir: options.tokenizerDir, device: options.device ?? 'cpu' });
  const job: JobOptions = { signal, onProgress };
  const dataResult = data?.length
    ? await model.evaluateText({ paths: data, textKey: options.textKey, fileType: options.fileType, batchSize: options.batchSize }, job)
    : null;
  const taskResults = tasks?.length ? await model.scoreTasks(tasks, options.description, job) : null;
  const generation = generate ? await sampleAll(model, generate.prompts, generate.sampling ?? {}, signal) : null;
  return { checkpoint: path.resolve(checkpoint), date: new Date().toISOString(), data: dataResult, tasks: taskResults, generation };
}

async function sampleAll(model: Model, prompts: string[], sampling: Omit<GenerateOptions, 'signal'>, signal?: AbortSignal): Promise<GenerationReport> {
  if (prompts.length === 0) throw new MinilmError('--generate: the prompts file holds no prompt (one per line)', 'InvalidArg');
  const seed = sampling.seed ?? 42;
  const samples: Array<{ prompt: string; text: string }> = [];
  for (const [i, prompt] of prompts.entries()) {
    let text = '';
    for await (const piece of model.generate(prompt, { ...sampling, seed: seed + i, signal })) text += piece;
    samples.push({ prompt, text });
  }
  return { settings: { ...sampling, seed }, stats: repetitionStats(samples.map((s) => s.text)), samples };
}

/** The prompts of a --generate file: one per non-empty line. */
export function readPrompts(file: string): string[] {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    throw new MinilmError(`--generate ${file}: cannot read it (${(error as Error).message}); expected a text file with one prompt per line`, 'InvalidArg');
  }
  return text
    .split('\n')
    .map((line) => line.replace(/\r$/, ''))
    .filter((line) => line.trim() !== '');
}

/** Writes `report` as DIR/evaluation.json (atomically). */
export function saveEvaluation(dir: string, report: EvaluationReport): string {
  const file = path.join(dir, EVALUATION_FILE);
  const temp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(temp, `${JSON.stringify(report, null, 2)}\n`);
  fs.renameSync(temp, file);
  return file;
}
