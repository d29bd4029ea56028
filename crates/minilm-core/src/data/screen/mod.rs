//! Screening: what `prepare` drops before it tokenizes. A first pass over the inputs runs the quality
//! [`filters`] on every document and computes its dedup keys (the hash of its [`text::normalize`]d form
//! for `exact`, its [`minhash`] band keys for `minhash`); [`key_runs`] then finds the documents that share
//! a key with an earlier one. The result is a set of dropped rows (one bit per row) and a report,
//! `OUTPUT_DIR/filter-report.json`. The tokenizing pass skips the dropped rows.
//!
//! The screen is saved in `OUTPUT_DIR/screen/` with a fingerprint of everything that decides it, so a
//! resumed prepare (or a real run after a `--dry_run_filters` with the same settings) reuses it. A
//! screening pass that is interrupted starts again from the beginning: its result is only written once
//! it is whole.

pub mod filters;
pub mod key_runs;
pub mod minhash;
pub mod text;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::data::pipeline::{Pass, PassProgress, Progress, Sink};
use crate::data::readers::{open_reader, RawBatch};
use crate::data::sources::InputFile;
use crate::error::{Error, IoContext, Result};
use crate::util::{stable_hash, write_atomically};
use filters::{FilterSet, Filters, Verdict, RULES};
use key_runs::{KeyRuns, RUN_PAIRS};
use minhash::{MinHasher, MinhashSettings};

pub const REPORT_FILE: &str = "filter-report.json";
const SCREEN_DIR: &str = "screen";
const SCREEN_FORMAT: u32 = 1;
/// Example documents the report keeps per rule and per dedup kind.
const EXAMPLES: usize = 3;
const SNIPPET_CHARS: usize = 160;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DedupKind {
    Exact,
    Minhash,
}

impl DedupKind {
    pub fn parse(name: &str) -> Result<DedupKind> {
        match name {
            "exact" => Ok(DedupKind::Exact),
            "minhash" => Ok(DedupKind::Minhash),
            other => Err(Error::usage(format!("unknown dedup kind '{other}'; expected exact or minhash"))),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            DedupKind::Exact => "exact",
            DedupKind::Minhash => "minhash",
        }
    }
}

/// What to drop. Empty (no dedup, no filters) means no screening pass at all.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ScreenSettings {
    pub dedup: Vec<DedupKind>,
    pub minhash: MinhashSettings,
    pub filters: Filters,
}

impl ScreenSettings {
    pub fn is_empty(&self) -> bool {
        self.dedup.is_empty() && self.filters.is_empty()
    }
}

/// Everything that decides a screen's result.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScreenFingerprint {
    pub dedup: Vec<DedupKind>,
    /// Only when minhash is on.
    pub minhash: Option<MinhashSettings>,
    pub filters: Filters,
    /// The blocklist file's contents, hashed (its path may move; its words may not change).
    pub blocklist: Option<u64>,
    pub file_type: String,
    pub text_key: String,
    pub max_rows: Option<u64>,
    pub files: Vec<(String, u64)>,
}

impl ScreenFingerprint {
    pub fn new(settings: &ScreenSettings, file_type: &str, text_key: &str, max_rows: Option<u64>, files: &[InputFile]) -> Result<Self> {
        let mut dedup = settings.dedup.clone();
        dedup.sort();
        dedup.dedup();
        let blocklist = match &settings.filters.blocklist {
            Some(rule) => {
                let path = Path::new(&rule.file);
                Some(stable_hash(&std::fs::read(path).at(path)?))
            }
            None => None,
        };
        Ok(ScreenFingerprint {
            minhash: dedup.contains(&DedupKind::Minhash).then(|| settings.minhash.clone()),
            dedup,
            filters: settings.filters.clone(),
            blocklist,
            file_type: file_type.to_owned(),
            text_key: text_key.to_owned(),
            max_rows,
            files: files.iter().map(|f| (f.relative.clone(), f.size)).collect(),
        })
    }
}

/// Which rows are dropped: one bit per row of the input, rows numbered across the files in order.
pub struct DroppedRows {
    /// The number of the first row of each file, and one past the last row.
    file_first_row: Vec<u64>,
    bits: Vec<u64>,
}

impl DroppedRows {
    pub fn contains(&self, file: usize, row: u64) -> bool {
        self.file_first_row.get(file).is_some_and(|first| self.is_set(first + row))
    }

    fn insert(&mut self, n: u64) -> bool {
        let (word, bit) = ((n / 64) as usize, n % 64);
        if self.bits.len() <= word {
            self.bits.resize(word + 1, 0);
        }
        let was = self.bits[word] >> bit & 1 == 1;
        self.bits[word] |= 1 << bit;
        !was
    }

    fn is_set(&self, n: u64) -> bool {
        self.bits.get((n / 64) as usize).is_some_and(|word| word >> (n % 64) & 1 == 1)
    }

    /// (file, row) of row number `n`.
    fn locate(&self, n: u64) -> (usize, u64) {
        let file = self.file_first_row.partition_point(|&first| first <= n) - 1;
        (file, n - self.file_first_row[file])
    }
}

/// The report: how many documents were screened and kept, and what each rule and dedup kind dropped.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct FilterReport {
    /// Documents screened (texts that are neither null nor empty).
    pub documents: u64,
    pub kept: u64,
    pub dropped: u64,
    pub rules: Vec<RuleReport>,
    pub dedup: Vec<DedupReport>,
    /// MinHash's Jaccard threshold, when minhash is on.
    pub minhash_threshold: Option<f64>,
    pub settings: Option<ScreenFingerprint>,
}

impl FilterReport {
    /// The reports of a sharded prepare's shards (in shard order, each over its own files) as one: the
    /// report a one-machine screen of all the files writes, since the filters judge each document alone
    /// and the examples are the first of each rule in input order. Dedup never runs sharded.
    pub fn merge_shards(shards: Vec<FilterReport>) -> FilterReport {
        let mut merged = FilterReport::default();
        for shard in shards {
            merged.documents += shard.documents;
            merged.kept += shard.kept;
            merged.dropped += shard.dropped;
            for rule in shard.rules {
                match merged.rules.iter_mut().find(|r| r.rule == rule.rule) {
                    Some(into) => {
                        into.dropped += rule.dropped;
                        into.examples.extend(rule.examples);
                        into.examples.truncate(EXAMPLES);
                    }
                    None => merged.rules.push(rule),
                }
            }
            merged.settings = match (merged.settings, shard.settings) {
                (None, settings) => settings,
                (Some(mut all), Some(part)) => {
                    all.files.extend(part.files);
                    Some(all)
                }
                (all, None) => all,
            };
        }
        merged
    }
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct RuleReport {
    pub rule: String,
    pub dropped: u64,
    pub examples: Vec<Example>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct DedupReport {
    pub kind: String,
    pub dropped: u64,
    pub examples: Vec<Example>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Example {
    pub file: String,
    /// 1-based row (a line for JSON Lines).
    pub row: u64,
    pub snippet: String,
    /// The filter measure that failed and its value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub measure: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    /// For a duplicate: the earlier document it repeats.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duplicate_of: Option<Location>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Location {
    pub file: String,
    pub row: u64,
    pub snippet: String,
}

pub struct Screening {
    pub dropped: DroppedRows,
    pub report: FilterReport,
}

#[derive(Serialize, Deserialize)]
struct ScreenFile {
    format: u32,
    fingerprint: ScreenFingerprint,
    file_first_row: Vec<u64>,
}

/// What screening needs from prepare.
pub struct ScreenJob<'a> {
    pub settings: &'a ScreenSettings,
    pub fingerprint: ScreenFingerprint,
    pub output_dir: &'a Path,
    pub pass: Pass<'a>,
}

/// The saved screen when it matches, else a new one (written to OUTPUT_DIR/screen/ and the report).
pub fn screen(job: ScreenJob, on_progress: &mut dyn FnMut(&Progress), started: std::time::Instant) -> Result<Screening> {
    let dir = job.output_dir.join(SCREEN_DIR);
    if let Some(saved) = load(&dir, job.output_dir, &job.fingerprint)? {
        return Ok(saved);
    }
    if dir.exists() {
        std::fs::remove_dir_all(&dir).at(&dir)?;
    }
    std::fs::create_dir_all(&dir).at(&dir)?;

    let filters = FilterSet::new(&job.settings.filters)?;
    let kinds = &job.fingerprint.dedup;
    let hasher = kinds.contains(&DedupKind::Minhash).then(|| MinHasher::new(&job.settings.minhash));
    let exact = kinds.contains(&DedupKind::Exact);
    let files = job.pass.files;
    let text_key = job.pass.text_key;
    let work = |file: usize, batch: RawBatch| -> Result<ScreenedBatch> {
        let mut out = ScreenedBatch { rows: batch.texts.len() as u64, text_bytes: 0, first_row: batch.first_row, documents: Vec::new() };
        batch.for_each_text(&files[file].path, text_key, |row, text| {
            let Some(text) = text.filter(|t| !t.is_empty()) else { return Ok(()) };
            out.text_bytes += text.len() as u64;
            let verdict = filters.check(text);
            let mut keys = Vec::new();
            if verdict.is_none() && (exact || hasher.is_some()) {
                let normalized = text::normalize(text);
                if exact {
                    keys.push((DedupKind::Exact, stable_hash(normalized.as_bytes())));
                }
                if let Some(hasher) = &hasher {
                    keys.extend(hasher.band_keys(&normalized).into_iter().map(|k| (DedupKind::Minhash, k)));
                }
            }
            let snippet = verdict.as_ref().map(|_| snippet(text));
            out.documents.push(ScreenedDocument { row, verdict, snippet, keys });
            Ok(())
        })?;
        Ok(out)
    };
    let runs_dir = dir.join("runs");
    std::fs::create_dir_all(&runs_dir).at(&runs_dir)?;
    let mut sink = ScreenSink {
        files,
        dropped: DroppedRows { file_first_row: vec![0], bits: Vec::new() },
        next_file_row: 0,
        report: FilterReport::default(),
        rule_counts: BTreeMap::new(),
        runs: BTreeMap::from_iter(kinds.iter().map(|&k| (k, KeyRuns::new(&runs_dir, k.name(), RUN_PAIRS)))),
        progress: PassProgress::new(files, "screening", 0, started),
        on_progress,
    };
    job.pass.run(&work, &mut sink)?;

    let ScreenSink { mut dropped, mut report, rule_counts, runs, .. } = sink;
    // Rows past the last file's end (a fast_dev_run that stopped early) have no file.
    while dropped.file_first_row.len() < files.len() + 1 {
        let last = *dropped.file_first_row.last().unwrap();
        dropped.file_first_row.push(last);
    }
    report.rules = RULES
        .iter()
        .filter_map(|&rule| rule_counts.get(rule).map(|(count, examples)| (rule, count, examples)))
        .map(|(rule, &dropped, examples)| RuleReport { rule: rule.to_owned(), dropped, examples: examples.clone() })
        .collect();
    let mut duplicate_examples: BTreeMap<DedupKind, BTreeMap<u64, u64>> = BTreeMap::new();
    for (kind, runs) in runs {
        let (mut count, examples) = (0u64, duplicate_examples.entry(kind).or_default());
        runs.for_each_duplicate(|document, kept| {
            if dropped.insert(document) {
                count += 1;
                examples.insert(document, kept);
                if examples.len() > EXAMPLES {
                    examples.pop_last();
                }
            }
        })?;
        report.dedup.push(DedupReport { kind: kind.name().to_owned(), dropped: count, examples: Vec::new() });
    }
    std::fs::remove_dir_all(&runs_dir).at(&runs_dir)?;
    fill_duplicate_examples(&mut report, &dropped, &duplicate_examples, &job.pass)?;
    report.dropped = report.rules.iter().map(|r| r.dropped).sum::<u64>() + report.dedup.iter().map(|d| d.dropped).sum::<u64>();
    report.kept = report.documents - report.dropped;
    report.minhash_threshold = job.fingerprint.minhash.as_ref().map(MinhashSettings::threshold);
    report.settings = Some(job.fingerprint.clone());
    save(&dir, job.output_dir, &job.fingerprint, &dropped, &report)?;
    Ok(Screening { dropped, report })
}

struct ScreenedBatch {
    rows: u64,
    text_bytes: u64,
    first_row: u64,
    documents: Vec<ScreenedDocument>,
}

struct ScreenedDocument {
    row: u64,
    verdict: Option<Verdict>,
    snippet: Option<String>,
    keys: Vec<(DedupKind, u64)>,
}

struct ScreenSink<'a, 'p> {
    files: &'a [InputFile],
    dropped: DroppedRows,
    /// Rows of the current file seen so far.
    next_file_row: u64,
    report: FilterReport,
    /// Per rule: (documents dropped, the first few of them).
    rule_counts: BTreeMap<&'static str, (u64, Vec<Example>)>,
    runs: BTreeMap<DedupKind, KeyRuns>,
    progress: PassProgress<'a>,
    on_progress: &'p mut dyn FnMut(&Progress),
}

impl Sink<ScreenedBatch> for ScreenSink<'_, '_> {
    fn batch(&mut self, file: usize, file_fraction: f64, batch: ScreenedBatch) -> Result<()> {
        let first = *self.dropped.file_first_row.last().unwrap();
        let documents = batch.documents.len() as u64;
        for document in batch.documents {
            let n = first + document.row;
            self.report.documents += 1;
            if let Some(verdict) = document.verdict {
                self.dropped.insert(n);
                let (count, examples) = self.rule_counts.entry(verdict.rule).or_default();
                *count += 1;
                if examples.len() < EXAMPLES {
                    examples.push(Example {
                        file: self.files[file].relative.clone(),
                        row: document.row + 1,
                        snippet: document.snippet.unwrap_or_default(),
                        measure: Some(verdict.measure),
                        value: Some(verdict.value),
                        duplicate_of: None,
                    });
                }
                continue;
            }
            for (kind, key) in document.keys {
                self.runs.get_mut(&kind).expect("a run set per dedup kind").push(key, n)?;
            }
        }
        self.next_file_row = batch.first_row + batch.rows;
        self.progress.add(documents, batch.text_bytes, 0);
        self.progress.batch(file, file_fraction);
        Ok(())
    }

    fn file_end(&mut self, file: usize) -> Result<()> {
        let first = *self.dropped.file_first_row.last().unwrap();
        self.dropped.file_first_row.push(first + self.next_file_row);
        self.next_file_row = 0;
        self.progress.file_end(file);
        Ok(())
    }

    fn tick(&mut self) {
        (self.on_progress)(self.progress.now());
    }
}

fn snippet(text: &str) -> String {
    let mut s: String = text.chars().take(SNIPPET_CHARS).collect();
    if s.len() < text.len() {
        s.push('…');
    }
    s
}

/// Reads back the few rows the dedup examples name (the dropped copy and the document it repeats).
fn fill_duplicate_examples(
    report: &mut FilterReport,
    dropped: &DroppedRows,
    examples: &BTreeMap<DedupKind, BTreeMap<u64, u64>>,
    pass: &Pass,
) -> Result<()> {
    let wanted: BTreeSet<(usize, u64)> =
        examples.values().flat_map(|pairs| pairs.iter().flat_map(|(&d, &k)| [dropped.locate(d), dropped.locate(k)])).collect();
    let texts = read_rows(pass.files, pass.text_key, &wanted)?;
    let location = |n: u64| {
        let (file, row) = dropped.locate(n);
        Location { file: pass.files[file].relative.clone(), row: row + 1, snippet: texts.get(&(file, row)).cloned().unwrap_or_default() }
    };
    for entry in &mut report.dedup {
        let kind = DedupKind::parse(&entry.kind)?;
        for (&document, &kept) in examples.get(&kind).into_iter().flatten() {
            let Location { file, row, snippet } = location(document);
            entry.examples.push(Example { file, row, snippet, measure: None, value: None, duplicate_of: Some(location(kept)) });
        }
    }
    Ok(())
}

/// The snippets of the given (file, row)s, reading each file only as far as its last wanted row.
fn read_rows(files: &[InputFile], text_key: &str, wanted: &BTreeSet<(usize, u64)>) -> Result<BTreeMap<(usize, u64), String>> {
    let mut found = BTreeMap::new();
    let by_file: BTreeMap<usize, BTreeSet<u64>> = wanted.iter().fold(BTreeMap::new(), |mut m, &(f, r)| {
        m.entry(f).or_default().insert(r);
        m
    });
    for (file, rows) in by_file {
        let last = *rows.last().unwrap();
        let mut reader = open_reader(files[file].kind, &files[file].path, text_key)?;
        while let Some(batch) = reader.next_batch()? {
            if batch.first_row > last {
                break;
            }
            batch.for_each_text(&files[file].path, text_key, |row, text| {
                if rows.contains(&row) {
                    found.insert((file, row), snippet(text.unwrap_or("")));
                }
                Ok(())
            })?;
        }
    }
    Ok(found)
}

fn save(dir: &Path, output_dir: &Path, fingerprint: &ScreenFingerprint, dropped: &DroppedRows, report: &FilterReport) -> Result<()> {
    let bits: Vec<u8> = dropped.bits.iter().flat_map(|w| w.to_le_bytes()).collect();
    write_atomically(&dir.join("dropped.bin"), &[&bits])?;
    let report_json = serde_json::to_vec_pretty(report).expect("the report serialises");
    write_atomically(&output_dir.join(REPORT_FILE), &[&report_json])?;
    // Last: its presence says the screen is whole.
    let screen = ScreenFile { format: SCREEN_FORMAT, fingerprint: fingerprint.clone(), file_first_row: dropped.file_first_row.clone() };
    write_atomically(&dir.join("screen.json"), &[&serde_json::to_vec_pretty(&screen).expect("the screen serialises")])
}

fn load(dir: &Path, output_dir: &Path, fingerprint: &ScreenFingerprint) -> Result<Option<Screening>> {
    let path = dir.join("screen.json");
    let Ok(bytes) = std::fs::read(&path) else { return Ok(None) };
    let Ok(screen) = serde_json::from_slice::<ScreenFile>(&bytes) else { return Ok(None) };
    if screen.format != SCREEN_FORMAT || screen.fingerprint != *fingerprint {
        return Ok(None);
    }
    let bits_path = dir.join("dropped.bin");
    let bytes = std::fs::read(&bits_path).at(&bits_path)?;
    let bits = bytes.chunks_exact(8).map(|c| u64::from_le_bytes(c.try_into().unwrap())).collect();
    let report_path = output_dir.join(REPORT_FILE);
    let report = serde_json::from_slice(&std::fs::read(&report_path).at(&report_path)?)
        .map_err(|e| Error::input(&report_path, None, format!("cannot read this report ({e}); delete it to screen again")))?;
    Ok(Some(Screening { dropped: DroppedRows { file_first_row: screen.file_first_row, bits }, report }))
}

/// The rows the last screen in `output_dir` dropped, if there is a whole one (for benchmarks and tests
/// that check which documents went).
pub fn saved_dropped_rows(output_dir: &Path) -> Result<Option<DroppedRows>> {
    let dir = output_dir.join(SCREEN_DIR);
    let path = dir.join("screen.json");
    let Ok(bytes) = std::fs::read(&path) else { return Ok(None) };
    let screen: ScreenFile = serde_json::from_slice(&bytes).map_err(|e| Error::input(&path, None, format!("not a screen: {e}")))?;
    Ok(load(&dir, output_dir, &screen.fingerprint)?.map(|s| s.dropped))
}

/// The report of a prepared folder, if it was screened.
pub fn read_report(output_dir: &Path) -> Result<Option<FilterReport>> {
    let path: PathBuf = output_dir.join(REPORT_FILE);
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| Error::input(&path, None, format!("not a filter report: {e}"))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::Io { path, source: e }),
    }
}
