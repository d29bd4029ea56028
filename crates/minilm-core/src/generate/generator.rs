//! A generation in progress: the prompt goes through the model (the prefill, in passes of at most
//! `prefill_chunk` positions), then each new token costs one position, its keys and values appended to
//! the cache. Without the cache (for comparison) every token runs the whole sequence again. A `Sequence` is one generation's state; a `Generator`
//! runs one alone, a `DecodeBatch` (batch.rs) runs many together with the same arithmetic.

use std::sync::Arc;

use candle_core::Tensor;
use serde::{Deserialize, Serialize};

use super::sampling::{sample, SamplingOptions};
use crate::error::{Error, Result};
use crate::model::{KvCache, Llama};
use crate::util::SplitMix64;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct GenerateOptions {
    pub max_new_tokens: usize,
    #[serde(flatten)]
    pub sampling: SamplingOptions,
    pub seed: u64,
    /// Generation stops after this token (the tokenizer's EOS).
    pub eos_id: Option<u32>,
    pub kv_cache: bool,
    /// With Some(k), each token comes with its log-probability and the k most likely alternatives'
    /// (OpenAI's logprobs / top_logprobs), under the model's own distribution: before temperature,
    /// top-k, top-p and penalties, as vLLM reports them.
    #[serde(default)]
    pub top_logprobs: Option<usize>,
    /// The most prompt positions one prefill pass takes. In a batch, a long prompt then joins over
    /// several steps, each a pass of this size, and the sequences already decoding get a token at
    /// every one of them instead of waiting for the whole prompt. A sequence's passes are the same
    /// alone or in a batch, so its tokens are too.
    #[serde(default = "default_prefill_chunk")]
    pub prefill_chunk: usize,
}

fn default_prefill_chunk() -> usize {
    64
}

/// litgpt's max_new_tokens default and minilm's seed: the same seed and prompt give the same text.
impl Default for GenerateOptions {
    fn default() -> Self {
        GenerateOptions {
            max_new_tokens: 50,
            sampling: SamplingOptions::default(),
            seed: 1234,
            eos_id: None,
            kv_cache: true,
            top_logprobs: None,
            prefill_chunk: default_prefill_chunk(),
        }
    }
}

/// A token chosen, with its log-probabilities when they were asked for.
#[derive(Clone, Debug, PartialEq)]
pub struct Chosen {
    pub token: u32,
    pub logprobs: Option<TokenLogprobs>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct TokenLogprobs {
    pub logprob: f32,
    /// The most likely tokens and their log-probabilities, most likely first.
    pub top: Vec<(u32, f32)>,
}

/// One generation's state: its ids, cache, sampling settings and random stream.
pub struct Sequence {
    options: GenerateOptions,
    rng: SplitMix64,
    pub(crate) cache: KvCache,
    /// Every id so far, prompt included.
    ids: Vec<u32>,
    prompt_len: usize,
    finished: bool,
}

impl Sequence {
    /// Checks the prompt against the model: not empty, in the vocabulary, and room for max_new_tokens.
    pub fn new(model: &Llama, prompt: Vec<u32>, options: GenerateOptions) -> Result<Self> {
        let block = model.config.block_size;
        if prompt.is_empty() {
            return Err(Error::usage("the prompt is empty (no tokens); give at least one token"));
        }
        if prompt.len() + options.max_new_tokens > block {
            return Err(Error::usage(format!(
                "the prompt ({} tokens) plus max_new_tokens ({}) is {}, more than the model's block_size of {block}; shorten the prompt or lower max_new_tokens",
                prompt.len(), options.max_new_tokens, prompt.len() + options.max_new_tokens
            )));
        }
        if let Some(bad) = prompt.iter().find(|&&id| id as usize >= model.config.padded_vocab_size) {
            return Err(Error::usage(format!(
                "prompt token {bad} is outside the model's vocabulary of {}",
                model.config.padded_vocab_size
            )));
        }
        let rng = SplitMix64::new(options.seed);
        Ok(Sequence { options, rng, cache: KvCache::default(), prompt_len: prompt.len(), ids: prompt, finished: false })
    }

    /// The same prompt and settings with another seed, before its prefill: one of `n` choices that
    /// will share the first one's (DecodeBatch copies its cache).
    pub(crate) fn sibling(&self, seed: u64) -> Self {
        Sequence {
            options: GenerateOptions { seed, ..self.options.clone() },
            rng: SplitMix64::new(seed),
            cache: KvCache::default(),
            ids: self.ids[..self.prompt_len].to_vec(),
            prompt_len: self.prompt_len,
            finished: false,
        }
    }

    pub fn seed(&self) -> u64 {
        self.options.seed
    }

    /// After EOS or max_new_tokens.
    pub fn is_done(&self) -> bool {
        self.finished || self.generated() >= self.options.max_new_tokens
    }

    /// Every id so far, prompt included.
    pub fn ids(&self) -> &[u32] {
        &self.ids
    }

    fn generated(&self) -> usize {
        self.ids.len() - self.prompt_len
    }

    /// The prompt's next prefill pass into the cache; after the last, the first token's logits.
    pub(crate) fn prefill_pass(&mut self, model: &Llama) -> Result<Option<Tensor>> {
        let done = self.cache.len();
        let end = self.prompt_len.min(done + self.options.prefill_chunk.max(1));
        let input = Tensor::new(&self.ids[done..end], &candle_core::Device::Cpu)?.to_device(model.device())?.unsqueeze(0)?;
        let logits = model.forward_cached(&input, &mut self.cache)?;
        Ok((end == self.prompt_len).then(|| logits.get(logits.dim(0)? - 1)).transpose()?)
    }

    /// The whole prompt's prefill: the first token's logits.
    pub(crate) fn prefill(&mut self, model: &Llama) -> Result<Tensor> {
        loop {
            if let Some(logits) = self.prefill_pass(model)? {
                return Ok(logits);
            }
        }
    }

    /// The newest id, the next decode step's input.
    pub(crate) fn last(&self) -> u32 {
        *self.ids.last().expect("a sequence has at least its prompt")
    }

    /// Samples the next token from `logits` (V) and appends it.
    pub(crate) fn choose(&mut self, model: &Llama, logits: &Tensor) -> Result<Chosen> {
        let mut logits: Vec<f32> = logits.to_dtype(candle_core::DType::F32)?.to_vec1()?;
        // Padded vocabulary entries beyond the tokenizer are never sampled.
        logits.truncate(model.config.vocab_size);
        let log_probabilities = self.options.top_logprobs.map(|_| log_softmax(&logits));
        let token = sample(&mut logits, &self.ids, self.prompt_len, &self.options.sampling, &mut self.rng);
        self.ids.push(token);
        if Some(token) == self.options.eos_id {
            self.finished = true;
        }
        let logprobs = log_probabilities
            .map(|lp| TokenLogprobs { logprob: lp[token as usize], top: most_likely(&lp, self.options.top_logprobs.unwrap_or(0)) });
        Ok(Chosen { token, logprobs })
    }
}

fn log_softmax(logits: &[f32]) -> Vec<f32> {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let total: f64 = logits.iter().map(|&l| ((l - max) as f64).exp()).sum();
    let log_total = total.ln() as f32 + max;
    logits.iter().map(|&l| l - log_total).collect()
}

/// The k largest, largest first; ties keep the lower id first.
fn most_likely(log_probabilities: &[f32], k: usize) -> Vec<(u32, f32)> {
    let mut order: Vec<u32> = (0..log_probabilities.len() as u32).collect();
    let by_value = |a: &u32, b: &u32| log_probabilities[*b as usize].total_cmp(&log_probabilities[*a as usize]).then(a.cmp(b));
    let k = k.min(order.len());
    if k > 0 && k < order.len() {
        order.select_nth_unstable_by(k - 1, by_value);
    }
    order.truncate(k);
    order.sort_by(by_value);
    order.into_iter().map(|id| (id, log_probabilities[id as usize])).collect()
}

/// One generation alone.
pub struct Generator {
    model: Arc<Llama>,
    sequence: Sequence,
    kv_cache: bool,
}

impl Generator {
    pub fn new(model: Arc<Llama>, prompt: Vec<u32>, options: GenerateOptions) -> Result<Self> {
        let kv_cache = options.kv_cache;
        let sequence = Sequence::new(&model, prompt, options)?;
        Ok(Generator { model, sequence, kv_cache })
    }

    /// The next token, or None once max_new_tokens were generated or EOS came.
    pub fn next_token(&mut self) -> Result<Option<u32>> {
        Ok(self.next_chosen()?.map(|chosen| chosen.token))
    }

    /// The next token with its log-probabilities (when asked for), or None at the end.
    pub fn next_chosen(&mut self) -> Result<Option<Chosen>> {
        if self.sequence.is_done() {
            return Ok(None);
        }
        let model = &self.model;
        let logits = if !self.kv_cache {
            let ids = self.sequence.ids();
            let input = Tensor::new(ids, &candle_core::Device::Cpu)?.to_device(model.device())?.unsqueeze(0)?;
            model.forward(&input)?.squeeze(0)?.get(ids.len() - 1)?
        } else if self.sequence.cache.is_empty() {
            self.sequence.prefill(model)?
        } else {
            // The same step a DecodeBatch takes, so a sequence decodes alone exactly as in a batch.
            let last = self.sequence.last();
            model.decode_step(&[last], &mut [&mut self.sequence.cache])?.get(0)?
        };
        Ok(Some(self.sequence.choose(model, &logits)?))
    }

    /// Every id so far, prompt included.
    pub fn ids(&self) -> &[u32] {
        self.sequence.ids()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_softmax_and_the_top_tokens() {
        let lp = log_softmax(&[0.0, (2f32).ln(), 0.0, -1.0]);
        let total: f32 = lp.iter().map(|l| l.exp()).sum();
        assert!((total - 1.0).abs() < 1e-6);
        assert!((lp[1] - lp[0] - (2f32).ln()).abs() < 1e-6);
        assert_eq!(most_likely(&lp, 3).iter().map(|(id, _)| *id).collect::<Vec<_>>(), vec![1, 0, 2]);
        assert!(most_likely(&lp, 0).is_empty());
    }
}
