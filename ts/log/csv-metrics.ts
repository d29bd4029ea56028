// Training metrics as a CSV file in the layout litgpt writes (Lightning's CSVLogger with root_dir
// <out_dir>/logs and name "csv"), so the same plotting scripts read runs from either tool.
// Each row goes to the kernel as soon as it is logged, so a kill -9 loses at most the row being written.
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, writeSync } from 'node:fs';
import path from 'node:path';
import { writeAtomically } from '../atomic-file.js';

export interface CsvMetricsOptions {
  /** Continue an existing file: keep its rows up to this step, drop the later ones (they will be redone). */
  resumeAfterStep?: number;
}

/** Where litgpt puts metrics.csv for a run whose output folder is `outDir`. */
export function litgptCsvMetricsFile(outDir: string): string {
  return path.join(outDir, 'logs', 'csv', 'version_0', 'metrics.csv');
}

export class CsvMetricsLogger {
  private readonly file: string;
  private readonly columns: readonly string[];
  private readonly columnIndex: Map<string, number>;
  private fd: number | null;

  private constructor(file: string, columns: readonly string[], fd: number) {
    this.file = file;
    this.columns = columns;
    this.columnIndex = new Map(columns.map((name, i) => [name, i]));
    this.fd = fd;
  }

  static open(file: string, columns: string[], options: CsvMetricsOptions = {}): CsvMetricsLogger {
    checkColumns(file, columns);
    mkdirSync(path.dirname(file), { recursive: true });
    const header = columns.join(',');
    const { resumeAfterStep } = options;
    if (resumeAfterStep !== undefined && existsSync(file)) {
      keepRowsUpTo(file, header, resumeAfterStep);
      return new CsvMetricsLogger(file, [...columns], openSync(file, 'a'));
    }
    // A fresh run replaces whatever an earlier run left, like litgpt starting over in the same out_dir.
    const fd = openSync(file, 'w');
    writeAll(fd, `${header}\n`);
    return new CsvMetricsLogger(file, [...columns], fd);
  }

  log(step: number, metrics: Record<string, number>): void {
    if (this.fd === null) throw new Error(`metrics logger for ${this.file} is already closed`);
    const cells: string[] = new Array(this.columns.length).fill('');
    cells[0] = formatNumber(step);
    for (const [name, value] of Object.entries(metrics)) {
      const index = this.columnIndex.get(name);
      if (index === undefined || index === 0) {
        const why = index === 0 ? 'pass the step as the first argument of log()' : `the columns are: ${this.columns.join(', ')}`;
        throw new Error(`metric "${name}" is not a column of ${this.file}; ${why}`);
      }
      cells[index] = formatNumber(value);
    }
    writeAll(this.fd, `${cells.join(',')}\n`);
  }

  close(): void {
    if (this.fd === null) return;
    closeSync(this.fd);
    this.fd = null;
  }
}

function checkColumns(file: string, columns: string[]): void {
  if (columns[0] !== 'step') throw new Error(`metrics columns for ${file} must start with "step", got: ${columns.join(', ')}`);
  const seen = new Set<string>();
  for (const name of columns) {
    // Names are written unquoted, so anything a CSV reader would split or unquote is refused up front.
    if (name === '' || /[,"\r\n]/.test(name)) throw new Error(`metrics column name ${JSON.stringify(name)} for ${file} cannot be written unquoted in CSV`);
    if (seen.has(name)) throw new Error(`metrics column "${name}" appears twice for ${file}`);
    seen.add(name);
  }
}

// Python's csv module writes floats with repr(), which spells the non-finite values this way;
// pandas and Python's float() read them back.
function formatNumber(n: number): string {
  if (Number.isNaN(n)) return 'nan';
  if (n === Infinity) return 'inf';
  if (n === -Infinity) return '-inf';
  return String(n);
}

function keepRowsUpTo(file: string, header: string, lastStep: number): void {
  const text = readFileSync(file, 'utf8');
  const lines = text.split('\n');
  // Whatever follows the last newline is a row torn by a kill mid-write (or nothing): never keep it.
  lines.pop();
  const existingHeader = (lines[0] ?? '').replace(/\r$/, '');
  const columns = header.split(',');
  const existing = existingHeader.split(',');
  // A run saved by an older minilm logs fewer columns (val_bpb came later): its rows move into this
  // run's layout, the new columns left empty. Any other difference is refused.
  if (existing[0] !== 'step' || !existing.every((name) => columns.includes(name))) {
    throw new Error(
      `cannot resume metrics file ${file}: its header is "${existingHeader}" but this run logs "${header}"; move the file away or start a fresh run`,
    );
  }
  const position = existing.map((name) => columns.indexOf(name));
  const kept = [header];
  for (const line of lines.slice(1)) {
    const cells = line.replace(/\r$/, '').split(',');
    const step = Number(cells[0]);
    if (cells[0] === '' || !Number.isFinite(step) || step > lastStep) continue;
    const moved: string[] = new Array(columns.length).fill('');
    cells.forEach((cell, i) => {
      if (i < position.length) moved[position[i]] = cell;
    });
    kept.push(moved.join(','));
  }
  // A crash here leaves either the old or the new file whole.
  writeAtomically(file, kept.map((line) => `${line}\n`).join(''));
}

function writeAll(fd: number, text: string): void {
  const bytes = Buffer.from(text, 'utf8');
  let written = 0;
  while (written < bytes.length) written += writeSync(fd, bytes, written, bytes.length - written);
}
