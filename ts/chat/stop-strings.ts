// Stop strings for streamed text: a piece is held back while it could still be the start of a stop
// string, and the text ends just before the first stop string that appears (which is not emitted).

export class StopStrings {
  private pending = '';
  /** Set once a stop string was found. */
  stopped = false;

  private readonly stops: readonly string[];

  /** An empty string would stop everything at once: it is not a stop. */
  constructor(stops: readonly string[]) {
    this.stops = stops.filter((stop) => stop !== '');
  }

  /** The text that is safe to emit after `piece` arrives. */
  push(piece: string): string {
    if (this.stopped) return '';
    this.pending += piece;
    let cut = -1;
    for (const stop of this.stops) {
      const at = this.pending.indexOf(stop);
      if (at !== -1 && (cut === -1 || at < cut)) cut = at;
    }
    if (cut !== -1) {
      this.stopped = true;
      const out = this.pending.slice(0, cut);
      this.pending = '';
      return out;
    }
    // Keep the longest tail that is a prefix of some stop string.
    let keep = 0;
    for (const stop of this.stops) {
      for (let n = Math.min(stop.length - 1, this.pending.length); n > keep; n--) {
        if (this.pending.endsWith(stop.slice(0, n))) {
          keep = n;
          break;
        }
      }
    }
    const out = this.pending.slice(0, this.pending.length - keep);
    this.pending = this.pending.slice(this.pending.length - keep);
    return out;
  }

  /** What was held back, at the end of the text. */
  flush(): string {
    const out = this.stopped ? '' : this.pending;
    this.pending = '';
    return out;
  }
}

/** `pieces` up to the first stop string; `stops.stopped` tells afterwards whether one ended them. */
export async function* untilStop(pieces: AsyncIterable<string>, stops: StopStrings): AsyncGenerator<string> {
  for await (const piece of pieces) {
    const out = stops.push(piece);
    if (out) yield out;
    if (stops.stopped) return;
  }
  const rest = stops.flush();
  if (rest) yield rest;
}
