// Continuous batching for one model: every generation in flight decodes in the same native step
// (one forward pass over all of them, each with its own cache and settings), a new one joins at the
// next step after its prompt's prefill, and one that ends or is stopped leaves at once. Beyond
// `maxBatch` sequences a generation waits its turn, first come first served.
//
// A generation's tokens do not depend on what else is in the batch (the core's decode step is
// batch-invariant on the CPU), so a request gives the same text alone or beside seven others.
import { MinilmError } from '../errors.js';
import { runJob } from '../job.js';
import type { GenerateOptions as NativeGenerateOptions, NativeDecodeBatch, StepToken } from '../../native/index.js';

/** What the batcher has in hand, for /metrics. */
export interface BatcherStats {
  /** Sequences decoding (or joining at the next step). */
  active: number;
  /** Generations waiting for room in the batch. */
  waiting: number;
  steps: number;
  /** Tokens made by all steps together. */
  tokens: number;
}

/** One sequence's tokens, in order; null after its last. */
export interface TokenSource {
  next(): Promise<StepToken | null>;
  /** Leaves the batch (or the queue) now; its cache is freed at the next step. */
  close(): void;
}

export class DecodeBatcher {
  /** The most sequences decoding at once; more wait. */
  maxBatch: number;
  private readonly sequences = new Map<number, BatchSequence>();
  private readonly queue: Array<{ size: number; admit: () => void }> = [];
  private stepping = false;
  /** Sequences that left since the last step began: a step running then frees their caches only at the next. */
  private leftSinceStep = 0;
  private steps = 0;
  private tokens = 0;

  constructor(
    private readonly native: NativeDecodeBatch,
    maxBatch = 8,
  ) {
    this.maxBatch = maxBatch;
  }

  stats(): BatcherStats {
    return { active: this.sequences.size, waiting: this.queue.length, steps: this.steps, tokens: this.tokens };
  }

  /**
   * `choices` generations of one prompt (they share its prefill), started once the batch has room.
   * Settings are checked before waiting; `signal` stops a generation waiting or running.
   */
  async start(promptIds: number[], settings: NativeGenerateOptions, choices = 1, signal?: AbortSignal): Promise<TokenSource[]> {
    if (choices > this.maxBatch) throw new MinilmError(`${choices} choices are more than this batch's ${this.maxBatch} sequences`, 'InvalidArg');
    if (this.wouldWait(choices)) await this.waitForRoom(choices, signal);
    if (signal?.aborted) throw new MinilmError('generation stopped', 'Cancelled');
    let ids: number[];
    try {
      ids = this.native.join(promptIds, settings, choices);
    } catch (error) {
      this.admitWaiting();
      throw error;
    }
    const sources = ids.map((id) => new BatchSequence(id, () => this.leave(id)));
    for (const source of sources) this.sequences.set(source.id, source);
    signal?.addEventListener(
      'abort',
      () => {
        for (const source of sources) source.close();
      },
      { once: true },
    );
    void this.run();
    return sources;
  }

  /** Whether `choices` more sequences would wait: the batch is full, or others wait already (first come, first served). */
  wouldWait(choices: number): boolean {
    return this.queue.length > 0 || this.sequences.size + choices > this.maxBatch;
  }

  private waitForRoom(size: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      const entry = {
        size,
        admit: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
      };
      const onAbort = () => {
        this.queue.splice(this.queue.indexOf(entry), 1);
        reject(new MinilmError('generation stopped while waiting for the batch', 'Cancelled'));
        this.admitWaiting();
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.queue.push(entry);
    });
  }

  /** Lets in the waiting generations that fit, in order. */
  private admitWaiting(): void {
    let room = this.maxBatch - this.sequences.size;
    while (this.queue.length > 0 && this.queue[0].size <= room) {
      const next = this.queue.shift()!;
      room -= next.size;
      next.admit();
    }
  }

  private leave(id: number): void {
    if (!this.sequences.delete(id)) return;
    this.native.remove(id);
    this.leftSinceStep += 1;
    this.admitWaiting();
  }

  /** Steps while any sequence is in the batch, and once more after the last leaves; one loop at a time. */
  private async run(): Promise<void> {
    if (this.stepping) return;
    this.stepping = true;
    try {
      while (this.sequences.size > 0 || this.leftSinceStep > 0) {
        this.leftSinceStep = 0;
        let tokens: StepToken[];
        try {
          tokens = await runJob(() => this.native.step());
        } catch (error) {
          // A failed step fails every sequence in it; the batch starts over empty.
          for (const sequence of this.sequences.values()) {
            sequence.fail(error);
            this.native.remove(sequence.id);
          }
          this.sequences.clear();
          this.admitWaiting();
          continue;
        }
        this.steps += 1;
        this.tokens += tokens.length;
        for (const token of tokens) {
          const sequence = this.sequences.get(token.sequence);
          if (!sequence) continue; // it left during the step
          sequence.deliver(token);
          if (token.finished) {
            sequence.deliver(null);
            this.sequences.delete(token.sequence);
          }
        }
        this.admitWaiting();
      }
    } finally {
      this.stepping = false;
    }
  }
}

/** A sequence's tokens as the steps deliver them, buffered until read. */
class BatchSequence implements TokenSource {
  private readonly ready: Array<StepToken | null> = [];
  private waiter: { resolve: (token: StepToken | null) => void; reject: (error: unknown) => void } | null = null;
  private error: unknown = null;
  private closed = false;

  constructor(
    readonly id: number,
    private readonly onClose: () => void,
  ) {}

  deliver(token: StepToken | null): void {
    if (this.waiter) {
      this.waiter.resolve(token);
      this.waiter = null;
    } else this.ready.push(token);
  }

  fail(error: unknown): void {
    this.error = error;
    this.waiter?.reject(error);
    this.waiter = null;
  }

  next(): Promise<StepToken | null> {
    if (this.ready.length > 0) return Promise.resolve(this.ready.shift()!);
    if (this.error !== null) return Promise.reject(this.error);
    if (this.closed) return Promise.resolve(null);
    return new Promise((resolve, reject) => {
      this.waiter = { resolve, reject };
    });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.onClose();
    this.deliver(null);
  }
}
