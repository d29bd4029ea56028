// `minilm pretrain --devices N` on one machine: starts N ranks, each running the same command, which
// then finds its rank in its launcher's variables (ts/ranks.ts), and waits for them.
// - On the CPU, with Open MPI's mpirun (the ranks sum through MPI). Ctrl-C and SIGTERM become SIGUSR2
//   for mpirun, which passes it to every rank.
// - On GPUs, as torchrun does: N processes with RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and
//   MASTER_PORT (the ranks sum through NCCL after its rendezvous). Ctrl-C reaches them all from the
//   terminal; a rank that fails ends the others at once, since they would wait for it.
// Asked to stop, the ranks agree on the step to stop after, rank 0 saves it, and all exit; a second
// Ctrl-C ends them at once.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import net from 'node:net';
import os from 'node:os';
import { MinilmError } from '../errors.js';
import { mpiAddonFile } from '../native.js';

/** Runs this command as `devices` ranks, on GPUs (`gpus`) or CPUs; resolves to the exit code. */
export function launchRanks(devices: number, gpus: boolean): Promise<number> {
  return gpus ? launchGpuRanks(devices) : launchMpiRanks(devices);
}

async function launchMpiRanks(devices: number): Promise<number> {
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
      mpirun.on('exit', (code, signal) => resolve(exitStatus(code, signal)));
    });
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

async function launchGpuRanks(devices: number): Promise<number> {
  const port = await freePort();
  const children: ChildProcess[] = [];
  for (let rank = 0; rank < devices; rank++) {
    const env = {
      ...process.env,
      RANK: String(rank),
      LOCAL_RANK: String(rank),
      WORLD_SIZE: String(devices),
      LOCAL_WORLD_SIZE: String(devices),
      MASTER_ADDR: '127.0.0.1',
      MASTER_PORT: String(port),
    };
    children.push(spawn(process.execPath, [...process.execArgv, process.argv[1], ...process.argv.slice(2)], { stdio: 'inherit', env }));
  }
  let asked = false;
  const onSignal = (name: NodeJS.Signals) => {
    // The ranks got the terminal's Ctrl-C too; a second one (or a SIGTERM sent here) ends them.
    if (asked || name === 'SIGTERM') {
      for (const child of children) child.kill(asked ? 'SIGKILL' : 'SIGTERM');
    }
    asked = true;
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const codes = await Promise.all(
      children.map(
        (child, rank) =>
          new Promise<number>((resolve) => {
            child.on('exit', (code, signal) => {
              const status = exitStatus(code, signal);
              if (status !== 0 && !asked) {
                process.stderr.write(`minilm: rank ${rank} of ${devices} exited with status ${status}: ending the other ranks\n`);
                asked = true;
                for (const other of children) if (other !== child) other.kill('SIGKILL');
              }
              resolve(status);
            });
          }),
      ),
    );
    return codes.find((code) => code !== 0) ?? 0;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

/** A child's exit status as a shell reports it: its code, or 128 + the signal that ended it. */
function exitStatus(code: number | null, signal: NodeJS.Signals | null): number {
  return code ?? (signal === null ? 1 : 128 + (os.constants.signals[signal] ?? 0));
}

/** A TCP port nothing listens on now, for the ranks' rendezvous. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}
