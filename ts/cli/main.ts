#!/usr/bin/env node
// The `minilm` command. Each subcommand lives in its own file, commands.ts wires them; this one runs the
// command line and turns errors into one clear paragraph and a non-zero exit (never a stack trace for bad input).
import { hideBin } from 'yargs/helpers';
import { buildCli } from './commands.js';
import { isCancelled, MinilmError } from '../errors.js';
import { ranksFromEnv } from '../ranks.js';

// Output piped into `head` and closed early is not an error.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(0);
    throw error;
  });
}

async function main(): Promise<void> {
  await buildCli(hideBin(process.argv)).parseAsync();
}

main().catch((error: unknown) => {
  const message = error instanceof Error ? error.message : String(error);
  if (isCancelled(error)) {
    // A data-parallel run's ranks all stop; rank 0 says so.
    if (ranksFromEnv().rank === 0) process.stderr.write(`stopped: ${message}\n`);
    process.exit(130);
  }
  process.stderr.write(`minilm: ${message}\n`);
  if (process.env.MINILM_DEBUG && error instanceof Error) process.stderr.write(`${error.stack}\n`);
  process.exit(error instanceof MinilmError && error.code === 'InvalidArg' ? 2 : 1);
});
