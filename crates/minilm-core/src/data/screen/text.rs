//! How screening sees a text: the normal form exact dedup compares, whether a text is CJK (shingled and
//! measured by characters) or spaced (by words), and the units the repetition rules count.

use unicode_normalization::UnicodeNormalization;
use unicode_script::{Script, UnicodeScript};

/// The form two documents must share to be exact duplicates: NFKC (full-width and half-width forms, ligatures
/// and compatibility characters folded), lower-cased with Unicode's full lowercase mapping (which equals
/// case folding except for a handful of letters such as `ß`), every run of whitespace made one space, and
/// the ends trimmed.
pub fn normalize(text: &str) -> String {
    // Most text is already in NFKC (ASCII, and the common CJK ideographs, always are): the quick check
    // says so from a table, without running the normaliser over every character.
    match unicode_normalization::is_nfkc_quick(text.chars()) {
        unicode_normalization::IsNormalized::Yes => lowercase_collapsed(text.chars(), text.len()),
        _ => lowercase_collapsed(text.nfkc(), text.len()),
    }
}

fn lowercase_collapsed(chars: impl Iterator<Item = char>, capacity: usize) -> String {
    let mut out = String::with_capacity(capacity);
    let mut pending_space = false;
    for c in chars.flat_map(char::to_lowercase) {
        if c.is_whitespace() {
            pending_space = !out.is_empty();
            continue;
        }
        if pending_space {
            out.push(' ');
            pending_space = false;
        }
        out.push(c);
    }
    out
}

/// Han, kana and Hangul: scripts written without spaces between words.
pub fn is_cjk(c: char) -> bool {
    matches!(c.script(), Script::Han | Script::Hiragana | Script::Katakana | Script::Hangul | Script::Bopomofo)
}

/// Whether a text is measured by characters: more than half of its letters are CJK.
pub fn is_cjk_text(text: &str) -> bool {
    let (mut cjk, mut letters) = (0usize, 0usize);
    for c in text.chars().filter(|c| c.is_alphanumeric()) {
        letters += 1;
        cjk += is_cjk(c) as usize;
    }
    cjk * 2 > letters
}

/// The units a text is counted in: for CJK text each letter or digit (punctuation and spaces are not
/// units), for spaced text each whitespace-separated word with its surrounding punctuation trimmed.
pub fn units(text: &str, cjk: bool) -> Vec<&str> {
    if cjk {
        text.char_indices().filter(|(_, c)| c.is_alphanumeric()).map(|(i, c)| &text[i..i + c.len_utf8()]).collect()
    } else {
        text.split_whitespace().map(|w| w.trim_matches(|c: char| !c.is_alphanumeric())).filter(|w| !w.is_empty()).collect()
    }
}

/// One hash for a run of unit hashes (an n-gram), order-sensitive.
pub fn hash_window(hashes: &[u64]) -> u64 {
    hashes.iter().fold(0x9e37_79b9_7f4a_7c15u64, |h, &x| (h.rotate_left(23) ^ x).wrapping_mul(0xbf58_476d_1ce4_e5b9))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_form_folds_width_case_and_whitespace() {
        assert_eq!(normalize("  Ｈｅｌｌｏ,\t\tWORLD\n\n ﬁne "), "hello, world fine");
        assert_eq!(normalize("床前明月光，\n疑是地上霜。"), "床前明月光, 疑是地上霜。");
    }

    #[test]
    fn the_quick_path_equals_the_normaliser() {
        // Already NFKC (the quick path), not NFKC (the full one), and "maybe" (a combining accent).
        for text in ["Plain English, 1961.", "床前明月光，疑是地上霜。", "ｶﾀｶﾅ ＡＢＣ ①", "Å ﬃ", "cafe\u{301} Cafe\u{301}", "한국어 텍스트"]
        {
            assert_eq!(normalize(text), lowercase_collapsed(text.nfkc(), text.len()), "{text}");
        }
        assert_eq!(normalize("cafe\u{301}"), "café");
    }

    #[test]
    fn units_are_characters_for_cjk_and_words_otherwise() {
        assert!(is_cjk_text("床前明月光, moon"));
        assert!(!is_cjk_text("The moon, 月"));
        assert_eq!(units("床前，明月", true), vec!["床", "前", "明", "月"]);
        assert_eq!(units("\"Hello,\" she said -- twice.", false), vec!["Hello", "she", "said", "twice"]);
    }
}
