//! Generation (minilm_core::generate): its options, and a generator that yields one token per call on
//! libuv's pool, so the event loop keeps running.

use std::sync::{Arc, Mutex};

use minilm_core::generate::{Generator, SamplingOptions};
use minilm_core::model::Llama;
use napi::bindgen_prelude::AsyncTask;
use napi_derive::napi;

use crate::error::{count, guarded, to_napi};
use crate::task::native_task;

/// Sampling settings. `generateDefaults()` gives litgpt's generate defaults, which the CLI, the
/// library and the exported generation_config.json all use.
#[napi(object)]
pub struct GenerateOptions {
    pub max_new_tokens: u32,
    /// 0 picks the most likely token (greedy).
    pub temperature: f64,
    /// Sample among the k most likely tokens; null keeps every token.
    pub top_k: Option<u32>,
    /// Keep the smallest set of tokens whose probabilities sum to at least top_p (1 keeps all).
    pub top_p: f64,
    /// > 1 makes tokens already in the text less likely; 1 is off.
    pub repetition_penalty: f64,
    /// Never repeat an n-gram of this many tokens already in the text; 0 is off.
    pub no_repeat_ngram_size: u32,
    /// OpenAI's penalties over the generated tokens (per occurrence, and once present); 0 is off.
    pub frequency_penalty: f64,
    pub presence_penalty: f64,
    /// The same seed and prompt give the same text.
    pub seed: i64,
    /// Generation stops after this token (the tokenizer's EOS).
    pub eos_id: Option<u32>,
    /// Reuse past keys and values; false recomputes the whole prefix per token (for benchmarks).
    pub kv_cache: bool,
}

impl TryFrom<GenerateOptions> for minilm_core::generate::GenerateOptions {
    type Error = napi::Error;

    fn try_from(o: GenerateOptions) -> napi::Result<Self> {
        Ok(minilm_core::generate::GenerateOptions {
            max_new_tokens: o.max_new_tokens as usize,
            sampling: SamplingOptions {
                temperature: o.temperature,
                top_k: o.top_k.map(|k| k as usize),
                top_p: o.top_p,
                repetition_penalty: o.repetition_penalty,
                no_repeat_ngram_size: o.no_repeat_ngram_size as usize,
                frequency_penalty: o.frequency_penalty,
                presence_penalty: o.presence_penalty,
            },
            seed: count("seed", o.seed)?,
            eos_id: o.eos_id,
            kv_cache: o.kv_cache,
        })
    }
}

/// The defaults of every option (eos_id: none).
#[napi]
pub fn generate_defaults() -> GenerateOptions {
    let d = minilm_core::generate::GenerateOptions::default();
    GenerateOptions {
        max_new_tokens: d.max_new_tokens as u32,
        temperature: d.sampling.temperature,
        top_k: d.sampling.top_k.map(|k| k as u32),
        top_p: d.sampling.top_p,
        repetition_penalty: d.sampling.repetition_penalty,
        no_repeat_ngram_size: d.sampling.no_repeat_ngram_size as u32,
        frequency_penalty: d.sampling.frequency_penalty,
        presence_penalty: d.sampling.presence_penalty,
        seed: d.seed as i64,
        eos_id: d.eos_id,
        kv_cache: d.kv_cache,
    }
}

native_task!(NextTokenTask -> Option<u32>);

#[napi]
pub struct NativeGenerator {
    inner: Arc<Mutex<Generator>>,
}

impl NativeGenerator {
    pub(crate) fn new(model: Arc<Llama>, prompt: Vec<u32>, options: minilm_core::generate::GenerateOptions) -> napi::Result<Self> {
        let generator = Generator::new(model, prompt, options).map_err(to_napi)?;
        Ok(NativeGenerator { inner: Arc::new(Mutex::new(generator)) })
    }
}

#[napi]
impl NativeGenerator {
    /// Resolves to the next token id, or null when the generation is over.
    #[napi(catch_unwind)]
    pub fn next(&self) -> AsyncTask<NextTokenTask> {
        let inner = self.inner.clone();
        NextTokenTask::run(move || {
            let mut generator = inner.lock().unwrap_or_else(|p| p.into_inner());
            guarded(|| generator.next_token())
        })
    }
}
