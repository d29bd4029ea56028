use std::path::PathBuf;

use minilm_core::data::sources::FileType;
use minilm_core::data::tokenizer_training::{self, TrainTokenizerOptions};
use napi::bindgen_prelude::AsyncTask;
use napi::{Env, Task};
use napi_derive::napi;

use crate::error::{guarded, to_json};
use crate::job::Job;

#[napi(object)]
pub struct TrainTokenizerArgs {
    pub input_dir: String,
    pub output_dir: String,
    pub text_key: Option<String>,
    pub file_type: Option<String>,
    /// Default 6400.
    pub vocab_size: Option<u32>,
    /// Default ["<unk>", "<s>", "</s>"], taking ids 0, 1, 2.
    pub special_tokens: Option<Vec<String>>,
}

pub struct TrainTokenizerTask {
    options: minilm_core::Result<TrainTokenizerOptions>,
    job: Job,
}

impl Task for TrainTokenizerTask {
    type Output = String;
    type JsValue = String;

    fn compute(&mut self) -> napi::Result<Self::Output> {
        let options = std::mem::replace(&mut self.options, Err(minilm_core::Error::Cancelled));
        let cancelled = self.job.cancelled.clone();
        guarded(|| tokenizer_training::train_tokenizer(&options?, &cancelled)).and_then(|s| to_json(&s))
    }

    fn resolve(&mut self, _env: Env, output: Self::Output) -> napi::Result<Self::JsValue> {
        Ok(output)
    }
}

/// Trains a byte-level BPE tokenizer; resolves to a summary. `job.cancel()` stops it.
#[napi(catch_unwind)]
pub fn train_tokenizer(args: TrainTokenizerArgs, job: &Job) -> AsyncTask<TrainTokenizerTask> {
    let options = (|| {
        Ok(TrainTokenizerOptions {
            input_dir: PathBuf::from(args.input_dir),
            output_dir: PathBuf::from(args.output_dir),
            text_key: args.text_key.unwrap_or_else(|| "text".into()),
            file_type: args.file_type.as_deref().map(FileType::parse).transpose()?,
            vocab_size: args.vocab_size.map(|v| v as usize).unwrap_or(tokenizer_training::DEFAULT_VOCAB_SIZE),
            special_tokens: args.special_tokens.unwrap_or_else(|| {
                tokenizer_training::DEFAULT_SPECIAL_TOKENS.iter().map(|s| s.to_string()).collect()
            }),
        })
    })();
    AsyncTask::new(TrainTokenizerTask { options, job: job.clone() })
}
