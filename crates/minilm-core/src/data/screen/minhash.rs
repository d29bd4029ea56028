//! MinHash signatures cut into LSH bands (Broder 1997; Leskovec et al., "Mining of Massive Datasets", ch. 3),
//! as datatrove's and text-dedup's MinHash stages use them. Two documents whose shingle sets have Jaccard
//! similarity J share at least one band with probability 1 - (1 - J^rows)^bands: an S-curve whose
//! steepest point, the threshold, is near (1 / bands)^(1 / rows).

use serde::{Deserialize, Serialize};

use crate::data::screen::text::{hash_window, is_cjk_text, units};
use crate::util::{stable_hash, SplitMix64};

/// What text with spaces is shingled by. CJK text is always shingled by characters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Shingles {
    /// Character n-grams for all text: robust to edits inside words (the default; see BENCHMARKS.md).
    Chars,
    /// Word n-grams for text with spaces, as datatrove does.
    Words,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MinhashSettings {
    pub shingles: Shingles,
    /// Shingle length in characters (letters and digits; spaces and punctuation are not counted).
    pub char_ngram: usize,
    /// Shingle length in words, for text with spaces when shingling by words.
    pub word_ngram: usize,
    pub bands: usize,
    pub rows: usize,
    /// Seeds the hash permutations (a different seed gives other, equally good, signatures).
    pub seed: u64,
}

impl Default for MinhashSettings {
    /// Chosen on planted duplicates (BENCHMARKS.md, "Dedup quality", from tests/core/screen.rs's sweep):
    /// 32 bands of 8 rows (256 hashes) over character 4-grams. Replacing 3% of a text's characters breaks
    /// about 12% of its 4-grams (Jaccard ~0.78) but 40-60% of its word 5-grams, so word shingles miss
    /// such copies. The threshold, 0.65, sits below the usual 0.8 for the same reason; distinct texts
    /// stay far below it (under 0.3 on the test corpora).
    fn default() -> Self {
        MinhashSettings { shingles: Shingles::Chars, char_ngram: 4, word_ngram: 5, bands: 32, rows: 8, seed: 1 }
    }
}

impl MinhashSettings {
    /// The Jaccard similarity where the detection probability climbs steepest.
    pub fn threshold(&self) -> f64 {
        (1.0 / self.bands as f64).powf(1.0 / self.rows as f64)
    }
}

/// Computes band keys: documents that share any key are near duplicates.
pub struct MinHasher {
    bands: usize,
    rows: usize,
    shingles: Shingles,
    char_ngram: usize,
    word_ngram: usize,
    /// Permutation i maps a shingle hash h to `mul[i] * h + add[i]` (mod 2^64; `mul` odd, so a bijection).
    mul: Vec<u64>,
    add: Vec<u64>,
}

impl MinHasher {
    pub fn new(settings: &MinhashSettings) -> MinHasher {
        let mut rng = SplitMix64::new(settings.seed);
        let count = settings.bands * settings.rows;
        let mul = (0..count).map(|_| rng.next_u64() | 1).collect();
        let add = (0..count).map(|_| rng.next_u64()).collect();
        MinHasher {
            bands: settings.bands,
            rows: settings.rows,
            shingles: settings.shingles,
            char_ngram: settings.char_ngram,
            word_ngram: settings.word_ngram,
            mul,
            add,
        }
    }

    /// One key per band for a normalised text (none for a text without letters or digits). Keys of
    /// different bands never meet, because the band number is hashed in.
    pub fn band_keys(&self, normalized: &str) -> Vec<u64> {
        let cjk = self.shingles == Shingles::Chars || is_cjk_text(normalized);
        let unit_hashes: Vec<u64> = units(normalized, cjk).iter().map(|u| stable_hash(u.as_bytes())).collect();
        if unit_hashes.is_empty() {
            return Vec::new();
        }
        let n = (if cjk { self.char_ngram } else { self.word_ngram }).min(unit_hashes.len());
        let mut signature = vec![u64::MAX; self.mul.len()];
        for window in unit_hashes.windows(n) {
            let h = hash_window(window);
            for ((min, &mul), &add) in signature.iter_mut().zip(&self.mul).zip(&self.add) {
                *min = (*min).min(mul.wrapping_mul(h).wrapping_add(add));
            }
        }
        (0..self.bands)
            .map(|band| {
                let rows = &signature[band * self.rows..(band + 1) * self.rows];
                hash_window(&[&[band as u64 + 1][..], rows].concat())
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shared_bands(a: &str, b: &str) -> usize {
        let hasher = MinHasher::new(&MinhashSettings::default());
        let (a, b) = (hasher.band_keys(a), hasher.band_keys(b));
        a.iter().zip(&b).filter(|(x, y)| x == y).count()
    }

    #[test]
    fn the_default_threshold_is_two_thirds() {
        let t = MinhashSettings::default().threshold();
        assert!((0.64..0.66).contains(&t), "{t}");
    }

    #[test]
    fn near_copies_share_bands_and_strangers_do_not() {
        let text = "白日依山尽黄河入海流欲穷千里目更上一层楼";
        let long: String = (0..400).map(|i| char::from_u32(0x4e00 + (i * 7919 % 20000) as u32).unwrap()).collect();
        let mut edited: Vec<char> = long.chars().collect();
        edited[200] = '龘';
        let edited: String = edited.into_iter().collect();
        assert_eq!(shared_bands(&long, &long), 32);
        assert!(shared_bands(&long, &edited) >= 1);
        assert_eq!(shared_bands(&long, text), 0);
        let english = "the quick brown fox jumps over the lazy dog and runs far away into the deep green forest";
        assert_eq!(shared_bands(english, "completely different words make up this other sentence of english prose here"), 0);
    }
}
