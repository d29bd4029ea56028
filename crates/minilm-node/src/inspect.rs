use std::path::PathBuf;

use minilm_core::data::inspect;
use napi::bindgen_prelude::AsyncTask;
use napi::{Env, Task};
use napi_derive::napi;

use crate::error::{guarded, to_json};

pub struct InspectTask {
    dir: PathBuf,
    tokenizer_path: Option<PathBuf>,
    samples: usize,
}

impl Task for InspectTask {
    type Output = String;
    type JsValue = String;

    fn compute(&mut self) -> napi::Result<Self::Output> {
        guarded(|| inspect::inspect(&self.dir, self.tokenizer_path.as_deref(), self.samples)).and_then(|r| to_json(&r))
    }

    fn resolve(&mut self, _env: Env, output: Self::Output) -> napi::Result<Self::JsValue> {
        Ok(output)
    }
}

/// Reads a prepared dataset back: documents, tokens, chunks, dtype, ids seen and decoded samples.
#[napi(catch_unwind)]
pub fn inspect(dir: String, tokenizer_path: Option<String>, samples: Option<u32>) -> AsyncTask<InspectTask> {
    AsyncTask::new(InspectTask {
        dir: PathBuf::from(dir),
        tokenizer_path: tokenizer_path.map(PathBuf::from),
        samples: samples.unwrap_or(3) as usize,
    })
}
