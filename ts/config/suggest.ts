// "Did you mean ...?" for misspelt config keys. A misspelling is usually one or two edits away from the
// real key, so edit distance finds it; a key put in the wrong section (train.lr for optimizer's lr, or
// data.data_path without jsonargparse's init_args level) keeps its own name, so a same-named key
// elsewhere is the better guess there.

/** Levenshtein distance: the fewest single-character insertions, deletions and substitutions. */
export function editDistance(a: string, b: string): number {
  if (a === b) return 0;
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1);
      current.push(Math.min(previous[j] + 1, current[j - 1] + 1, substitution));
    }
    previous = current;
  }
  return previous[b.length];
}

/** The candidate nearest to `word`, or null when none is within `maxDistance` edits. */
export function nearest(word: string, candidates: readonly string[], maxDistance: number): string | null {
  let best: string | null = null;
  let bestDistance = maxDistance + 1;
  for (const candidate of candidates) {
    const distance = editDistance(word, candidate);
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}

// Further than this and the guess is more likely to confuse than help (`n_layer` for `seed`). A key in
// another section is a weaker guess, so it must be nearer.
function tolerance(word: string, sameSection = true): number {
  return Math.max(sameSection ? 2 : 1, Math.floor(word.length / 3));
}

/**
 * The known dotted key a user most likely meant by `unknown` (also dotted), or null.
 * Order: the same key name in another section, then a near name in the same section, then any near path.
 */
export function suggestKey(unknown: string, known: readonly string[]): string | null {
  const cut = unknown.lastIndexOf('.');
  const parent = cut < 0 ? '' : unknown.slice(0, cut);
  const leaf = unknown.slice(cut + 1);
  const leafOf = (key: string) => key.slice(key.lastIndexOf('.') + 1);
  const parentOf = (key: string) => (key.includes('.') ? key.slice(0, key.lastIndexOf('.')) : '');

  const sameName = known.filter((key) => key !== unknown && leafOf(key) === leaf);
  if (sameName.length > 0) return nearest(unknown, sameName, Number.MAX_SAFE_INTEGER);

  const siblings = known.filter((key) => parentOf(key) === parent);
  const sibling = nearest(leaf, siblings.map(leafOf), tolerance(leaf));
  if (sibling !== null) return parent ? `${parent}.${sibling}` : sibling;

  // Names, not whole paths, are compared: a long shared prefix would make unrelated names look near.
  const elsewhere = nearest(leaf, known.map(leafOf), tolerance(leaf, false));
  return elsewhere === null
    ? null
    : nearest(
        unknown,
        known.filter((key) => leafOf(key) === elsewhere),
        Number.MAX_SAFE_INTEGER,
      );
}
