// `minilm pretrain --devices N` on one machine: starts the N ranks with Open MPI's mpirun, each running
// the same command (which then finds its rank in mpirun's variables, ts/train/ranks.ts), and waits.
// Ctrl-C and SIGTERM become SIGUSR2 for mpirun, which passes it to every rank: they agree to stop
// after the step they are in, rank 0 saves a checkpoint, and all exit (a second Ctrl-C ends mpirun).
import { spawn, spawnSync } from 'node:child_process';
import os from 'node:os';
import { MinilmError } from '../errors.js';
import { mpiAddonFile } from '../native.js';

/** Runs this command as `devices` ranks under mpirun; resolves to mpirun's exit code. */
export async function launchRanks(devices: number): Promise<number> {
  if (spawnSync('mpirun', ['--version'], { stdio: 'ignore' }).status !== 0) {
    throw new MinilmError(
      `--devices ${devices} starts ${devices} processes with Open MPI's mpirun, which is not on the PATH: install Open MPI ` +
        '(Debian/Ubuntu: apt install openmpi-bin libopenmpi-dev libclang-dev) and build the MPI addon (npm run build:mpi); docs/data-parallel.md',
      'InvalidArg',
    );
  }
  if (mpiAddonFile() === null) {
    throw new MinilmError(
      `--devices ${devices} needs minilm's MPI addon: run npm run build:mpi (with Open MPI installed); docs/data-parallel.md`,
      'InvalidArg',
    );
  }
  // Each rank's matrix products use its share of the cores (mpirun would otherwise bind each to one core).
  const threads = Math.max(1, Math.floor(os.availableParallelism() / devices));
  const args = ['-np', String(devices), '--bind-to', 'none', '-x', `RAYON_NUM_THREADS=${threads}`];
  args.push(process.execPath, ...process.execArgv, process.argv[1], ...process.argv.slice(2));
  // Its own process group: a Ctrl-C at the terminal reaches this process alone, which turns it into
  // the stop request below instead of mpirun's immediate kill.
  const mpirun = spawn('mpirun', args, { stdio: 'inherit', detached: true });
  let asked = false;
  const onSignal = (name: NodeJS.Signals) => {
    if (asked) {
      process.stderr.write(`\n${name} again: ending the ranks now\n`);
      mpirun.kill('SIGTERM');
      return;
    }
    asked = true;
    process.stderr.write(`\n${name}: the ranks stop after this step; rank 0 saves a checkpoint (press Ctrl-C again to end them at once)\n`);
    mpirun.kill('SIGUSR2');
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    return await new Promise<number>((resolve, reject) => {
      mpirun.on('error', reject);
      mpirun.on('exit', (code, signal) => resolve(code ?? (signal === null ? 1 : 128 + (os.constants.signals[signal] ?? 0))));
    });
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
