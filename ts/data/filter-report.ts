// OUTPUT_DIR/filter-report.json, which prepare's screening writes (crates/minilm-core/src/data/screen/mod.rs,
// FilterReport): what the filters and the dedup dropped, with a few examples of each.
import fs from 'node:fs';
import path from 'node:path';
import { MinilmError } from '../errors.js';

export const FILTER_REPORT_FILE = 'filter-report.json';

export interface ReportExample {
  file: string;
  /** 1-based row (a line for JSON Lines). */
  row: number;
  snippet: string;
  measure?: string;
  value?: number;
  duplicate_of?: { file: string; row: number; snippet: string };
}

export interface FilterReport {
  documents: number;
  kept: number;
  dropped: number;
  rules: { rule: string; dropped: number; examples: ReportExample[] }[];
  dedup: { kind: 'exact' | 'minhash'; dropped: number; examples: ReportExample[] }[];
  minhash_threshold: number | null;
  settings: Record<string, unknown> | null;
}

/** The report in a prepared folder, or null when it was not screened. */
export function readFilterReport(outputDir: string): FilterReport | null {
  const file = path.join(outputDir, FILTER_REPORT_FILE);
  if (!fs.existsSync(file)) return null;
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as FilterReport;
  } catch (error) {
    throw new MinilmError(`${file}: not a filter report (${(error as Error).message})`);
  }
}
