// `minilm report OUT_DIR [--png] [--output FILE]`: one self-contained HTML page with a run's curves,
// checkpoints and settings; works on a finished run or one still training.
import { shellPath } from '../log/format.js';
import type { Argv } from 'yargs';
import { writeReport } from '../report/report.js';

export function reportCommand(yargs: Argv): Argv {
  return yargs.command(
    'report <out_dir>',
    'Write OUT_DIR/report.html: loss, val loss, learning rate, tokens/s and MFU against tokens seen, checkpoints and config',
    (y) =>
      y
        .positional('out_dir', { type: 'string', demandOption: true, describe: 'The out_dir of a pretrain run (finished or in progress)' })
        .option('output', { type: 'string', describe: 'Where to write the page (default OUT_DIR/report.html)' })
        .option('png', { type: 'boolean', default: false, describe: 'Also write the loss plot as OUT_DIR/loss.png' })
        .example('$0 report out/quickstart', '')
        .example('$0 report out/pretrain/108m --png', ''),
    (argv) => {
      const summary = writeReport(argv.out_dir as string, { output: argv.output as string | undefined, png: argv.png as boolean });
      process.stdout.write(`wrote ${shellPath(summary.html)} (${summary.rows} metric rows, ${summary.checkpoints} checkpoints); open it in a browser\n`);
      if (summary.png) process.stdout.write(`wrote ${shellPath(summary.png)}\n`);
    },
  );
}
