//! What makes `prepare` resumable: a small state file in the output folder, rewritten atomically after
//! each finished input file. It records the settings (a rerun with other settings is refused), how many
//! input files are done, the running totals, and for each split its closed chunks and journal mark.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::data::screen::filters::Filters;
use crate::data::screen::minhash::MinhashSettings;
use crate::data::screen::DedupKind;
use crate::data::sharding::ShardOfInput;
use crate::data::shards::{ChunkInfo, JournalMark};
use crate::data::token_dtype::TokenDtype;
use crate::error::{Error, Result};
use crate::util::write_atomically;

pub const STATE_FILE: &str = ".minilm-prepare.json";
const STATE_FORMAT: u32 = 1;

/// Everything that decides the bytes written. Deliberately not the worker count: output never depends on it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    pub file_type: String,
    pub text_key: String,
    pub tokenizer: String,
    pub dtype: TokenDtype,
    pub chunk_size: u64,
    pub val_fraction: f64,
    pub seed: u64,
    pub max_documents: Option<u64>,
    /// Relative path and size of every input file, in processing order.
    pub files: Vec<(String, u64)>,
    /// Screening (absent in state files from before it existed: none).
    #[serde(default)]
    pub dedup: Vec<DedupKind>,
    #[serde(default)]
    pub minhash: Option<MinhashSettings>,
    #[serde(default)]
    pub filters: Option<Filters>,
    /// The blocklist file's contents, hashed.
    #[serde(default)]
    pub blocklist: Option<u64>,
    /// A sharded prepare's part, and the whole input it was cut from (data/sharding.rs).
    #[serde(default)]
    pub shard: Option<ShardOfInput>,
}

impl Settings {
    /// What decides the screening, for comparing two runs'.
    pub fn screening(&self) -> (&[DedupKind], Option<&MinhashSettings>, Option<&Filters>, Option<u64>) {
        (&self.dedup, self.minhash.as_ref(), self.filters.as_ref(), self.blocklist)
    }

    /// The names of the settings that differ between `self` and `other`, leaving out those in `except`.
    pub fn differing(&self, other: &Settings, except: &[&str]) -> Vec<String> {
        let (old, new) =
            (serde_json::to_value(self).expect("settings serialise"), serde_json::to_value(other).expect("settings serialise"));
        old.as_object()
            .expect("settings serialise to an object")
            .iter()
            .filter(|(key, value)| !except.contains(&key.as_str()) && new.get(key.as_str()) != Some(value))
            .map(|(key, _)| key.clone())
            .collect()
    }

    /// The screening in words: "dedup exact, minhash; filters length, repetition".
    pub fn screening_description(&self) -> String {
        let dedup: Vec<&str> = self.dedup.iter().map(|k| k.name()).collect();
        let filters: Vec<&str> = match &self.filters {
            Some(f) => [
                ("length", f.length.is_some()),
                ("script", f.script.is_some()),
                ("symbol_lines", f.symbol_lines.is_some()),
                ("blocklist", f.blocklist.is_some()),
                ("repetition", f.repetition.is_some()),
            ]
            .into_iter()
            .filter_map(|(name, on)| on.then_some(name))
            .collect(),
            None => Vec::new(),
        };
        let or_none = |names: Vec<&str>| if names.is_empty() { "none".to_owned() } else { names.join(", ") };
        format!("dedup {}; filters {}", or_none(dedup), or_none(filters))
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Totals {
    pub train_documents: u64,
    pub val_documents: u64,
    pub train_tokens: u64,
    pub val_tokens: u64,
    pub skipped_null: u64,
    pub skipped_empty: u64,
    /// Rows read, nulls and empties included (what `--fast_dev_run` counts).
    pub rows: u64,
    pub text_bytes: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SplitState {
    pub chunks: Vec<ChunkInfo>,
    pub mark: JournalMark,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PrepareState {
    pub format: u32,
    pub settings: Settings,
    pub files_done: usize,
    pub totals: Totals,
    pub train: SplitState,
    pub val: SplitState,
    pub complete: bool,
}

impl PrepareState {
    pub fn new(settings: Settings) -> Self {
        PrepareState {
            format: STATE_FORMAT,
            settings,
            files_done: 0,
            totals: Totals::default(),
            train: SplitState::default(),
            val: SplitState::default(),
            complete: false,
        }
    }

    pub fn path(output_dir: &Path) -> PathBuf {
        output_dir.join(STATE_FILE)
    }

    /// The state of an earlier run in `output_dir`, if there is one.
    pub fn load(output_dir: &Path) -> Result<Option<PrepareState>> {
        let path = Self::path(output_dir);
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::Io { path, source: e }),
        };
        let state: PrepareState = serde_json::from_slice(&bytes).map_err(|e| {
            Error::input(&path, None, format!("cannot read this resume state ({e}); delete the output folder to start again"))
        })?;
        if state.format != STATE_FORMAT {
            return Err(Error::input(
                &path,
                None,
                format!(
                    "written by another minilm version (state format {}, this one reads {STATE_FORMAT}); use a new output folder",
                    state.format
                ),
            ));
        }
        Ok(Some(state))
    }

    pub fn save(&self, output_dir: &Path) -> Result<()> {
        let json = serde_json::to_vec_pretty(self).expect("the state serialises");
        write_atomically(&Self::path(output_dir), &[&json])
    }

    /// Takes the settings of a rerun, or refuses them, naming what differs. Files not yet done may have
    /// changed (a bad file fixed, files added after the last one done); the files already done may not.
    pub fn adopt_settings(&mut self, settings: Settings, output_dir: &Path) -> Result<()> {
        let mut differing = self.settings.differing(&settings, &["files"]);
        let done = &self.settings.files[..self.files_done.min(self.settings.files.len())];
        if settings.files.get(..done.len()) != Some(done) {
            differing.push("the input files already done".to_owned());
        }
        if !differing.is_empty() {
            return Err(Error::usage(format!(
                "{} holds a dataset prepared with other settings (differs in: {}); rerun with the same settings to resume, or choose a new output folder",
                output_dir.display(),
                differing.join(", ")
            )));
        }
        if self.complete && settings.files != self.settings.files {
            return Err(Error::usage(format!(
                "{} holds a finished dataset of other input files; choose a new output folder",
                output_dir.display()
            )));
        }
        self.settings = settings;
        Ok(())
    }
}

/// Whether the document at (`file`, `row`) is held out for validation: a pure function of the seed, the
/// file's relative path and the row, so the split does not depend on order, workers or resumption.
pub fn is_validation(seed: u64, file_hash: u64, row: u64, val_fraction: f64) -> bool {
    if val_fraction <= 0.0 {
        return false;
    }
    let mut x = seed ^ file_hash.rotate_left(17) ^ row.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    // splitmix64's finaliser spreads neighbouring rows over the whole range.
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^= x >> 31;
    ((x >> 11) as f64 / (1u64 << 53) as f64) < val_fraction
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(files: &[(&str, u64)]) -> Settings {
        Settings {
            file_type: "jsonl".into(),
            text_key: "text".into(),
            tokenizer: "t".into(),
            dtype: TokenDtype::Int16,
            chunk_size: 100,
            val_fraction: 0.0,
            seed: 42,
            max_documents: None,
            files: files.iter().map(|(n, s)| (n.to_string(), *s)).collect(),
            dedup: Vec::new(),
            minhash: None,
            filters: None,
            blocklist: None,
            shard: None,
        }
    }

    #[test]
    fn files_not_yet_done_may_change_but_done_ones_may_not() {
        let out = Path::new("/out");
        let mut state = PrepareState::new(settings(&[("a", 1), ("b", 2)]));
        state.files_done = 1;
        assert!(state.adopt_settings(settings(&[("a", 1), ("b", 3), ("c", 4)]), out).is_ok());
        let refused = state.adopt_settings(settings(&[("a", 9), ("b", 3)]), out).unwrap_err().to_string();
        assert!(refused.contains("differs in: the input files already done"), "{refused}");
        let mut other = settings(&[("a", 1), ("b", 3), ("c", 4)]);
        other.seed = 1;
        assert!(state.adopt_settings(other, out).unwrap_err().to_string().contains("differs in: seed"));
    }

    #[test]
    fn validation_choice_is_stable_and_near_the_fraction() {
        use crate::util::stable_hash;
        let file = stable_hash(b"dir/file.parquet");
        let held: usize = (0..100_000).filter(|&row| is_validation(42, file, row, 0.01)).count();
        assert!((800..1200).contains(&held), "{held}");
        assert!(!(0..1000).any(|row| is_validation(42, file, row, 0.0)));
        // FNV-1a 64 as Python computes it; pinned because a change would silently move documents
        // between the splits of datasets already written:
        //   h = 0xcbf29ce484222325
        //   for b in b"dir/file.parquet": h = ((h ^ b) * 0x100000001b3) % 2**64
        assert_eq!(stable_hash(b"dir/file.parquet"), 0xb9b1_98db_7fb7_ba61);
    }
}
