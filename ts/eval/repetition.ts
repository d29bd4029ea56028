// `eval --generate`: how repetitive a model's samples are, on numbers that let sampling settings
// (--repetition_penalty, --no_repeat_ngram_size) be compared. Text is counted in units that mean the
// same across tokenizers: one CJK character, or one run of other non-space characters (a word).

/** A sample loops when one phrase of this many units comes back this many times or more. */
const LOOP_PHRASE_UNITS = 4;
const LOOP_REPEATS = 3;

export interface RepetitionStats {
  samples: number;
  units: number;
  /** Distinct unigrams / bigrams over all unigrams / bigrams, pooled over the samples. */
  distinct1: number;
  distinct2: number;
  /** The share of 4-grams that already occurred earlier in the same sample. */
  repeated4gramShare: number;
  /** The share of samples in which one 4-unit phrase comes back three or more times (see `loops`). */
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
 * Whether `items` loops: one phrase of LOOP_PHRASE_UNITS units occurs LOOP_REPEATS or more times. Greedy
 * small models repeat with small changes (`我爲此，不爲此。我知有我，不爲此。`), which an exact periodic
 * tail would miss; a poem rarely says the same four characters three times.
 */
export function loops(items: string[]): boolean {
  const counts = new Map<string, number>();
  for (const phrase of ngrams(items, LOOP_PHRASE_UNITS)) {
    const n = (counts.get(phrase) ?? 0) + 1;
    if (n >= LOOP_REPEATS) return true;
    counts.set(phrase, n);
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
