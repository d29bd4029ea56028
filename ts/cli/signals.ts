// Ctrl-C and SIGTERM stop long work cleanly: the first one aborts (the work saves what it can and the
// command exits), a second one exits at once.

import { ranksFromEnv } from '../ranks.js';

export function stopOnSignals(): { signal: AbortSignal; dispose: () => void } {
  const controller = new AbortController();
  const onSignal = (name: NodeJS.Signals) => {
    if (controller.signal.aborted) {
      process.stderr.write(`\n${name} again: exiting now\n`);
      process.exit(130);
    }
    process.stderr.write(`\n${name}: stopping after saving what is done (press Ctrl-C again to exit at once)\n`);
    controller.abort();
  };
  // A rank of `--devices N` (cli/launch-ranks.ts) is asked to stop through mpirun, which passes on SIGUSR2.
  const signals: NodeJS.Signals[] = ranksFromEnv().world > 1 ? ['SIGINT', 'SIGTERM', 'SIGUSR2'] : ['SIGINT', 'SIGTERM'];
  for (const name of signals) process.on(name, onSignal);
  return {
    signal: controller.signal,
    dispose: () => {
      for (const name of signals) process.off(name, onSignal);
    },
  };
}
