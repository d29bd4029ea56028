// The NCCL rendezvous: rank 0 hands its group id (128 bytes, the addon's ncclUniqueId()) to the other
// ranks over TCP at MASTER_ADDR:MASTER_PORT, as torchrun's launches expect. The others retry until rank
// 0 listens, within a time limit (MINILM_RENDEZVOUS_TIMEOUT seconds, 300 by default) after which each
// side fails naming what it waited for: a rank that never came stops the job instead of hanging it.
// Once connected, a rank waits for the id however long rank 0 takes to get ready.
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

/**
 * Rank 0's side. It listens from the start, so that the other ranks find it and then wait, connected,
 * for as long as it takes to get ready (a fine-tuning run's rank 0 prepares the examples first); then
 * `handOver` sends them NCCL's id. Only the connecting is timed: a rank that has not connected within
 * the limit fails the hand-over, and a rank 0 that dies closes the others' connections.
 */
export class IdServer {
  private readonly server: net.Server;
  /** Ranks connected and waiting for the id; one whose connection breaks is dropped (it connects again). */
  private readonly waiting = new Set<net.Socket>();
  private served = 0;
  private readonly timer: NodeJS.Timeout;
  private id: Buffer | null = null;
  private failure: Error | null = null;
  private handedOver: (() => void) | null = null;

  constructor(private readonly options: RendezvousOptions) {
    const { world, port, timeoutSeconds } = options;
    this.server = net.createServer((socket) => {
      socket.on('error', () => {});
      socket.on('close', () => this.waiting.delete(socket));
      this.waiting.add(socket);
      if (this.id !== null) this.send(this.id);
      this.settle();
    });
    this.timer = setTimeout(() => {
      const missing = world - 1 - this.waiting.size - this.served;
      this.fail(new MinilmError(`rank 0: ${missing} of the ${world - 1} other ranks did not come for NCCL's id within ${timeoutSeconds} s (port ${port})`));
    }, timeoutSeconds * 1000);
    this.server.on('error', (error) => this.fail(new MinilmError(`rank 0 cannot listen on port ${port} for the other ranks: ${error.message}`)));
    this.server.listen(port);
  }

  /** Sends `id` to every other rank, those waiting and those still to come; resolves once all have it. */
  handOver(id: Buffer): Promise<void> {
    this.id = id;
    this.send(id);
    return new Promise((resolve, reject) => {
      this.handedOver = () => (this.failure === null ? resolve() : reject(this.failure));
      this.settle();
    });
  }

  /** Stops listening and drops any waiting rank (when rank 0 fails before the hand-over). */
  close(): void {
    clearTimeout(this.timer);
    this.server.close();
    for (const socket of this.waiting) socket.destroy();
  }

  private send(id: Buffer): void {
    for (const socket of this.waiting) socket.end(id);
    this.served += this.waiting.size;
    this.waiting.clear();
  }

  private fail(error: Error): void {
    this.failure ??= error;
    this.close();
    this.settle();
  }

  private settle(): void {
    const everyone = this.waiting.size + this.served >= this.options.world - 1;
    if (everyone) {
      clearTimeout(this.timer);
      this.server.close();
    }
    if (this.handedOver !== null && (everyone || this.failure !== null)) this.handedOver();
  }
}

/** The other ranks: fetches rank 0's id, retrying until it listens or the time is up, then waiting for it. */
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
