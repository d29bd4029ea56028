// Runs a native job: relays its progress by polling (the event loop stays free) and maps an
// AbortSignal onto the job's cancel flag. The native side stops at its next safe point.
import { native } from '../native.js';
import { fromNative, MinilmError } from '../errors.js';
import type { Job } from '../../native/index.js';

export interface JobOptions<P> {
  onProgress?: (progress: P) => void;
  signal?: AbortSignal;
  /** How often progress is read, in milliseconds. */
  progressIntervalMs?: number;
}

export async function runJob<P, R>(start: (job: Job) => Promise<unknown>, options: JobOptions<P> = {}): Promise<R> {
  const { onProgress, signal, progressIntervalMs = 200 } = options;
  if (signal?.aborted) throw new MinilmError('stopped before it started', 'Cancelled');
  const job = new (native().Job)();
  const cancel = () => job.cancel();
  signal?.addEventListener('abort', cancel, { once: true });
  let last: string | null = null;
  const relay = () => {
    const now = job.progress();
    if (now !== null && now !== last) {
      last = now;
      onProgress?.(JSON.parse(now) as P);
    }
  };
  const timer = onProgress ? setInterval(relay, progressIntervalMs) : undefined;
  try {
    const result = (await start(job)) as string;
    if (onProgress) relay();
    return JSON.parse(result) as R;
  } catch (error) {
    throw fromNative(error);
  } finally {
    clearInterval(timer);
    signal?.removeEventListener('abort', cancel);
  }
}
