#!/usr/bin/env node
// The `minilm` command. Each subcommand lives in its own file; this one wires them and turns errors into
// one clear paragraph and a non-zero exit (never a stack trace for bad input).
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { prepareCommand } from './prepare.js';
import { tokenizerCommand } from './tokenizer.js';
import { inspectCommand } from './inspect.js';
import { pretrainCommand } from './pretrain.js';
import { sftCommand } from './sft.js';
import { generateCommand } from './generate.js';
import { chatCommand } from './chat.js';
import { serveCommand } from './serve.js';
import { exportCommand } from './export.js';
import { quickstartCommand } from './quickstart.js';
import { reportCommand } from './report.js';
import { evalCommand } from './eval.js';
import { isCancelled, MinilmError } from '../errors.js';

// Output piped into `head` and closed early is not an error.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(0);
    throw error;
  });
}

async function main(): Promise<void> {
  let cli = yargs(hideBin(process.argv))
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
  cli = generateCommand(cli);
  cli = evalCommand(cli);
  cli = chatCommand(cli);
  cli = serveCommand(cli);
  cli = exportCommand(cli);
  cli = reportCommand(cli);
  cli = quickstartCommand(cli);
  await cli.parseAsync();
}

main().catch((error: unknown) => {
  const message = error instanceof Error ? error.message : String(error);
  if (isCancelled(error)) {
    process.stderr.write(`stopped: ${message}\n`);
    process.exit(130);
  }
  process.stderr.write(`minilm: ${message}\n`);
  if (process.env.MINILM_DEBUG && error instanceof Error) process.stderr.write(`${error.stack}\n`);
  process.exit(error instanceof MinilmError && error.code === 'InvalidArg' ? 2 : 1);
});
