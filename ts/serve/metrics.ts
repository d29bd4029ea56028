// What `GET /metrics` reports, in Prometheus's text format: requests by status, tokens, the batch and
// its queue, and latency histograms (time to first token, whole request).
import type { BatcherStats } from '../model/decode-batcher.js';

/** Upper bounds of the latency histograms' buckets, in seconds. */
const BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];

class Histogram {
  private readonly counts = BUCKETS.map(() => 0);
  private sum = 0;
  private count = 0;

  observe(seconds: number): void {
    BUCKETS.forEach((bound, i) => {
      if (seconds <= bound) this.counts[i] += 1;
    });
    this.sum += seconds;
    this.count += 1;
  }

  mean(): number {
    return this.count === 0 ? 0 : this.sum / this.count;
  }

  render(name: string, help: string): string[] {
    return [
      `# HELP ${name} ${help}`,
      `# TYPE ${name} histogram`,
      ...BUCKETS.map((bound, i) => `${name}_bucket{le="${bound}"} ${this.counts[i]}`),
      `${name}_bucket{le="+Inf"} ${this.count}`,
      `${name}_sum ${this.sum}`,
      `${name}_count ${this.count}`,
    ];
  }
}

export class ServerMetrics {
  private readonly byStatus = new Map<number, number>();
  private promptTokens = 0;
  private generatedTokens = 0;
  private readonly firstToken = new Histogram();
  private readonly generation = new Histogram();
  private readonly request = new Histogram();

  /** A response sent, with its status and time. */
  answered(status: number, ms: number): void {
    this.byStatus.set(status, (this.byStatus.get(status) ?? 0) + 1);
    this.request.observe(ms / 1000);
  }

  /** A generation's counts (null when it never started). */
  generated(counts: { promptTokens: number; newTokens: number; firstTokenMs: number; totalMs: number } | null): void {
    if (!counts) return;
    this.promptTokens += counts.promptTokens;
    this.generatedTokens += counts.newTokens;
    if (counts.newTokens > 0) this.firstToken.observe(counts.firstTokenMs / 1000);
    this.generation.observe(counts.totalMs / 1000);
  }

  /** The mean time a generation has taken so far (1 s before any), for 429's Retry-After. */
  secondsPerRequest(): number {
    return this.generation.mean() || 1;
  }

  render(batch: BatcherStats): string {
    const lines = [
      '# HELP minilm_requests_total HTTP responses by status code.',
      '# TYPE minilm_requests_total counter',
      ...[...this.byStatus].sort(([a], [b]) => a - b).map(([status, n]) => `minilm_requests_total{status="${status}"} ${n}`),
      '# HELP minilm_prompt_tokens_total Prompt tokens of the generations run.',
      '# TYPE minilm_prompt_tokens_total counter',
      `minilm_prompt_tokens_total ${this.promptTokens}`,
      '# HELP minilm_generated_tokens_total Tokens generated.',
      '# TYPE minilm_generated_tokens_total counter',
      `minilm_generated_tokens_total ${this.generatedTokens}`,
      '# HELP minilm_batch_size Sequences decoding together now.',
      '# TYPE minilm_batch_size gauge',
      `minilm_batch_size ${batch.active}`,
      '# HELP minilm_queue_depth Requests waiting for room in the batch.',
      '# TYPE minilm_queue_depth gauge',
      `minilm_queue_depth ${batch.waiting}`,
      '# HELP minilm_decode_steps_total Decode steps run (one forward pass over the batch each).',
      '# TYPE minilm_decode_steps_total counter',
      `minilm_decode_steps_total ${batch.steps}`,
      ...this.firstToken.render('minilm_time_to_first_token_seconds', 'From a generation start to its first token.'),
      ...this.generation.render('minilm_generation_seconds', 'A whole generation.'),
      ...this.request.render('minilm_request_seconds', 'From a request to its response, every route.'),
    ];
    return `${lines.join('\n')}\n`;
  }
}
