//! `inspect` (minilm_core::data::inspect): what a prepared dataset holds.

use std::path::PathBuf;

use minilm_core::data::inspect::{self, InspectReport, SplitReport};
use napi::bindgen_prelude::AsyncTask;
use napi_derive::napi;

use crate::error::guarded;
use crate::task::native_task;

#[napi(object, js_name = "SplitReport")]
pub struct InspectedSplit {
    pub name: String,
    pub path: String,
    pub documents: f64,
    pub tokens: f64,
    pub chunks: u32,
    pub dtype: String,
    pub item_loader: Option<String>,
    /// Distinct token ids that occur, and the largest.
    pub distinct_ids: u32,
    pub max_id: u32,
    /// The first few documents, decoded (empty without a tokenizer).
    pub samples: Vec<String>,
}

impl From<SplitReport> for InspectedSplit {
    fn from(r: SplitReport) -> Self {
        InspectedSplit {
            name: r.name,
            path: r.path,
            documents: r.documents as f64,
            tokens: r.tokens as f64,
            chunks: r.chunks as u32,
            dtype: r.dtype,
            item_loader: r.item_loader,
            distinct_ids: r.distinct_ids as u32,
            max_id: r.max_id,
            samples: r.samples,
        }
    }
}

#[napi(object, js_name = "InspectReport")]
pub struct InspectedDataset {
    pub splits: Vec<InspectedSplit>,
    /// The tokenizer the samples were decoded with.
    pub tokenizer: Option<String>,
    pub tokenizer_vocab_size: Option<u32>,
}

impl From<InspectReport> for InspectedDataset {
    fn from(r: InspectReport) -> Self {
        InspectedDataset {
            splits: r.splits.into_iter().map(Into::into).collect(),
            tokenizer: r.tokenizer,
            tokenizer_vocab_size: r.tokenizer_vocab_size.map(|v| v as u32),
        }
    }
}

native_task!(InspectTask -> InspectedDataset);

/// Reads a prepared dataset back: documents, tokens, chunks, dtype, ids seen and decoded samples.
#[napi(catch_unwind)]
pub fn inspect(dir: String, tokenizer_path: Option<String>, samples: Option<u32>) -> AsyncTask<InspectTask> {
    let (dir, tokenizer_path) = (PathBuf::from(dir), tokenizer_path.map(PathBuf::from));
    let samples = samples.map_or(inspect::DEFAULT_SAMPLES, |n| n as usize);
    InspectTask::run(move || Ok(guarded(|| inspect::inspect(&dir, tokenizer_path.as_deref(), samples))?.into()))
}

#[napi(object)]
pub struct InspectDefaults {
    /// Documents decoded per split.
    pub samples: u32,
}

#[napi]
pub fn inspect_defaults() -> InspectDefaults {
    InspectDefaults { samples: inspect::DEFAULT_SAMPLES as u32 }
}
