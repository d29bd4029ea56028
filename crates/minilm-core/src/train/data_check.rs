//! What `pretrain --dry_run` checks of the data without training: the train and validation folders,
//! their index and chunk files as the trainer reads them (windows of max_seq_length + 1 tokens), the
//! dataset's tokenizer against the model's vocabulary, and the token ids of a sample of windows.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::data::tokenizer::DocumentTokenizer;
use crate::data::windows::{check_vocabulary, open_splits, TokenWindows};
use crate::error::{Error, Result};

#[derive(Clone, Debug, Serialize)]
pub struct DataCheck {
    pub train_dir: PathBuf,
    pub train_windows: u64,
    pub train_tokens: u64,
    pub val_dir: Option<PathBuf>,
    pub val_windows: u64,
    /// The vocabulary of the tokenizer `minilm prepare` stored with the data, when there is one.
    pub tokenizer_vocab_size: Option<usize>,
    /// Windows whose ids were read and found inside the vocabulary.
    pub sampled_windows: u64,
}

/// Windows read per split: the first, the last and some spread between.
const SAMPLES: u64 = 64;

/// Checks `data_path` for a model of `vocab` rows (padded_vocab_size) trained on `seq_len` tokens.
pub fn check_data(data_path: &Path, split_names: Option<(&str, &str)>, seq_len: usize, vocab: usize) -> Result<DataCheck> {
    let (train, val) = open_splits(data_path, split_names, seq_len + 1)?;
    let tokenizer_dir = data_path.join("tokenizer");
    let tokenizer_vocab_size = if tokenizer_dir.join("tokenizer.json").is_file() {
        let size = DocumentTokenizer::load(&tokenizer_dir)?.vocab_size();
        if size > vocab {
            return Err(Error::input(&tokenizer_dir, None, format!(
                "has {size} tokens, more than the model's padded_vocab_size of {vocab}: the data was prepared with another tokenizer, or the model config is for another vocabulary"
            )));
        }
        Some(size)
    } else {
        None
    };
    let mut sampled = 0;
    for windows in std::iter::once(&train).chain(val.as_ref()) {
        sampled += check_ids(windows, vocab)?;
    }
    Ok(DataCheck {
        train_windows: train.len(),
        train_tokens: train.total_tokens(),
        train_dir: train.dir.clone(),
        val_windows: val.as_ref().map_or(0, |v| v.len()),
        val_dir: val.as_ref().map(|v| v.dir.clone()),
        tokenizer_vocab_size,
        sampled_windows: sampled,
    })
}

/// Reads up to SAMPLES windows spread over the split and checks every id against the vocabulary.
fn check_ids(windows: &TokenWindows, vocab: usize) -> Result<u64> {
    let count = windows.len().min(SAMPLES);
    let mut tokens = Vec::new();
    for i in 0..count {
        // Evenly spread, first and last included.
        let index = if count == 1 { 0 } else { i * (windows.len() - 1) / (count - 1) };
        tokens.clear();
        windows.read(index, &mut tokens)?;
        check_vocabulary(&windows.dir, Some(format!("window {index}")), &tokens, vocab)?;
    }
    Ok(count)
}
