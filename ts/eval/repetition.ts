// `eval --generate`: how repetitive a model's samples are, on numbers that let sampling settings
// (--repetition_penalty, --no_repeat_ngram_size) be compared. Text is counted in units that mean the
// same across tokenizers: one CJK character, or one run of other non-space characters (a word).

/** Smallest run (in units) that counts as a loop when it fills a sample's end three or more times over. */
const LOOP_MIN_UNITS = 12;
const LOOP_MIN_REPEATS = 3;

export interface RepetitionStats {
  samples: number;
  units: number;
  /** Distinct unigrams / bigrams over all unigrams / bigrams, pooled over the samples. */
  distinct1: number;
  distinct2: number;
  /** The share of 4-grams that already occurred earlier in the same sample. */
  repeated4gramShare: number;
  /** The share of samples whose end is one span repeated (see `loops`). */
  loopingShare: number;
}

const UNIT =
  /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Hangul}]|[^\s\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Hangul}]+/gu;

/** A text's units: CJK characters one by one, other text by words. */
export function units(text: string): string[] {
  return text.match(UNIT) ?? [];
}

function ngrams(items: string[], n: number): string[] {
  const out: string[] = [];
  for (let i = 0; i + n <= items.length; i++) out.push(items.slice(i, i + n).join('\u0001'));
  return out;
}

/**
 * Whether `items` ends in a loop: its last p units repeated back to back at least three times, covering
 * at least LOOP_MIN_UNITS units, for some period p.
 */
export function loops(items: string[]): boolean {
  for (let period = 1; period * LOOP_MIN_REPEATS <= items.length; period++) {
    let repeats = 1;
    while ((repeats + 1) * period <= items.length) {
      const end = items.length - repeats * period;
      let same = true;
      for (let i = 0; i < period && same; i++) same = items[end - period + i] === items[items.length - period + i];
      if (!same) break;
      repeats += 1;
    }
    if (repeats >= LOOP_MIN_REPEATS && repeats * period >= LOOP_MIN_UNITS) return true;
  }
  return false;
}

export function repetitionStats(samples: string[]): RepetitionStats {
  const unigrams = new Set<string>();
  const bigrams = new Set<string>();
  let totalUnits = 0;
  let totalBigrams = 0;
  let fourgrams = 0;
  let repeatedFourgrams = 0;
  let looping = 0;
  for (const sample of samples) {
    const items = units(sample);
    totalUnits += items.length;
    for (const u of items) unigrams.add(u);
    const pairs = ngrams(items, 2);
    totalBigrams += pairs.length;
    for (const b of pairs) bigrams.add(b);
    const seen = new Set<string>();
    for (const g of ngrams(items, 4)) {
      fourgrams += 1;
      if (seen.has(g)) repeatedFourgrams += 1;
      seen.add(g);
    }
    if (loops(items)) looping += 1;
  }
  const share = (a: number, b: number) => (b === 0 ? 0 : a / b);
  return {
    samples: samples.length,
    units: totalUnits,
    distinct1: share(unigrams.size, totalUnits),
    distinct2: share(bigrams.size, totalBigrams),
    repeated4gramShare: share(repeatedFourgrams, fourgrams),
    loopingShare: share(looping, samples.length),
  };
}
