//! Screening's settings (minilm_core::data::screen): the dedup kinds, MinHash's parameters and the
//! quality rules of a filters file, as TypeScript passes them to `prepare`, and their defaults.

use minilm_core::data::screen::filters::{BlocklistRule, Filters, LengthRule, RepetitionRule, ScriptRule, SymbolLinesRule};
use minilm_core::data::screen::minhash::{MinhashSettings, Shingles};
use minilm_core::data::screen::{DedupKind, ScreenSettings};
use napi_derive::napi;

use crate::error::{count, to_napi};

#[napi(object)]
pub struct LengthFilter {
    pub min_chars: i64,
    pub max_chars: i64,
}

#[napi(object)]
pub struct ScriptFilter {
    /// Unicode script names: Han, Latin, Cyrillic, ...
    pub scripts: Vec<String>,
    pub min_fraction: f64,
}

#[napi(object)]
pub struct SymbolLinesFilter {
    pub line_symbol_fraction: f64,
    pub max_fraction: f64,
}

#[napi(object)]
pub struct BlocklistFilter {
    /// One word or character per line.
    pub file: String,
    pub max_matches: i64,
}

/// A limit on the share of characters in some n-grams.
#[napi(object)]
pub struct NgramLimit {
    pub n: u32,
    pub fraction: f64,
}

#[napi(object)]
pub struct RepetitionFilter {
    pub dup_line_fraction: f64,
    pub dup_paragraph_fraction: f64,
    pub dup_line_char_fraction: f64,
    pub dup_paragraph_char_fraction: f64,
    pub top_ngram_char_fraction: Vec<NgramLimit>,
    pub dup_ngram_char_fraction: Vec<NgramLimit>,
}

/// The quality rules; an absent rule is off.
#[napi(object)]
pub struct FilterRules {
    pub length: Option<LengthFilter>,
    pub script: Option<ScriptFilter>,
    pub symbol_lines: Option<SymbolLinesFilter>,
    pub blocklist: Option<BlocklistFilter>,
    pub repetition: Option<RepetitionFilter>,
}

#[napi(object)]
pub struct MinhashOptions {
    /// What text with spaces is shingled by (CJK text always by characters).
    #[napi(ts_type = "'chars' | 'words'")]
    pub shingles: String,
    /// Shingle length in characters, and in words when shingling by words.
    pub char_ngram: u32,
    pub word_ngram: u32,
    pub bands: u32,
    pub rows: u32,
    pub seed: i64,
}

fn limits(list: Vec<NgramLimit>) -> Vec<(usize, f64)> {
    list.into_iter().map(|l| (l.n as usize, l.fraction)).collect()
}

fn napi_limits(list: Vec<(usize, f64)>) -> Vec<NgramLimit> {
    list.into_iter().map(|(n, fraction)| NgramLimit { n: n as u32, fraction }).collect()
}

impl TryFrom<FilterRules> for Filters {
    type Error = napi::Error;

    fn try_from(f: FilterRules) -> napi::Result<Filters> {
        Ok(Filters {
            length: f
                .length
                .map(|l| {
                    Ok::<_, napi::Error>(LengthRule {
                        min_chars: count("length.min_chars", l.min_chars)?,
                        max_chars: count("length.max_chars", l.max_chars)?,
                    })
                })
                .transpose()?,
            script: f.script.map(|s| ScriptRule { scripts: s.scripts, min_fraction: s.min_fraction }),
            symbol_lines: f
                .symbol_lines
                .map(|s| SymbolLinesRule { line_symbol_fraction: s.line_symbol_fraction, max_fraction: s.max_fraction }),
            blocklist: f
                .blocklist
                .map(|b| Ok::<_, napi::Error>(BlocklistRule { file: b.file, max_matches: count("blocklist.max_matches", b.max_matches)? }))
                .transpose()?,
            repetition: f.repetition.map(|r| RepetitionRule {
                dup_line_fraction: r.dup_line_fraction,
                dup_paragraph_fraction: r.dup_paragraph_fraction,
                dup_line_char_fraction: r.dup_line_char_fraction,
                dup_paragraph_char_fraction: r.dup_paragraph_char_fraction,
                top_ngram_char_fraction: limits(r.top_ngram_char_fraction),
                dup_ngram_char_fraction: limits(r.dup_ngram_char_fraction),
            }),
        })
    }
}

impl From<MinhashSettings> for MinhashOptions {
    fn from(m: MinhashSettings) -> Self {
        let shingles = match m.shingles {
            Shingles::Chars => "chars",
            Shingles::Words => "words",
        };
        MinhashOptions {
            shingles: shingles.into(),
            char_ngram: m.char_ngram as u32,
            word_ngram: m.word_ngram as u32,
            bands: m.bands as u32,
            rows: m.rows as u32,
            seed: m.seed as i64,
        }
    }
}

impl TryFrom<MinhashOptions> for MinhashSettings {
    type Error = napi::Error;

    fn try_from(m: MinhashOptions) -> napi::Result<Self> {
        if m.char_ngram == 0 || m.word_ngram == 0 || m.bands == 0 || m.rows == 0 {
            return Err(to_napi(minilm_core::Error::usage("minhash's n-gram lengths, bands and rows must be at least 1")));
        }
        let shingles = match m.shingles.as_str() {
            "chars" => Shingles::Chars,
            "words" => Shingles::Words,
            other => return Err(to_napi(minilm_core::Error::usage(format!("minhash shingles must be chars or words, not '{other}'")))),
        };
        Ok(MinhashSettings {
            shingles,
            char_ngram: m.char_ngram as usize,
            word_ngram: m.word_ngram as usize,
            bands: m.bands as usize,
            rows: m.rows as usize,
            seed: count("minhash.seed", m.seed)?,
        })
    }
}

/// prepare's screening from its options.
pub fn screen_settings(
    dedup: Option<Vec<String>>,
    minhash: Option<MinhashOptions>,
    filters: Option<FilterRules>,
) -> napi::Result<ScreenSettings> {
    let dedup = dedup.unwrap_or_default().iter().map(|k| DedupKind::parse(k)).collect::<minilm_core::Result<Vec<_>>>().map_err(to_napi)?;
    Ok(ScreenSettings {
        dedup,
        minhash: minhash.map(MinhashSettings::try_from).transpose()?.unwrap_or_default(),
        filters: filters.map(Filters::try_from).transpose()?.unwrap_or_default(),
    })
}

/// Each rule's thresholds when a filters file names it without giving them, and MinHash's parameters.
#[napi(object)]
pub struct ScreenDefaults {
    pub length: LengthFilter,
    pub script: ScriptFilter,
    pub symbol_lines: SymbolLinesFilter,
    /// Matches allowed before a document is dropped.
    pub blocklist_max_matches: i64,
    pub repetition: RepetitionFilter,
    pub minhash: MinhashOptions,
    /// MinHash's Jaccard threshold with these bands and rows.
    pub minhash_threshold: f64,
}

#[napi]
pub fn screen_defaults() -> ScreenDefaults {
    let (length, script, symbols, repetition) =
        (LengthRule::default(), ScriptRule::default(), SymbolLinesRule::default(), RepetitionRule::default());
    let minhash = MinhashSettings::default();
    ScreenDefaults {
        length: LengthFilter { min_chars: length.min_chars as i64, max_chars: length.max_chars as i64 },
        script: ScriptFilter { scripts: script.scripts, min_fraction: script.min_fraction },
        symbol_lines: SymbolLinesFilter { line_symbol_fraction: symbols.line_symbol_fraction, max_fraction: symbols.max_fraction },
        blocklist_max_matches: BlocklistRule::DEFAULT_MAX_MATCHES as i64,
        repetition: RepetitionFilter {
            dup_line_fraction: repetition.dup_line_fraction,
            dup_paragraph_fraction: repetition.dup_paragraph_fraction,
            dup_line_char_fraction: repetition.dup_line_char_fraction,
            dup_paragraph_char_fraction: repetition.dup_paragraph_char_fraction,
            top_ngram_char_fraction: napi_limits(repetition.top_ngram_char_fraction),
            dup_ngram_char_fraction: napi_limits(repetition.dup_ngram_char_fraction),
        },
        minhash_threshold: minhash.threshold(),
        minhash: minhash.into(),
    }
}
