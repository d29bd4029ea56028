// The one way TypeScript runs native work: every asynchronous call into the addon goes through
// `runJob`, which maps its errors to MinilmError, relays prepare's progress by polling (the event loop
// stays free) and maps an AbortSignal onto the job's cancel flag. The native side stops at its next
// safe point.
import { native } from './native.js';
import { fromNative, MinilmError } from './errors.js';
import type { Job, PrepareProgress } from '../native/index.js';

export interface JobOptions {
  /** Called with each new progress report (prepare reports progress; other jobs do not). */
  onProgress?: (progress: PrepareProgress) => void;
  signal?: AbortSignal;
  /** How often progress is read, in milliseconds. */
  progressIntervalMs?: number;
}

/** Runs `start(job)`; resolves to what the native promise resolves to. */
export async function runJob<R>(start: (job: Job) => Promise<R>, options: JobOptions = {}): Promise<R> {
  const { onProgress, signal, progressIntervalMs = 200 } = options;
  if (signal?.aborted) throw new MinilmError('stopped before it started', 'Cancelled');
  const job = new (native().Job)();
  const cancel = () => job.cancel();
  signal?.addEventListener('abort', cancel, { once: true });
  const relay = () => {
    const progress = job.takeProgress();
    if (progress !== null) onProgress?.(progress);
  };
  const timer = onProgress ? setInterval(relay, progressIntervalMs) : undefined;
  try {
    const result = await start(job);
    if (onProgress) relay();
    return result;
  } catch (error) {
    throw fromNative(error);
  } finally {
    clearInterval(timer);
    signal?.removeEventListener('abort', cancel);
  }
}

/** Runs a synchronous native call, mapping its errors as runJob does. */
export function callNative<R>(work: () => R): R {
  try {
    return work();
  } catch (error) {
    throw fromNative(error);
  }
}

/** Awaits an asynchronous call that may throw the addon's errors, mapping them as runJob does. */
export async function callNativeAsync<R>(work: () => Promise<R>): Promise<R> {
  try {
    return await work();
  } catch (error) {
    throw fromNative(error);
  }
}
