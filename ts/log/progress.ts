// Progress for long work: a redrawn bar on a terminal, a plain line every few seconds otherwise
// (CI logs, pipes), so neither floods the output nor goes silent.
import { formatDuration } from './format.js';

export interface ProgressLine {
  /** Fraction done, 0..1, or null when unknown. */
  fraction: number | null;
  /** What follows the bar, e.g. "3/10 files  4.2 MB/s  1.1M tok/s". */
  detail: string;
  /** Seconds left, or null when unknown. */
  etaSeconds: number | null;
}

export class ProgressDisplay {
  private readonly stream: NodeJS.WriteStream;
  private readonly isTerminal: boolean;
  private readonly plainIntervalMs: number;
  private lastPlain = 0;
  private drawn = false;

  constructor(stream: NodeJS.WriteStream = process.stderr, plainIntervalMs = Number(process.env.MINILM_PROGRESS_INTERVAL_MS ?? 5000)) {
    this.stream = stream;
    this.isTerminal = Boolean(stream.isTTY) && process.env.TERM !== 'dumb';
    this.plainIntervalMs = plainIntervalMs;
  }

  update(line: ProgressLine): void {
    const eta = line.etaSeconds === null ? '' : `  ETA ${formatDuration(line.etaSeconds)}`;
    const percent = line.fraction === null ? '' : `${(100 * line.fraction).toFixed(1).padStart(5)}% `;
    if (this.isTerminal) {
      const width = 24;
      const filled = Math.round(width * Math.min(1, Math.max(0, line.fraction ?? 0)));
      const bar = line.fraction === null ? '' : `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] `;
      const text = `${bar}${percent}${line.detail}${eta}`;
      const columns = this.stream.columns ?? 120;
      this.stream.write(`\r${text.slice(0, columns - 1)}\x1b[K`);
      this.drawn = true;
    } else {
      const now = Date.now();
      if (now - this.lastPlain < this.plainIntervalMs) return;
      this.lastPlain = now;
      this.stream.write(`${percent}${line.detail}${eta}\n`);
    }
  }

  /** Ends the bar's line so that what follows starts on a fresh one. */
  done(): void {
    if (this.drawn) this.stream.write('\n');
    this.drawn = false;
  }
}
