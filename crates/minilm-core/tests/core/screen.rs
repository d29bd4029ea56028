//! Screening (dedup and filters) end to end on real text with planted duplicates and junk: what is
//! dropped is what was planted, the output does not depend on the worker count, an interrupted run
//! resumes to the same bytes, a rerun under other screening settings is refused, and a dry run writes
//! only the report.

use crate::support;

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

use minilm_core::data::prepare::{prepare, PrepareOptions, Progress};
use minilm_core::data::screen::filters::{Filters, LengthRule, RepetitionRule, SymbolLinesRule};
use minilm_core::data::screen::minhash::{MinHasher, MinhashSettings, Shingles};
use minilm_core::data::screen::{read_report, saved_dropped_rows, DedupKind, ScreenSettings};
use minilm_core::util::SplitMix64;
use minilm_core::Error;
use support::corpus::{brown_paragraphs, poems};
use support::prepare_runs::{prepare_options, run};

const POEMS: usize = 3000;
/// English documents of this many Brown sentences ("paragraphs" in its layout are sentences).
const SENTENCES_PER_DOCUMENT: usize = 15;
const ENGLISH: usize = 1000;
const DOCUMENTS_PER_FILE: usize = 700;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    Original,
    /// The same text with its whitespace (and, for English, a word's case) changed.
    ExactCopy,
    /// The same text with this share of its characters replaced.
    NearCopy(f64),
    Junk,
}

struct Corpus {
    /// (kind, text) in file order.
    documents: Vec<(Kind, String)>,
}

/// Distinct originals (the same text twice in the sources is left out), then planted copies of 5% of
/// them each, exact and near, and some junk, all after the originals in file order.
fn corpus() -> &'static Corpus {
    static CORPUS: OnceLock<Corpus> = OnceLock::new();
    CORPUS.get_or_init(|| {
        let english: Vec<String> =
            brown_paragraphs(ENGLISH * SENTENCES_PER_DOCUMENT).chunks(SENTENCES_PER_DOCUMENT).map(|s| s.join(" ")).collect();
        // quantangshi holds some poems twice (in two collections, a character or the title changed):
        // a poem half of whose lines an earlier poem already had is left out, so "originals" are distinct.
        let mut seen_lines = HashSet::new();
        let originals: Vec<String> = poems(POEMS)
            .into_iter()
            .filter(|poem| {
                let lines: Vec<&str> = poem.lines().skip(1).filter(|l| l.chars().count() >= 5).collect();
                let repeated = lines.iter().filter(|l| seen_lines.contains(**l)).count();
                seen_lines.extend(lines.iter().map(|l| l.to_string()));
                repeated * 2 < lines.len().max(1)
            })
            .chain(english)
            .collect();
        let mut rng = SplitMix64::new(7);
        let mut documents: Vec<(Kind, String)> = originals.iter().map(|t| (Kind::Original, t.clone())).collect();
        let mut planted = Vec::new();
        for text in &originals {
            let draw = rng.next_f64();
            if draw < 0.05 {
                planted.push((Kind::ExactCopy, respace(text, &mut rng)));
            } else if draw < 0.10 {
                let share = [0.01, 0.02, 0.03][rng.below(3) as usize];
                planted.push((Kind::NearCopy(share), replace_characters(text, share, &mut rng)));
            }
        }
        for i in 0..40 {
            planted.push((Kind::Junk, junk(i)));
        }
        // Planted documents in a shuffled order, after every original.
        for i in (1..planted.len()).rev() {
            planted.swap(i, rng.below(i as u64 + 1) as usize);
        }
        documents.extend(planted);
        Corpus { documents }
    })
}

fn respace(text: &str, rng: &mut SplitMix64) -> String {
    let mut out = String::new();
    for (i, word) in text.split(' ').enumerate() {
        if i > 0 {
            out.push_str(if rng.next_f64() < 0.3 { "  " } else { " " });
        }
        if i == 0 {
            out.push_str(&word.to_uppercase());
        } else {
            out.push_str(word);
        }
    }
    format!(" {}\n\n", out.replace('\n', " \n"))
}

fn replace_characters(text: &str, share: f64, rng: &mut SplitMix64) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    let letters: Vec<usize> = (0..chars.len()).filter(|&i| chars[i].is_alphanumeric()).collect();
    let count = ((chars.len() as f64 * share).round() as usize).max(1);
    for _ in 0..count {
        let at = letters[rng.below(letters.len() as u64) as usize];
        chars[at] = if chars[at].is_ascii() {
            (b'a' + rng.below(26) as u8) as char
        } else {
            char::from_u32(0x4e00 + rng.below(0x5000) as u32).unwrap()
        };
    }
    chars.into_iter().collect()
}

/// Documents no filter should keep: link lists, repeated lines, too short.
fn junk(i: usize) -> String {
    match i % 3 {
        0 => (0..8).map(|k| format!("https://example.com/page/{i}/{k}")).collect::<Vec<_>>().join("\n"),
        1 => format!("点击这里购买 {i}\n").repeat(12),
        _ => format!("短{i}"),
    }
}

/// The corpus as JSON Lines files of DOCUMENTS_PER_FILE documents each.
fn input_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (i, chunk) in corpus().documents.chunks(DOCUMENTS_PER_FILE).enumerate() {
        let lines: String = chunk.iter().map(|(_, t)| serde_json::json!({ "text": t }).to_string() + "\n").collect();
        std::fs::write(dir.path().join(format!("part-{i:02}.jsonl")), lines).unwrap();
    }
    dir
}

fn screen_all() -> ScreenSettings {
    ScreenSettings {
        dedup: vec![DedupKind::Exact, DedupKind::Minhash],
        minhash: MinhashSettings::default(),
        filters: Filters {
            length: Some(LengthRule::default()),
            symbol_lines: Some(SymbolLinesRule::default()),
            repetition: Some(RepetitionRule { top_ngram_char_fraction: vec![], dup_ngram_char_fraction: vec![], ..Default::default() }),
            ..Default::default()
        },
    }
}

fn options(input: &Path, output: &Path, num_workers: usize, screen: ScreenSettings) -> PrepareOptions {
    PrepareOptions { num_workers, screen, ..prepare_options(input, output) }
}

/// Which documents (by position in the corpus) the saved screen dropped.
fn dropped(output: &Path) -> Vec<bool> {
    let rows = saved_dropped_rows(output).unwrap().expect("a saved screen");
    (0..corpus().documents.len()).map(|n| rows.contains(n / DOCUMENTS_PER_FILE, (n % DOCUMENTS_PER_FILE) as u64)).collect()
}

fn share(dropped: &[bool], kind: impl Fn(Kind) -> bool) -> (usize, usize) {
    let picked: Vec<bool> = corpus().documents.iter().zip(dropped).filter(|((k, _), _)| kind(*k)).map(|(_, &d)| d).collect();
    (picked.iter().filter(|&&d| d).count(), picked.len())
}

#[test]
fn exact_dedup_drops_every_respaced_copy_and_nothing_else() {
    let (input, out) = (input_dir(), tempfile::tempdir().unwrap());
    let screen = ScreenSettings { dedup: vec![DedupKind::Exact], ..Default::default() };
    let summary = run(&options(input.path(), out.path(), 2, screen));
    let dropped = dropped(out.path());
    let (copies, planted) = share(&dropped, |k| k == Kind::ExactCopy);
    assert_eq!(copies, planted, "every exact copy");
    assert!(planted > 100, "{planted}");
    assert_eq!(share(&dropped, |k| k != Kind::ExactCopy).0, 0, "only exact copies");
    assert_eq!(summary.dropped_duplicates, planted as u64);
    let report = read_report(out.path()).unwrap().unwrap();
    assert_eq!((report.dedup.len(), report.dedup[0].dropped), (1, planted as u64));
    let example = &report.dedup[0].examples[0];
    let original = example.duplicate_of.as_ref().unwrap();
    // The snippets are cut at a fixed length, so compare their starts.
    let start = |s: &str| s.split_whitespace().collect::<String>().to_lowercase().chars().take(60).collect::<String>();
    assert_eq!(start(&example.snippet), start(&original.snippet), "{example:?}");
}

#[test]
fn minhash_finds_near_copies_without_dropping_distinct_documents() {
    let (input, out) = (input_dir(), tempfile::tempdir().unwrap());
    let screen = ScreenSettings { dedup: vec![DedupKind::Minhash], ..Default::default() };
    run(&options(input.path(), out.path(), 2, screen));
    let dropped = dropped(out.path());
    let (near, planted) = share(&dropped, |k| matches!(k, Kind::NearCopy(_)));
    assert!(near as f64 >= 0.9 * planted as f64, "near copies found: {near} of {planted}");
    let (exact, planted_exact) = share(&dropped, |k| k == Kind::ExactCopy);
    assert_eq!(exact, planted_exact, "exact copies are near copies too");
    let (false_drops, originals) = share(&dropped, |k| k == Kind::Original);
    assert!(false_drops as f64 <= 0.005 * originals as f64, "distinct documents dropped: {false_drops} of {originals}");
}

#[test]
fn filters_drop_the_junk_and_the_report_names_the_rule() {
    let (input, out) = (input_dir(), tempfile::tempdir().unwrap());
    let mut screen = screen_all();
    screen.dedup.clear();
    let mut dry = options(input.path(), out.path(), 2, screen);
    dry.dry_run_filters = true;
    let summary = run(&dry);
    assert!(summary.dry_run && summary.train.documents == 0);
    assert!(!out.path().join("train").exists(), "a dry run tokenizes nothing");
    let dropped = dropped(out.path());
    let (junk, planted) = share(&dropped, |k| k == Kind::Junk);
    assert_eq!(junk, planted, "every junk document");
    let (kept_dropped, originals) = share(&dropped, |k| k == Kind::Original);
    assert!(kept_dropped as f64 <= 0.02 * originals as f64, "originals dropped: {kept_dropped} of {originals}");
    let report = read_report(out.path()).unwrap().unwrap();
    let rules: BTreeMap<&str, u64> = report.rules.iter().map(|r| (r.rule.as_str(), r.dropped)).collect();
    assert!(rules["length"] >= 13 && rules["symbol_lines"] >= 14 && rules["repetition"] >= 13, "{rules:?}");
    let link_list = &report.rules.iter().find(|r| r.rule == "symbol_lines").unwrap().examples[0];
    assert!(link_list.snippet.starts_with("https://example.com/page/"), "{link_list:?}");
    assert_eq!(report.documents, corpus().documents.len() as u64);
    assert_eq!(report.kept + report.dropped, report.documents);

    // The real run reuses the dry run's screen and drops what it said.
    let mut real = dry.clone();
    real.dry_run_filters = false;
    let summary = run(&real);
    assert_eq!(summary.dropped_by_filters, report.dropped);
    assert_eq!(summary.train.documents + summary.val.documents, report.kept);
}

fn dataset_files(output: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    for folder in ["train", "val"] {
        for entry in std::fs::read_dir(output.join(folder)).unwrap() {
            let path = entry.unwrap().path();
            files.insert(format!("{folder}/{}", path.file_name().unwrap().to_string_lossy()), std::fs::read(&path).unwrap());
        }
    }
    files.insert("filter-report.json".into(), std::fs::read(output.join("filter-report.json")).unwrap());
    files
}

#[test]
fn screened_output_is_the_same_for_any_worker_count_and_after_interruptions() {
    let input = input_dir();
    let (reference, out) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    run(&options(input.path(), reference.path(), 1, screen_all()));

    // Stopped during screening, then during tokenizing, then finished on another worker count.
    for stage in ["screening", "tokenizing"] {
        let cancel = AtomicBool::new(false);
        let mut on_progress = |p: &Progress| {
            if p.stage == stage && p.files_done >= 1 {
                cancel.store(true, Ordering::SeqCst);
            }
        };
        let result = prepare(&options(input.path(), out.path(), 2, screen_all()), &mut on_progress, &cancel);
        assert!(matches!(result, Err(Error::Cancelled)), "stopped while {stage}: {:?}", result.map(|s| s.files));
    }
    let resumed = run(&options(input.path(), out.path(), 2, screen_all()));
    assert!(resumed.files_resumed >= 1);
    assert_eq!(dataset_files(out.path()), dataset_files(reference.path()));

    // Other screening settings are refused, naming them.
    let mut other = screen_all();
    other.dedup = vec![DedupKind::Exact];
    let refused = prepare(&options(input.path(), out.path(), 2, other), &mut |_| {}, &AtomicBool::new(false)).unwrap_err().to_string();
    assert!(refused.contains("differs in: dedup, minhash"), "{refused}");
    let mut other = screen_all();
    other.filters.length = Some(LengthRule { min_chars: 30, ..Default::default() });
    let refused = prepare(&options(input.path(), out.path(), 2, other), &mut |_| {}, &AtomicBool::new(false)).unwrap_err().to_string();
    assert!(refused.contains("differs in: filters"), "{refused}");
}

/// The Jaccard similarity of two texts' sets of character trigrams (letters and digits only): the
/// independent measure of whether a dropped original really resembles the document kept for it.
fn trigram_jaccard(a: &str, b: &str) -> f64 {
    let grams = |t: &str| -> HashSet<String> {
        let chars: Vec<char> = t.to_lowercase().chars().filter(|c| c.is_alphanumeric()).collect();
        chars.windows(3).map(|w| w.iter().collect()).collect()
    };
    let (a, b) = (grams(a), grams(b));
    a.intersection(&b).count() as f64 / a.union(&b).count().max(1) as f64
}

/// Not a test: prints MinHash's recall and false matches on this corpus for a grid of settings
/// (`cargo test --release -p minilm-core --test core screen::sweep -- --ignored --nocapture`). The defaults were picked with it.
#[test]
#[ignore]
fn sweep_minhash_settings() {
    let documents = &corpus().documents;
    let chars = Shingles::Chars;
    for (shingles, char_ngram, word_ngram, bands, rows) in [
        (Shingles::Words, 5, 5, 14, 8), // datatrove's defaults
        (Shingles::Words, 5, 5, 20, 10),
        (Shingles::Words, 4, 2, 32, 8),
        (chars, 4, 0, 32, 8), // minilm's defaults
        (chars, 5, 0, 32, 8),
        (chars, 4, 0, 20, 10),
        (chars, 3, 0, 20, 10),
    ] {
        let hasher = MinHasher::new(&MinhashSettings { shingles, char_ngram, word_ngram, bands, rows, seed: 1 });
        let mut holders: std::collections::HashMap<u64, usize> = std::collections::HashMap::new();
        let mut dropped = vec![false; documents.len()];
        let mut lowest: Vec<(f64, usize, usize)> = Vec::new();
        for (n, (kind, text)) in documents.iter().enumerate() {
            for key in hasher.band_keys(&minilm_core::data::screen::text::normalize(text)) {
                let holder = *holders.entry(key).or_insert(n);
                if holder != n {
                    if !dropped[n] && *kind == Kind::Original {
                        lowest.push((trigram_jaccard(text, &documents[holder].1), n, holder));
                    }
                    dropped[n] = true;
                }
            }
        }
        lowest.sort_by(|a, b| a.0.total_cmp(&b.0));
        let below = |j: f64| lowest.iter().filter(|x| x.0 < j).count();
        println!("  originals dropped whose character-trigram Jaccard with the kept one is < 0.3: {}, < 0.5: {}", below(0.3), below(0.5));
        for (j, n, holder) in lowest.iter().take(2) {
            let short = |t: &str| t.chars().take(40).collect::<String>().replace('\n', " / ");
            println!("    J {j:.2}: {} | {}", short(&documents[*n].1), short(&documents[*holder].1));
        }
        let count = |f: &dyn Fn(Kind) -> bool, english: bool| {
            let picked: Vec<bool> = documents
                .iter()
                .zip(&dropped)
                .filter(|((k, t), _)| f(*k) && english != minilm_core::data::screen::text::is_cjk_text(t))
                .map(|(_, &d)| d)
                .collect();
            format!("{}/{}", picked.iter().filter(|&&d| d).count(), picked.len())
        };
        for english in [false, true] {
            println!(
                "{shingles:?} char {char_ngram} word {word_ngram} {bands}x{rows} {}: near 1% {} 2% {} 3% {}, exact {}, originals dropped {}",
                if english { "en" } else { "zh" },
                count(&|k| k == Kind::NearCopy(0.01), english),
                count(&|k| k == Kind::NearCopy(0.02), english),
                count(&|k| k == Kind::NearCopy(0.03), english),
                count(&|k| k == Kind::ExactCopy, english),
                count(&|k| k == Kind::Original, english),
            );
        }
    }
}
