// What a pretrain run left in its out_dir, read back for the report: the metrics rows of
// logs/csv/version_0/metrics.csv, the run's settings (hyperparameters.yaml of its newest checkpoint) and
// the checkpoints themselves. Works on a run in progress: a row torn by a write in flight is ignored.
import fs from 'node:fs';
import path from 'node:path';
import { MinilmError } from '../errors.js';
import { EVALUATION_FILE, type EvaluationReport } from '../eval/evaluate.js';
import { litgptCsvMetricsFile } from '../log/csv-metrics.js';
import { checkpointFiles, checkpointWeights, readCheckpointPosition, stepOfFolder, weightCheckpoints } from '../checkpoint.js';

/** One metrics.csv row; a column the row leaves empty is absent (training rows have no val_loss, ...). */
export type MetricsRow = Partial<Record<MetricName, number>> & { step: number };

export type MetricName =
  | 'iter'
  | 'tokens'
  | 'loss'
  | 'learning_rate'
  | 'grad_norm'
  | 'tokens_per_sec'
  | 'mfu'
  | 'val_loss'
  | 'val_ppl'
  | 'val_bpb'
  // DPO's (TRL's names), per step and over the held-out pairs.
  | 'rewards/accuracies'
  | 'val_rewards/accuracies'
  | 'rewards/margins'
  | 'val_rewards/margins';

export interface CheckpointRecord {
  name: string;
  dir: string;
  step: number | null;
  tokens: number | null;
  bytes: number;
  savedAt: Date;
}

export interface RunRecord {
  outDir: string;
  metricsFile: string;
  rows: MetricsRow[];
  /** hyperparameters.yaml of the newest checkpoint, as written; null before the first checkpoint. */
  hyperparametersYaml: string | null;
  checkpoints: CheckpointRecord[];
  /** What `minilm eval` last wrote into the out_dir (evaluation.json), or null. */
  evaluation: EvaluationReport | null;
}

export function readRun(outDir: string): RunRecord {
  if (!fs.existsSync(outDir)) throw new MinilmError(`${outDir} does not exist; expected the out_dir of a minilm pretrain run`, 'InvalidArg');
  const metricsFile = litgptCsvMetricsFile(outDir);
  if (!fs.existsSync(metricsFile)) {
    throw new MinilmError(
      `${outDir} has no metrics: ${metricsFile} is missing; expected the out_dir of a minilm (or litgpt) pretrain run that has logged at least once`,
      'InvalidArg',
    );
  }
  const rows = readMetrics(metricsFile);
  const checkpoints = readCheckpoints(outDir);
  const newest = [...checkpoints].sort((a, b) => a.savedAt.getTime() - b.savedAt.getTime()).at(-1);
  const hyperparametersFile = newest && path.join(newest.dir, checkpointFiles().hyperparameters);
  const hyperparametersYaml = hyperparametersFile && fs.existsSync(hyperparametersFile) ? fs.readFileSync(hyperparametersFile, 'utf8') : null;
  return { outDir, metricsFile, rows, hyperparametersYaml, checkpoints, evaluation: readEvaluation(outDir) };
}

function readEvaluation(outDir: string): EvaluationReport | null {
  const file = path.join(outDir, EVALUATION_FILE);
  if (!fs.existsSync(file)) return null;
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as EvaluationReport;
  } catch (error) {
    throw new MinilmError(`${file}: not valid JSON (${(error as Error).message}); expected what \`minilm eval\` writes, or remove the file`, 'InvalidArg');
  }
}

function readMetrics(file: string): MetricsRow[] {
  const lines = fs.readFileSync(file, 'utf8').split('\n');
  lines.pop(); // whatever follows the last newline is a row still being written (or nothing)
  // minilm writes step first; Lightning's CSVLogger (litgpt) writes the columns in the order they first
  // appeared, step among them.
  const header = (lines.shift() ?? '').replace(/\r$/, '').split(',');
  if (!header.includes('step')) throw new MinilmError(`${file} line 1: expected a CSV header with a "step" column, found "${header.join(',')}"`, 'InvalidArg');
  const rows: MetricsRow[] = [];
  lines.forEach((line, i) => {
    const cells = line.replace(/\r$/, '').split(',');
    if (cells.length !== header.length) {
      throw new MinilmError(`${file} line ${i + 2}: expected ${header.length} cells (${header.join(',')}), found ${cells.length}`, 'InvalidArg');
    }
    const row: Record<string, number> = {};
    header.forEach((name, column) => {
      const value = parseCell(cells[column]);
      if (value !== null) row[name] = value;
    });
    if (row.step === undefined) throw new MinilmError(`${file} line ${i + 2}: the step cell is empty`, 'InvalidArg');
    rows.push(row as MetricsRow);
  });
  return rows;
}

// Python's csv module (and minilm's logger) spell the non-finite floats nan, inf and -inf.
function parseCell(cell: string): number | null {
  if (cell === '') return null;
  if (cell === 'nan') return NaN;
  if (cell === 'inf') return Infinity;
  if (cell === '-inf') return -Infinity;
  const value = Number(cell);
  return Number.isNaN(value) ? null : value;
}

function readCheckpoints(outDir: string): CheckpointRecord[] {
  const records = weightCheckpoints(outDir).map(({ name, dir }) => {
    const position = readCheckpointPosition(dir);
    const files = fs.readdirSync(dir).map((file) => fs.statSync(path.join(dir, file)));
    return {
      name,
      dir,
      step: position.step ?? stepOfFolder(name),
      tokens: position.tokens ?? null,
      bytes: files.reduce((sum, stat) => sum + stat.size, 0),
      savedAt: fs.statSync(checkpointWeights(dir)!).mtime,
    };
  });
  return records.sort((a, b) => (a.step ?? Infinity) - (b.step ?? Infinity) || a.name.localeCompare(b.name));
}
