// `minilm inspect DIR`.
import type { Argv } from 'yargs';
import { readFilterReport } from '../data/filter-report.js';
import { inspectDataset } from '../data/tokenizer.js';
import { thousands } from '../log/format.js';
import { native } from '../native.js';
import { printFilterReport } from './prepare.js';
import { nonNegativeInteger } from './validate.js';

export function inspectCommand(yargs: Argv): Argv {
  return yargs.command(
    'inspect <dir>',
    'Show what a prepared dataset holds: documents, tokens, chunks, dtype, ids seen, decoded samples',
    (y) =>
      y
        .positional('dir', { type: 'string', demandOption: true, describe: 'An output folder of prepare, or one split folder (with index.json)' })
        .option('tokenizer_path', { alias: 'tokenizer-path', type: 'string', describe: 'Tokenizer for the samples [default: DIR/tokenizer]' })
        .option('samples', { type: 'number', default: native().inspectDefaults().samples, describe: 'Documents to decode per split' })
        .option('json', { type: 'boolean', default: false, describe: 'Print the report as JSON' }),
    async (argv) => {
      const report = await inspectDataset(argv.dir as string, {
        tokenizerPath: argv.tokenizer_path,
        samples: nonNegativeInteger('samples', argv.samples),
      });
      // A split folder has no report; the prepared folder above it may.
      const filterReport = readFilterReport(argv.dir as string);
      if (argv.json) {
        process.stdout.write(`${JSON.stringify({ ...report, filterReport }, null, 2)}\n`);
        return;
      }
      const out = (line: string) => process.stdout.write(`${line}\n`);
      for (const s of report.splits) {
        out(`${s.name} (${s.path})`);
        out(`  ${thousands(s.documents)} documents, ${thousands(s.tokens)} tokens, ${s.chunks} chunks, ${s.dtype}, item_loader ${s.itemLoader ?? 'none'}`);
        out(
          `  ${thousands(s.distinctIds)} distinct token ids seen, largest ${thousands(s.maxId)}` +
            (report.tokenizerVocabSize ? ` (tokenizer vocabulary: ${thousands(report.tokenizerVocabSize)})` : ''),
        );
        s.samples.forEach((text, i) => {
          const oneLine = text.replace(/\s+/g, ' ').trim();
          out(`  sample ${i + 1}: ${oneLine.length > 160 ? `${oneLine.slice(0, 160)}…` : oneLine}`);
        });
      }
      if (filterReport) {
        out('screening (filter-report.json)');
        printFilterReport(filterReport, out);
      }
      if (!report.tokenizer) out('(no tokenizer found for samples: pass --tokenizer_path)');
    },
  );
}
