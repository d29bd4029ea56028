//! `tokenizer train` (minilm_core::data::tokenizer_training): a byte-level BPE from a corpus.

use std::path::PathBuf;

use minilm_core::data::sources::{FileSelection, DEFAULT_TEXT_KEY};
use minilm_core::data::tokenizer_training::{self, TrainTokenizerOptions, TrainTokenizerSummary};
use napi::bindgen_prelude::AsyncTask;
use napi_derive::napi;

use crate::error::{count, guarded, to_napi};
use crate::job::Job;
use crate::task::native_task;

/// Options of `trainTokenizer`; absent ones take `tokenizerTrainingDefaults()`.
#[napi(object, js_name = "TrainTokenizerOptions")]
pub struct TrainTokenizerArgs {
    pub input_dir: String,
    /// Receives tokenizer.json and tokenizer_config.json.
    pub output_dir: String,
    pub text_key: Option<String>,
    /// Default: the one kind found in inputDir; `auto` reads every kind.
    #[napi(ts_type = "'parquet' | 'jsonl' | 'csv' | 'auto'")]
    pub file_type: Option<String>,
    /// Special tokens included.
    pub vocab_size: Option<u32>,
    /// In id order from 0: by convention unknown, BOS and EOS.
    pub special_tokens: Option<Vec<String>>,
    /// Train on at most this many documents (after sampling), in file order.
    pub max_documents: Option<i64>,
    /// Train on this share of the documents, chosen by a hash of (seed, file, row).
    pub sample_fraction: Option<f64>,
    /// Chooses the sample.
    pub seed: Option<i64>,
    /// Keep at most this many distinct words (the most frequent) for BPE: bounds memory. Default `maxWords`.
    pub max_words: Option<i64>,
}

impl TryFrom<TrainTokenizerArgs> for TrainTokenizerOptions {
    type Error = napi::Error;

    fn try_from(args: TrainTokenizerArgs) -> napi::Result<Self> {
        Ok(TrainTokenizerOptions {
            input_dir: PathBuf::from(args.input_dir),
            output_dir: PathBuf::from(args.output_dir),
            text_key: args.text_key.unwrap_or_else(|| DEFAULT_TEXT_KEY.into()),
            file_type: FileSelection::parse(args.file_type.as_deref()).map_err(to_napi)?,
            vocab_size: args.vocab_size.map(|v| v as usize).unwrap_or(tokenizer_training::DEFAULT_VOCAB_SIZE),
            special_tokens: args.special_tokens.unwrap_or_else(default_special_tokens),
            max_documents: args.max_documents.map(|v| count("max_documents", v)).transpose()?,
            sample_fraction: args.sample_fraction.unwrap_or(1.0),
            seed: args.seed.map(|v| count("seed", v)).transpose()?.unwrap_or(tokenizer_training::DEFAULT_SAMPLE_SEED),
            max_words: match args.max_words {
                Some(v) => usize::try_from(count("max_words", v)?).unwrap_or(usize::MAX).max(1),
                None => tokenizer_training::DEFAULT_MAX_WORDS,
            },
        })
    }
}

fn default_special_tokens() -> Vec<String> {
    tokenizer_training::DEFAULT_SPECIAL_TOKENS.iter().map(|s| s.to_string()).collect()
}

#[napi(object, js_name = "TrainTokenizerSummary")]
pub struct TrainedTokenizer {
    pub output_dir: String,
    pub files: u32,
    pub documents: f64,
    pub text_bytes: f64,
    /// Pre-tokenized words over `maxWordBytes` that were counted as pieces of that length.
    pub long_words: f64,
    /// Distinct words BPE was trained on.
    pub distinct_words: f64,
    /// Word-count entries dropped to stay within maxWords, the rarest (0 when all fit).
    pub pruned_words: f64,
    pub vocab_size: u32,
    pub seconds: f64,
}

impl From<TrainTokenizerSummary> for TrainedTokenizer {
    fn from(s: TrainTokenizerSummary) -> Self {
        TrainedTokenizer {
            output_dir: s.output_dir,
            files: s.files as u32,
            documents: s.documents as f64,
            text_bytes: s.text_bytes as f64,
            long_words: s.long_words as f64,
            distinct_words: s.distinct_words as f64,
            pruned_words: s.pruned_words as f64,
            vocab_size: s.vocab_size as u32,
            seconds: s.seconds,
        }
    }
}

native_task!(TrainTokenizerTask -> TrainedTokenizer);

/// Trains a byte-level BPE tokenizer; resolves to a summary. `job.cancel()` stops it.
#[napi(catch_unwind)]
pub fn train_tokenizer(args: TrainTokenizerArgs, job: &Job) -> napi::Result<AsyncTask<TrainTokenizerTask>> {
    let options = TrainTokenizerOptions::try_from(args)?;
    let cancelled = job.cancelled.clone();
    Ok(TrainTokenizerTask::run(move || Ok(guarded(|| tokenizer_training::train_tokenizer(&options, &cancelled))?.into())))
}

#[napi(object)]
pub struct TokenizerTrainingDefaults {
    pub text_key: String,
    pub vocab_size: u32,
    pub special_tokens: Vec<String>,
    /// Longer pre-tokenized words are counted as pieces of this many bytes.
    pub max_word_bytes: u32,
    /// Distinct words kept for BPE.
    pub max_words: f64,
    pub seed: f64,
}

#[napi]
pub fn tokenizer_training_defaults() -> TokenizerTrainingDefaults {
    TokenizerTrainingDefaults {
        text_key: DEFAULT_TEXT_KEY.into(),
        vocab_size: tokenizer_training::DEFAULT_VOCAB_SIZE as u32,
        special_tokens: default_special_tokens(),
        max_word_bytes: tokenizer_training::MAX_WORD_BYTES as u32,
        max_words: tokenizer_training::DEFAULT_MAX_WORDS as f64,
        seed: tokenizer_training::DEFAULT_SAMPLE_SEED as f64,
    }
}
