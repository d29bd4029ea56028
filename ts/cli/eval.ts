// `minilm eval CHECKPOINT --data ... --tasks ... --generate PROMPTS`: loss, perplexity and bits per byte on
// text the model never saw, multiple-choice accuracy beside its chance level, and how repetitive its
// samples are. A table on the terminal, --json for machines; evaluation.json goes into the run's
// out_dir (or --out_dir), where `minilm report` shows it.
import fs from 'node:fs';
import path from 'node:path';
import type { Argv } from 'yargs';
import { evaluate, readPrompts, saveEvaluation, type EvaluationReport } from '../eval/evaluate.js';
import type { AccuracyFigure, LossFigures } from '../../native/index.js';
import { ProgressDisplay } from '../log/progress.js';
import { formatCount, shellPath, thousands } from '../log/format.js';
import { litgptCsvMetricsFile } from '../log/csv-metrics.js';
import { samplingOptions, withSamplingFlags } from './sampling-flags.js';
import { stopOnSignals } from './signals.js';
import { positiveInteger } from './validate.js';

export function evalCommand(yargs: Argv): Argv {
  return yargs.command(
    'eval <checkpoint_dir>',
    'Evaluate a checkpoint: loss / perplexity / bits per byte on text, multiple-choice accuracy, repetition of samples',
    (y) =>
      withSamplingFlags(y)
        .positional('checkpoint_dir', { type: 'string', demandOption: true, describe: 'The model folder (out_dir/final, step-*, or an export)' })
        .option('data', {
          type: 'string',
          array: true,
          describe: 'Prepared splits (a prepare output folder means its val/), folders of Parquet / JSONL / CSV files, or files',
        })
        .option('text_key', { alias: 'text-key', type: 'string', default: 'text', describe: 'The text field of raw files (dots reach into nested fields)' })
        .option('file_type', {
          alias: 'file-type',
          choices: ['parquet', 'jsonl', 'csv', 'auto'],
          describe: 'Which files of a folder to read [default: the one kind it holds]',
        })
        .option('batch_size', { alias: 'batch-size', type: 'number', default: 4, describe: 'Windows of block_size + 1 tokens per forward pass' })
        .option('tasks', { type: 'string', array: true, describe: 'C-Eval / CMMLU (.csv, .jsonl) and HellaSwag (.jsonl) files' })
        .option('description', { type: 'string', describe: "Text put before every task question (lm-eval's task description)" })
        .option('generate', { type: 'string', describe: 'A text file of prompts, one per line: samples them and reports repetition' })
        .option('json', { type: 'boolean', default: false, describe: 'Print the results as JSON' })
        .option('out_dir', {
          alias: 'out-dir',
          type: 'string',
          describe: "Where to write evaluation.json [default: the checkpoint's run out_dir, when it is in one]",
        })
        .option('tokenizer_dir', { alias: 'tokenizer-dir', type: 'string', describe: 'Tokenizer folder [default: the checkpoint folder]' })
        .option('device', { choices: ['cpu', 'cuda', 'auto'], default: 'cpu', describe: 'Where to run' })
        .example('$0 eval out/quickstart/final --data data/held-out.jsonl', '')
        .example('$0 eval out/quickstart/final --tasks ceval/computer_network_val.csv hellaswag_val.jsonl', '')
        .example('$0 eval out/quickstart/final --generate prompts.txt --repetition_penalty 1.2', ''),
    async (argv) => {
      const display = new ProgressDisplay();
      const stop = stopOnSignals();
      try {
        const report = await evaluate(argv.checkpoint_dir as string, {
          data: argv.data as string[] | undefined,
          textKey: argv.text_key as string,
          fileType: argv.file_type as 'parquet' | 'jsonl' | 'csv' | 'auto' | undefined,
          batchSize: positiveInteger('batch_size', argv.batch_size as number),
          tasks: argv.tasks as string[] | undefined,
          description: argv.description as string | undefined,
          generate: argv.generate === undefined ? undefined : { prompts: readPrompts(argv.generate as string), sampling: samplingOptions(argv) },
          tokenizerDir: argv.tokenizer_dir as string | undefined,
          device: argv.device as 'cpu' | 'cuda' | 'auto',
          signal: stop.signal,
          onProgress: (p) =>
            display.update({
              fraction: p.inputBytesTotal > 0 ? p.inputBytesDone / p.inputBytesTotal : null,
              detail: `evaluating  ${p.filesDone}/${p.filesTotal} files  ${p.tokens > 0 ? `${formatCount(p.tokens / Math.max(p.elapsedSeconds, 1e-3))} tok/s` : `${thousands(p.documents)} items`}`,
              etaSeconds: null,
            }),
        });
        display.done();
        const outDir = (argv.out_dir as string | undefined) ?? runOutDir(argv.checkpoint_dir as string);
        const saved = outDir === null ? null : saveEvaluation(outDir, report);
        if (argv.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
        else process.stdout.write(formatReport(report));
        if (saved !== null) process.stderr.write(`wrote ${shellPath(saved)}${outDir === null ? '' : ' (minilm report shows it)'}\n`);
      } finally {
        display.done();
        stop.dispose();
      }
    },
  );
}

/** The out_dir of the run a checkpoint folder belongs to (its parent, when that holds the run's metrics), or null. */
function runOutDir(checkpoint: string): string | null {
  const parent = path.dirname(path.resolve(checkpoint));
  return fs.existsSync(litgptCsvMetricsFile(parent)) ? parent : null;
}

function percent(x: number): string {
  return `${(100 * x).toFixed(1)}%`;
}

function interval(a: AccuracyFigure): string {
  return `${percent(a.value)} (95% ${percent(a.low)}-${percent(a.high)})`;
}

function figures(f: LossFigures): string[] {
  const fixed = (x: number | null | undefined, digits: number) => (x == null ? '-' : x.toFixed(digits));
  return [thousands(f.tokens), fixed(f.loss, 4), fixed(f.perplexity, 2), fixed(f.bitsPerByte, 4)];
}

function table(rows: string[][]): string {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => [...r[c]].length)));
  return rows.map((r) => r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join('  ')).join('\n');
}

/** The terminal table of an evaluation. */
export function formatReport(report: EvaluationReport): string {
  const parts: string[] = [];
  if (report.data) {
    const rows = [['data', 'tokens', 'loss', 'ppl', 'bits/byte']];
    for (const input of report.data.inputs) rows.push([shellPath(input.name), ...figures(input.figures)]);
    if (report.data.inputs.length > 1) rows.push(['total', ...figures(report.data.total)]);
    parts.push(table(rows));
  }
  if (report.tasks) {
    const rows = [['task', 'items', 'acc', 'acc_norm', 'chance']];
    for (const t of report.tasks) {
      rows.push([shellPath(t.path), thousands(t.items.length), interval(t.accuracy), t.accuracyNorm ? interval(t.accuracyNorm) : '-', percent(t.chance)]);
    }
    parts.push(table(rows));
    parts.push('A score whose 95% interval holds the chance level is not distinguishable from guessing.');
  }
  if (report.generation) {
    const { stats, settings } = report.generation;
    const shown = Object.entries(settings)
      .map(([k, v]) => `${k} ${v ?? 'off'}`)
      .join(', ');
    parts.push(
      `generation: ${stats.samples} samples, ${thousands(stats.units)} units (CJK characters, other words); ${shown}\n` +
        table([
          ['distinct-1', 'distinct-2', 'repeated 4-grams', 'looping samples'],
          [stats.distinct1.toFixed(3), stats.distinct2.toFixed(3), percent(stats.repeated4gramShare), percent(stats.loopingShare)],
        ]),
    );
  }
  return `${parts.join('\n\n')}\n`;
}
