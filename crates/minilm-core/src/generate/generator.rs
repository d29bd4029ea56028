//! A generation in progress: the prompt goes through the model once, then each new token costs one
//! position, its keys and values appended to the cache. Without the cache (for comparison) every
//! token runs the whole sequence again.

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
}

/// litgpt's max_new_tokens default and minilm's seed: the same seed and prompt give the same text.
impl Default for GenerateOptions {
    fn default() -> Self {
        GenerateOptions { max_new_tokens: 50, sampling: SamplingOptions::default(), seed: 1234, eos_id: None, kv_cache: true }
    }
}

pub struct Generator {
    model: Arc<Llama>,
    options: GenerateOptions,
    rng: SplitMix64,
    cache: KvCache,
    /// Every id so far, prompt included.
    ids: Vec<u32>,
    /// Ids not yet run through the model (the prompt, then each sampled token).
    pending: usize,
    generated: usize,
    finished: bool,
}

impl Generator {
    pub fn new(model: Arc<Llama>, prompt: Vec<u32>, options: GenerateOptions) -> Result<Self> {
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
        let pending = prompt.len();
        Ok(Generator { model, options, rng, cache: KvCache::default(), ids: prompt, pending, generated: 0, finished: false })
    }

    /// The next token, or None once max_new_tokens were generated or EOS came.
    pub fn next_token(&mut self) -> Result<Option<u32>> {
        if self.finished || self.generated >= self.options.max_new_tokens {
            self.finished = true;
            return Ok(None);
        }
        let logits = if self.options.kv_cache {
            let new = &self.ids[self.ids.len() - self.pending..];
            let input = Tensor::new(new, &candle_core::Device::Cpu)?.to_device(self.device())?.unsqueeze(0)?;
            let logits = self.model.forward_cached(&input, &mut self.cache)?;
            logits.get(logits.dim(0)? - 1)?
        } else {
            let input = Tensor::new(self.ids.as_slice(), &candle_core::Device::Cpu)?.to_device(self.device())?.unsqueeze(0)?;
            self.model.forward(&input)?.squeeze(0)?.get(self.ids.len() - 1)?
        };
        let mut logits: Vec<f32> = logits.to_dtype(candle_core::DType::F32)?.to_vec1()?;
        // Padded vocabulary entries beyond the tokenizer are never sampled.
        logits.truncate(self.model.config.vocab_size);
        let token = sample(&mut logits, &self.ids, self.ids.len() - self.generated, &self.options.sampling, &mut self.rng);
        self.ids.push(token);
        self.pending = 1;
        self.generated += 1;
        if Some(token) == self.options.eos_id {
            self.finished = true;
        }
        Ok(Some(token))
    }

    /// Every id so far, prompt included.
    pub fn ids(&self) -> &[u32] {
        &self.ids
    }

    fn device(&self) -> &candle_core::Device {
        self.model.params.get("transformer.wte.weight").device()
    }
}
