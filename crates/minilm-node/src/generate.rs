//! Generation (minilm_core::generate): its options, a generator that yields one token per call on
//! libuv's pool, so the event loop keeps running, and a decode batch that steps many generations at once.

use std::sync::{Arc, Mutex};

use minilm_core::generate::{Chosen, DecodeBatch, Generator, SamplingOptions, Sequence};
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
    /// Each token's log-probability and the this many most likely alternatives' (0 to 20); null: none.
    pub top_logprobs: Option<u32>,
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
            top_logprobs: o.top_logprobs.map(|k| k as usize),
            ..minilm_core::generate::GenerateOptions::default()
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
        top_logprobs: d.top_logprobs.map(|k| k as u32),
    }
}

native_task!(NextTokenTask -> Option<u32>);
native_task!(DecodeStepTask -> Vec<StepToken>);

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

/// One sequence's token from a decode step.
#[napi(object)]
pub struct StepToken {
    pub sequence: u32,
    pub token: u32,
    /// The last token of its sequence (EOS or max_new_tokens): the sequence has left the batch.
    pub finished: bool,
    /// With topLogprobs: the token's log-probability, and the most likely tokens' ids and log-probabilities.
    pub logprob: Option<f64>,
    pub top_ids: Option<Vec<u32>>,
    pub top_logprobs: Option<Vec<f64>>,
}

impl StepToken {
    fn new(sequence: u64, chosen: Chosen, finished: bool) -> Self {
        let (logprob, top_ids, top_logprobs) = match chosen.logprobs {
            Some(lp) => (
                Some(lp.logprob as f64),
                Some(lp.top.iter().map(|(id, _)| *id).collect()),
                Some(lp.top.iter().map(|(_, l)| *l as f64).collect()),
            ),
            None => (None, None, None),
        };
        StepToken { sequence: sequence as u32, token: chosen.token, finished, logprob, top_ids, top_logprobs }
    }
}

/// Continuous batching (minilm_core::generate::DecodeBatch): `join` and `remove` only queue their
/// change, so they never wait for a step running on the pool; the next `step` applies them.
#[napi]
pub struct NativeDecodeBatch {
    /// The model, for checking a joining sequence without waiting for the batch's lock.
    model: Arc<Llama>,
    batch: Arc<Mutex<DecodeBatch>>,
    changes: Arc<Mutex<Changes>>,
}

#[derive(Default)]
struct Changes {
    joined: Vec<(Vec<u64>, Sequence)>,
    removed: Vec<u64>,
    next_id: u64,
}

impl NativeDecodeBatch {
    pub(crate) fn new(model: Arc<Llama>) -> Self {
        NativeDecodeBatch { model: model.clone(), batch: Arc::new(Mutex::new(DecodeBatch::new(model))), changes: Arc::default() }
    }
}

#[napi]
impl NativeDecodeBatch {
    /// Adds `choices` generations of one prompt (sharing its prefill); they start at the next step.
    /// Returns their sequence ids. The prompt and settings are checked here.
    #[napi(catch_unwind)]
    pub fn join(&self, prompt: Vec<u32>, options: GenerateOptions, choices: u32) -> napi::Result<Vec<u32>> {
        let options = options.try_into()?;
        let sequence = guarded(|| Sequence::new(&self.model, prompt, options))?;
        let mut changes = self.changes.lock().unwrap_or_else(|p| p.into_inner());
        // Ids fit JavaScript's u32 and wrap after four billion sequences, long after the first ones left.
        let ids: Vec<u64> = (0..choices.max(1) as u64).map(|i| (changes.next_id + i) % (1 << 32)).collect();
        changes.next_id = (changes.next_id + ids.len() as u64) % (1 << 32);
        changes.joined.push((ids.clone(), sequence));
        Ok(ids.into_iter().map(|id| id as u32).collect())
    }

    /// Drops a sequence (its client left): now, freeing its cache, unless a step is running; then
    /// before the next one.
    #[napi]
    pub fn remove(&self, sequence: u32) {
        let id = sequence as u64;
        let mut changes = self.changes.lock().unwrap_or_else(|p| p.into_inner());
        let waiting_to_join = changes.joined.iter().any(|(ids, _)| ids.contains(&id));
        match self.batch.try_lock() {
            Ok(mut batch) if !waiting_to_join => batch.remove(id),
            // The next step joins it, then drops it (its group's other choices keep their seeds).
            _ => changes.removed.push(id),
        }
    }

    /// One token for every sequence in the batch (see DecodeBatch::step).
    #[napi(catch_unwind)]
    pub fn step(&self) -> AsyncTask<DecodeStepTask> {
        let (batch, changes) = (self.batch.clone(), self.changes.clone());
        DecodeStepTask::run(move || {
            let mut batch = batch.lock().unwrap_or_else(|p| p.into_inner());
            let (joined, removed) = {
                let mut changes = changes.lock().unwrap_or_else(|p| p.into_inner());
                (std::mem::take(&mut changes.joined), std::mem::take(&mut changes.removed))
            };
            for (ids, sequence) in joined {
                batch.join(&ids, sequence);
            }
            for id in removed {
                batch.remove(id);
            }
            let tokens = guarded(|| batch.step())?;
            Ok(tokens.into_iter().map(|t| StepToken::new(t.sequence, t.chosen, t.finished)).collect())
        })
    }
}
