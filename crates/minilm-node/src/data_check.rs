//! `pretrain --dry_run`'s data check (minilm_core::train::data_check). Synchronous: it reads a few
//! index files and a sample of windows.

use std::path::Path;

use minilm_core::train::data_check::{self, DataCheck};
use napi_derive::napi;

use crate::error::guarded;

#[napi(object)]
pub struct DataCheckArgs {
    pub data_path: String,
    /// [train, val] folder names under data_path, as litgpt's LitData takes them.
    pub split_names: Option<Vec<String>>,
    /// Tokens a training window predicts (max_seq_length).
    pub seq_len: u32,
    /// The model's embedding rows (padded_vocab_size).
    pub vocab: u32,
}

/// What was found, as minilm_core::train::data_check::DataCheck (counts as JavaScript numbers).
#[napi(object)]
pub struct DataCheckReport {
    pub train_dir: String,
    pub train_windows: f64,
    pub train_tokens: f64,
    pub val_dir: Option<String>,
    pub val_windows: f64,
    pub tokenizer_vocab_size: Option<u32>,
    pub sampled_windows: u32,
}

impl From<DataCheck> for DataCheckReport {
    fn from(c: DataCheck) -> Self {
        DataCheckReport {
            train_dir: c.train_dir.display().to_string(),
            train_windows: c.train_windows as f64,
            train_tokens: c.train_tokens as f64,
            val_dir: c.val_dir.map(|d| d.display().to_string()),
            val_windows: c.val_windows as f64,
            tokenizer_vocab_size: c.tokenizer_vocab_size.map(|v| v as u32),
            sampled_windows: c.sampled_windows as u32,
        }
    }
}

#[napi(catch_unwind)]
pub fn check_data(args: DataCheckArgs) -> napi::Result<DataCheckReport> {
    let split_names = match args.split_names.as_deref() {
        None => None,
        Some([train, val]) => Some((train.as_str(), val.as_str())),
        Some(other) => return Err(napi::Error::from_reason(format!("split_names: expected [train, val], got {} names", other.len()))),
    };
    let check = guarded(|| data_check::check_data(Path::new(&args.data_path), split_names, args.seq_len as usize, args.vocab as usize))?;
    Ok(check.into())
}
