// The NCCL rendezvous: rank 0 hands its group id (128 bytes, the addon's ncclUniqueId()) to the other
// ranks over TCP at MASTER_ADDR:MASTER_PORT, as torchrun's launches expect. The others retry until rank
// 0 listens, within a time limit (MINILM_RENDEZVOUS_TIMEOUT seconds, 300 by default) after which each
// side fails naming what it waited for: a rank that never came stops the job instead of hanging it.
import net from 'node:net';
import { MinilmError } from '../errors.js';
import { numberFromEnv } from './env-number.js';

export interface RendezvousOptions {
  rank: number;
  world: number;
  address: string;
  port: number;
  timeoutSeconds: number;
}

/** MASTER_ADDR / MASTER_PORT and the time limit from the environment, with a clear error when they are missing. */
export function rendezvousFromEnv(rank: number, world: number, env: NodeJS.ProcessEnv = process.env): RendezvousOptions {
  const address = env.MASTER_ADDR;
  const port = Number(env.MASTER_PORT);
  if (!address || !Number.isSafeInteger(port) || port <= 0 || port > 65535) {
    throw new MinilmError(
      `rank ${rank} of ${world}: the GPU ranks meet at MASTER_ADDR:MASTER_PORT (rank 0's host and a free port), which ${address ? `has port ${env.MASTER_PORT}` : 'is not set'}; ` +
        'torchrun and `minilm pretrain --devices N` set them, under srun set them in the batch script (docs/data-parallel.md)',
      'InvalidArg',
    );
  }
  const timeoutSeconds = numberFromEnv(env, 'MINILM_RENDEZVOUS_TIMEOUT', rank, (seconds) => seconds > 0, 'a number of seconds above 0') ?? 300;
  return { rank, world, address, port, timeoutSeconds };
}

/** Rank 0: serves `id` to the world - 1 other ranks, then stops listening. */
export function serveId(id: Buffer, options: RendezvousOptions): Promise<void> {
  const { world, port, timeoutSeconds } = options;
  return new Promise((resolve, reject) => {
    let served = 0;
    const server = net.createServer((socket) => {
      socket.end(id);
      served += 1;
      if (served === world - 1) finish(null);
    });
    const timer = setTimeout(
      () =>
        finish(
          new MinilmError(`rank 0: ${world - 1 - served} of the ${world - 1} other ranks did not come for NCCL's id within ${timeoutSeconds} s (port ${port})`),
        ),
      timeoutSeconds * 1000,
    );
    const finish = (error: Error | null) => {
      clearTimeout(timer);
      server.close();
      if (error) reject(error);
      else resolve();
    };
    server.on('error', (error) => finish(new MinilmError(`rank 0 cannot listen on port ${port} for the other ranks: ${error.message}`)));
    server.listen(port);
    if (world === 1) finish(null);
  });
}

/** The other ranks: fetches rank 0's id, retrying until it listens or the time is up. */
export async function fetchId(options: RendezvousOptions): Promise<Buffer> {
  const { rank, address, port, timeoutSeconds } = options;
  const deadline = Date.now() + timeoutSeconds * 1000;
  let last = '';
  while (Date.now() < deadline) {
    try {
      const id = await readOnce(address, port);
      if (id.length === 128) return id;
      last = `it sent ${id.length} bytes, not 128`;
    } catch (error) {
      last = (error as Error).message;
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new MinilmError(`rank ${rank}: rank 0 did not hand over NCCL's id at ${address}:${port} within ${timeoutSeconds} s (last: ${last})`);
}

function readOnce(address: string, port: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const socket = net.connect({ host: address, port });
    socket.on('data', (chunk) => chunks.push(chunk));
    socket.on('end', () => resolve(Buffer.concat(chunks)));
    socket.on('error', reject);
  });
}
