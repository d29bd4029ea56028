//! SFT data (minilm_core::sft::dataset): conversation files made into masked examples for the trainer.

use std::path::PathBuf;

use minilm_core::sft::dataset::{self, SftDataOptions, SftDataSummary};
use minilm_core::sft::formats::ConversationFormat;
use napi::bindgen_prelude::AsyncTask;
use napi_derive::napi;

use crate::error::{count, guarded, to_napi};
use crate::job::Job;
use crate::task::native_task;

#[napi(object, js_name = "SftDataOptions")]
pub struct SftDataArgs {
    /// A .jsonl, .jsonl.gz or .json file of conversations, or a folder of them.
    pub json_path: String,
    pub output_dir: String,
    /// tokenizer.json and the tokenizer_config.json with the chat template (a checkpoint folder has both).
    pub tokenizer_dir: String,
    /// Detected from each file's first record when absent.
    #[napi(ts_type = "'minimind' | 'openai' | 'sharegpt' | 'alpaca'")]
    pub format: Option<String>,
    pub mask_prompt: bool,
    pub max_seq_length: u32,
    pub val_split_fraction: f64,
    pub seed: i64,
    /// Preference pairs for DPO (prompt / chosen / rejected) instead of conversations.
    pub preferences: Option<bool>,
}

impl TryFrom<SftDataArgs> for SftDataOptions {
    type Error = napi::Error;

    fn try_from(args: SftDataArgs) -> napi::Result<Self> {
        let format = match args.format.as_deref() {
            None => None,
            Some(name) => Some(ConversationFormat::parse(name).ok_or_else(|| {
                let names: Vec<&str> = ConversationFormat::ALL.iter().map(|f| f.name()).collect();
                to_napi(minilm_core::Error::usage(format!("unknown conversation format \"{name}\"; expected one of {}", names.join(", "))))
            })?),
        };
        Ok(SftDataOptions {
            json_path: PathBuf::from(args.json_path),
            output_dir: PathBuf::from(args.output_dir),
            tokenizer_dir: PathBuf::from(args.tokenizer_dir),
            format,
            mask_prompt: args.mask_prompt,
            max_seq_length: args.max_seq_length as usize,
            val_split_fraction: args.val_split_fraction,
            seed: count("seed", args.seed)?,
            preferences: args.preferences.unwrap_or(false),
        })
    }
}

/// A file and the format its records were read as.
#[napi(object)]
pub struct SftDataFile {
    pub path: String,
    pub format: String,
}

#[napi(object, js_name = "SftDataSummary")]
pub struct PreparedSftData {
    pub output_dir: String,
    /// What the folder was made from (inputs, tokenizer, template, settings): a resumed run checks it.
    pub fingerprint: String,
    pub files: Vec<SftDataFile>,
    pub records: f64,
    pub train_examples: f64,
    pub val_examples: f64,
    pub tokens: f64,
    /// Tokens the loss is taken on.
    pub trained_tokens: f64,
    /// Examples cut at max_seq_length + 1 tokens.
    pub truncated: f64,
    /// Conversations made into one example per reply (their template rewrites earlier turns).
    pub split_by_reply: f64,
    pub skipped_empty: f64,
    pub skipped_no_assistant: f64,
    pub skipped_truncated_away: f64,
    /// Preference pairs whose replies are the same, or with a reply longer than max_seq_length.
    pub skipped_identical: f64,
    pub skipped_reply_too_long: f64,
    /// A few skipped records, as "file line N: why".
    pub skipped_examples: Vec<String>,
    /// The folder was already complete for these inputs and settings.
    pub reused: bool,
    pub seconds: f64,
}

impl From<SftDataSummary> for PreparedSftData {
    fn from(s: SftDataSummary) -> Self {
        PreparedSftData {
            output_dir: s.output_dir,
            fingerprint: s.fingerprint,
            files: s.files.into_iter().map(|(path, format)| SftDataFile { path, format }).collect(),
            records: s.records as f64,
            train_examples: s.train_examples as f64,
            val_examples: s.val_examples as f64,
            tokens: s.tokens as f64,
            trained_tokens: s.trained_tokens as f64,
            truncated: s.truncated as f64,
            split_by_reply: s.split_by_reply as f64,
            skipped_empty: s.skipped_empty as f64,
            skipped_no_assistant: s.skipped_no_assistant as f64,
            skipped_truncated_away: s.skipped_truncated_away as f64,
            skipped_identical: s.skipped_identical as f64,
            skipped_reply_too_long: s.skipped_reply_too_long as f64,
            skipped_examples: s.skipped_examples,
            reused: s.reused,
            seconds: s.seconds,
        }
    }
}

native_task!(SftDataTask -> PreparedSftData);

/// Renders, tokenizes and masks conversation files into an SFT data folder (reused when already made
/// from the same inputs and settings); progress and cancellation go through `job`.
#[napi(catch_unwind)]
pub fn prepare_sft_data(args: SftDataArgs, job: &Job) -> napi::Result<AsyncTask<SftDataTask>> {
    let options = SftDataOptions::try_from(args)?;
    let job = job.clone();
    Ok(SftDataTask::run(move || {
        let summary = guarded(|| dataset::prepare_sft_data(&options, &mut |p| job.report(p.into()), &job.cancelled))?;
        Ok(summary.into())
    }))
}
