// The `minilm` command line as a yargs instance: every subcommand wired, nothing parsed or run yet.
// main.ts parses process.argv with it; test/docs.test.ts parses the docs' command lines with the same
// instance (stopping before any handler), so a documented flag that does not exist fails a test.
import yargs, { type Argv } from 'yargs';
import { prepareCommand } from './prepare.js';
import { tokenizerCommand } from './tokenizer.js';
import { inspectCommand } from './inspect.js';
import { pretrainCommand } from './pretrain.js';
import { sftCommand } from './sft.js';
import { dpoCommand } from './dpo.js';
import { generateCommand } from './generate.js';
import { chatCommand } from './chat.js';
import { serveCommand } from './serve.js';
import { exportCommand } from './export.js';
import { quickstartCommand } from './quickstart.js';
import { reportCommand } from './report.js';
import { evalCommand } from './eval.js';
import { MinilmError } from '../errors.js';

/** The CLI for `args` (the words after `minilm`); a bad command or flag fails as a thrown InvalidArg. */
export function buildCli(args: string[]): Argv {
  let cli = yargs(args)
    .scriptName('minilm')
    .usage('$0 <command> [options]\n\nTrain a small language model from scratch on one machine.')
    .strict()
    .demandCommand(1, 'Choose a command.')
    .recommendCommands()
    .parserConfiguration({ 'camel-case-expansion': false })
    .help()
    .version(false)
    .fail((message, error) => {
      throw error ?? new MinilmError(message, 'InvalidArg');
    });
  cli = prepareCommand(cli);
  cli = tokenizerCommand(cli);
  cli = inspectCommand(cli);
  cli = pretrainCommand(cli);
  cli = sftCommand(cli);
  cli = dpoCommand(cli);
  cli = generateCommand(cli);
  cli = evalCommand(cli);
  cli = chatCommand(cli);
  cli = serveCommand(cli);
  cli = exportCommand(cli);
  cli = reportCommand(cli);
  return quickstartCommand(cli);
}
