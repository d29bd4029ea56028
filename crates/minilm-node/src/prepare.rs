//! `prepare` (minilm_core::data::prepare): options in, progress while it runs, a summary at the end.

use std::path::{Path, PathBuf};

use minilm_core::data::prepare::{self, PrepareOptions, SplitSummary, Summary};
use minilm_core::data::shard_merge::merge;
use minilm_core::data::sharding::Shard;
use minilm_core::data::sources::{FileSelection, DEFAULT_TEXT_KEY};
use minilm_core::data::token_dtype::TokenDtype;
use napi::bindgen_prelude::AsyncTask;
use napi_derive::napi;

use crate::error::{count, guarded, to_napi};
use crate::job::Job;
use crate::screen::{screen_settings, FilterRules, MinhashOptions};
use crate::task::native_task;

/// Options of `prepare`; absent ones take `prepareDefaults()`.
#[napi(object, js_name = "PrepareOptions")]
pub struct PrepareArgs {
    /// Folder searched recursively (links followed) for input files.
    pub input_dir: String,
    /// Receives train/ and val/ (litdata TokensLoader datasets) and tokenizer/.
    pub output_dir: String,
    /// A folder with tokenizer.json and tokenizer_config.json, or a tokenizer.json.
    pub tokenizer_path: String,
    /// Column or key holding the text.
    pub text_key: Option<String>,
    /// Default: the one kind of supported file found in inputDir. `auto` reads every kind in a mixed folder.
    #[napi(ts_type = "'parquet' | 'jsonl' | 'csv' | 'auto'")]
    pub file_type: Option<String>,
    /// Only the first `fastDevRunDocuments` documents.
    pub fast_dev_run: Option<bool>,
    /// Tokenizing threads; 0 or absent: one per core. The output does not depend on it.
    pub num_workers: Option<u32>,
    /// Tokens per chunk file.
    pub chunk_size: Option<i64>,
    /// Fraction of documents held out for validation, chosen from the seed.
    pub val_fraction: Option<f64>,
    pub seed: Option<i64>,
    /// Token type on disk; absent: int16 when every id fits, else int32.
    #[napi(ts_type = "'int16' | 'int32'")]
    pub dtype: Option<String>,
    /// Drop exact duplicates (normalised text) and / or near duplicates (MinHash LSH); the first in file
    /// order is kept.
    #[napi(ts_type = "Array<'exact' | 'minhash'>")]
    pub dedup: Option<Vec<String>>,
    /// Absent: `screenDefaults().minhash`.
    pub minhash: Option<MinhashOptions>,
    /// Quality rules; absent or empty: none.
    pub filters: Option<FilterRules>,
    /// Only screen (dedup, filters) and write OUTPUT_DIR/filter-report.json; tokenize nothing.
    pub dry_run_filters: Option<bool>,
    /// Tokenize only this part of the input (index from 0), into OUTPUT_DIR/shards/; `mergePreparedShards` joins them.
    pub shard: Option<ShardArg>,
}

#[napi(object)]
pub struct ShardArg {
    pub index: u32,
    pub count: u32,
}

impl TryFrom<PrepareArgs> for PrepareOptions {
    type Error = napi::Error;

    fn try_from(args: PrepareArgs) -> napi::Result<Self> {
        Ok(PrepareOptions {
            input_dir: PathBuf::from(args.input_dir),
            output_dir: PathBuf::from(args.output_dir),
            tokenizer_path: PathBuf::from(args.tokenizer_path),
            text_key: args.text_key.unwrap_or_else(|| DEFAULT_TEXT_KEY.into()),
            file_type: FileSelection::parse(args.file_type.as_deref()).map_err(to_napi)?,
            fast_dev_run: args.fast_dev_run.unwrap_or(false),
            num_workers: args.num_workers.map_or(prepare::DEFAULT_NUM_WORKERS, |n| n as usize),
            chunk_size: args.chunk_size.map(|v| count("chunk_size", v)).transpose()?.unwrap_or(prepare::DEFAULT_CHUNK_SIZE),
            val_fraction: args.val_fraction.unwrap_or(prepare::DEFAULT_VAL_FRACTION),
            seed: args.seed.map(|v| count("seed", v)).transpose()?.unwrap_or(prepare::DEFAULT_SEED),
            dtype: args.dtype.as_deref().map(TokenDtype::parse).transpose().map_err(to_napi)?,
            screen: screen_settings(args.dedup, args.minhash, args.filters)?,
            dry_run_filters: args.dry_run_filters.unwrap_or(false),
            shard: args.shard.map(|s| Shard::new(s.index as usize, s.count as usize)).transpose().map_err(to_napi)?,
        })
    }
}

#[napi(object, js_name = "SplitSummary")]
pub struct PreparedSplit {
    pub documents: f64,
    pub tokens: f64,
    pub chunks: u32,
}

impl From<SplitSummary> for PreparedSplit {
    fn from(s: SplitSummary) -> Self {
        PreparedSplit { documents: s.documents as f64, tokens: s.tokens as f64, chunks: s.chunks as u32 }
    }
}

#[napi(object)]
pub struct PrepareSummary {
    pub output_dir: String,
    pub file_type: String,
    pub dtype: String,
    pub files: u32,
    /// Files done by an earlier, interrupted run (0 for a fresh run).
    pub files_resumed: u32,
    /// True when the output was already complete and nothing was done.
    pub already_complete: bool,
    pub train: PreparedSplit,
    pub val: PreparedSplit,
    pub skipped_null: f64,
    pub skipped_empty: f64,
    /// Documents the filters and the dedup dropped (0 when neither is on).
    pub dropped_by_filters: f64,
    pub dropped_duplicates: f64,
    /// OUTPUT_DIR/filter-report.json, when there was screening.
    pub filter_report: Option<String>,
    /// True for dryRunFilters: only the report was written.
    pub dry_run: bool,
    pub num_workers: u32,
    /// This run's time and throughput.
    pub seconds: f64,
    pub text_bytes: f64,
    pub tokens: f64,
    pub megabytes_per_second: f64,
    pub tokens_per_second: f64,
}

impl From<Summary> for PrepareSummary {
    fn from(s: Summary) -> Self {
        PrepareSummary {
            output_dir: s.output_dir,
            file_type: s.file_type,
            dtype: s.dtype,
            files: s.files as u32,
            files_resumed: s.files_resumed as u32,
            already_complete: s.already_complete,
            train: s.train.into(),
            val: s.val.into(),
            skipped_null: s.skipped_null as f64,
            skipped_empty: s.skipped_empty as f64,
            dropped_by_filters: s.dropped_by_filters as f64,
            dropped_duplicates: s.dropped_duplicates as f64,
            filter_report: s.filter_report,
            dry_run: s.dry_run,
            num_workers: s.num_workers as u32,
            seconds: s.seconds,
            text_bytes: s.text_bytes as f64,
            tokens: s.tokens as f64,
            megabytes_per_second: s.megabytes_per_second,
            tokens_per_second: s.tokens_per_second,
        }
    }
}

native_task!(PrepareTask -> PrepareSummary);

/// Tokenizes a corpus into litdata shards; resolves to the summary. Progress and cancellation go through `job`.
#[napi(catch_unwind)]
pub fn prepare(args: PrepareArgs, job: &Job) -> napi::Result<AsyncTask<PrepareTask>> {
    let options = PrepareOptions::try_from(args)?;
    let job = job.clone();
    Ok(PrepareTask::run(move || {
        let summary = guarded(|| prepare::prepare(&options, &mut |p| job.report(p.into()), &job.cancelled))?;
        Ok(summary.into())
    }))
}

/// The folder a shard of a sharded prepare writes (and locks), inside the output folder.
#[napi]
pub fn prepare_shard_folder(output_dir: String, shard: ShardArg) -> napi::Result<String> {
    let shard = Shard::new(shard.index as usize, shard.count as usize).map_err(to_napi)?;
    Ok(shard.folder(Path::new(&output_dir)).display().to_string())
}

#[napi(object)]
pub struct MergeSummary {
    pub output_dir: String,
    pub shards: u32,
    /// Input files of the whole input.
    pub files: f64,
    pub dtype: String,
    pub train: PreparedSplit,
    pub val: PreparedSplit,
}

native_task!(MergeTask -> MergeSummary);

/// Joins the finished shards of a sharded prepare in `outputDir` into its train/ and val/ (one index.json
/// each); rejects, naming the shard, when one is missing or unfinished.
#[napi(catch_unwind)]
pub fn merge_prepared_shards(output_dir: String) -> AsyncTask<MergeTask> {
    MergeTask::run(move || {
        let s = guarded(|| merge(Path::new(&output_dir)))?;
        Ok(MergeSummary {
            output_dir: s.output_dir,
            shards: s.shards as u32,
            files: s.files as f64,
            dtype: s.dtype,
            train: s.train.into(),
            val: s.val.into(),
        })
    })
}

/// The defaults prepare uses for absent options.
#[napi(object)]
pub struct PrepareDefaults {
    pub text_key: String,
    /// 0: one per core.
    pub num_workers: u32,
    pub chunk_size: f64,
    pub val_fraction: f64,
    pub seed: f64,
    pub fast_dev_run_documents: f64,
}

#[napi]
pub fn prepare_defaults() -> PrepareDefaults {
    PrepareDefaults {
        text_key: DEFAULT_TEXT_KEY.into(),
        num_workers: prepare::DEFAULT_NUM_WORKERS as u32,
        chunk_size: prepare::DEFAULT_CHUNK_SIZE as f64,
        val_fraction: prepare::DEFAULT_VAL_FRACTION,
        seed: prepare::DEFAULT_SEED as f64,
        fast_dev_run_documents: prepare::FAST_DEV_RUN_DOCUMENTS as f64,
    }
}
