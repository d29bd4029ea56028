// `minilm report OUT_DIR` as a library call: reads the run and writes report.html (and loss.png) into
// OUT_DIR, each under a temporary name first, so a report being viewed is never half-written.
import path from 'node:path';
import { writeAtomically } from '../atomic-file.js';
import { MinilmError } from '../errors.js';
import { reportHtml } from './html.js';
import { lossPng } from './loss-png.js';
import { readRun } from './run-record.js';

export interface ReportOptions {
  /** Where the page goes; default OUT_DIR/report.html. */
  output?: string;
  /** Also write the loss chart as a PNG: true for OUT_DIR/loss.png, or a path. */
  png?: boolean | string;
}

export interface ReportSummary {
  html: string;
  png: string | null;
  rows: number;
  checkpoints: number;
}

export function writeReport(outDir: string, options: ReportOptions = {}): ReportSummary {
  const run = readRun(outDir);
  const html = options.output ?? path.join(outDir, 'report.html');
  writeAtomically(html, reportHtml(run));
  let png: string | null = null;
  if (options.png) {
    const image = lossPng(run.rows);
    if (image === null) throw new MinilmError(`${run.metricsFile} has no loss rows yet, so there is no loss plot to write; wrote ${html} only`, 'InvalidArg');
    png = typeof options.png === 'string' ? options.png : path.join(outDir, 'loss.png');
    writeAtomically(png, image);
  }
  return { html, png, rows: run.rows.length, checkpoints: run.checkpoints.length };
}
