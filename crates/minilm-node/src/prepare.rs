use std::path::PathBuf;

use minilm_core::data::prepare::{self, PrepareOptions};
use minilm_core::data::shards::DType;
use minilm_core::data::sources::FileType;
use napi::bindgen_prelude::AsyncTask;
use napi::{Env, Task};
use napi_derive::napi;

use crate::error::{guarded, to_json};
use crate::job::Job;

/// Options of `prepare`; see `minilm prepare --help` for each one's meaning and default.
#[napi(object)]
pub struct PrepareArgs {
    pub input_dir: String,
    pub output_dir: String,
    pub tokenizer_path: String,
    pub text_key: Option<String>,
    /// "parquet", "jsonl" or "csv"; inferred from the files when absent.
    pub file_type: Option<String>,
    pub fast_dev_run: Option<bool>,
    /// 0 or absent: one per core.
    pub num_workers: Option<u32>,
    pub chunk_size: Option<i64>,
    pub val_fraction: Option<f64>,
    pub seed: Option<i64>,
    /// "int16" or "int32"; the smallest that fits when absent.
    pub dtype: Option<String>,
}

pub struct PrepareTask {
    options: minilm_core::Result<PrepareOptions>,
    job: Job,
}

impl Task for PrepareTask {
    type Output = String;
    type JsValue = String;

    fn compute(&mut self) -> napi::Result<Self::Output> {
        let job = self.job.clone();
        let options = std::mem::replace(&mut self.options, Err(minilm_core::Error::Cancelled));
        guarded(|| {
            let summary = prepare::prepare(&options?, &mut |p| job.report(p), &job.cancelled)?;
            Ok(summary)
        })
        .and_then(|summary| to_json(&summary))
    }

    fn resolve(&mut self, _env: Env, output: Self::Output) -> napi::Result<Self::JsValue> {
        Ok(output)
    }
}

fn resolve_options(args: PrepareArgs) -> minilm_core::Result<PrepareOptions> {
    let non_negative = |name: &str, value: Option<i64>, default: u64| -> minilm_core::Result<u64> {
        match value {
            None => Ok(default),
            Some(v) if v >= 0 => Ok(v as u64),
            Some(v) => Err(minilm_core::Error::usage(format!("--{name} must not be negative, not {v}"))),
        }
    };
    Ok(PrepareOptions {
        input_dir: PathBuf::from(args.input_dir),
        output_dir: PathBuf::from(args.output_dir),
        tokenizer_path: PathBuf::from(args.tokenizer_path),
        text_key: args.text_key.unwrap_or_else(|| "text".into()),
        file_type: args.file_type.as_deref().map(FileType::parse).transpose()?,
        fast_dev_run: args.fast_dev_run.unwrap_or(false),
        num_workers: args.num_workers.unwrap_or(0) as usize,
        chunk_size: non_negative("chunk_size", args.chunk_size, prepare::DEFAULT_CHUNK_SIZE)?,
        val_fraction: args.val_fraction.unwrap_or(prepare::DEFAULT_VAL_FRACTION),
        seed: non_negative("seed", args.seed, prepare::DEFAULT_SEED)?,
        dtype: args.dtype.as_deref().map(DType::parse).transpose()?,
    })
}

/// Tokenizes a corpus into litdata shards; resolves to the summary. Progress and cancellation go through `job`.
#[napi(catch_unwind)]
pub fn prepare(args: PrepareArgs, job: &Job) -> AsyncTask<PrepareTask> {
    AsyncTask::new(PrepareTask { options: resolve_options(args), job: job.clone() })
}

/// The defaults prepare uses, for help texts and docs.
#[napi]
pub fn prepare_defaults() -> String {
    serde_json::json!({
        "chunkSize": prepare::DEFAULT_CHUNK_SIZE,
        "valFraction": prepare::DEFAULT_VAL_FRACTION,
        "seed": prepare::DEFAULT_SEED,
        "fastDevRunDocuments": prepare::FAST_DEV_RUN_DOCUMENTS,
    })
    .to_string()
}
