//! litgpt's GPT for the LLaMA family: pre-norm blocks of grouped-query attention with RoPE and a
//! SwiGLU MLP (LLaMAMLP), a final RMSNorm and the lm_head (or the tied embedding).

use candle_core::{Device, Result as CandleResult, Tensor, D};

use super::config::ModelConfig;
use super::layers::{causal_mask, linear, rms_norm, softmax_last_dim, RopeCache};
use super::parameters::Parameters;
use crate::error::Result;

pub struct Llama {
    pub config: ModelConfig,
    pub params: Parameters,
    rope: RopeCache,
}

impl Llama {
    pub fn new(config: ModelConfig, params: Parameters, device: &Device) -> Result<Self> {
        config.validate()?;
        let rope = RopeCache::new(config.rope_n_elem(), config.rope_base, config.block_size, device)?;
        Ok(Llama { config, params, rope })
    }

    pub fn init(config: ModelConfig, seed: u64, device: &Device) -> Result<Self> {
        config.validate()?;
        let params = Parameters::init(&config, seed, device)?;
        Self::new(config, params, device)
    }

    /// Logits (B, T, V) for token ids (B, T).
    pub fn forward(&self, ids: &Tensor) -> CandleResult<Tensor> {
        let (b, t) = ids.dims2()?;
        let c = &self.config;
        let mask = causal_mask(c.queries_per_group(), t, ids.device())?;
        let mut x = self.params.get("transformer.wte.weight").embedding(&ids.flatten_all()?)?.reshape((b, t, c.n_embd))?;
        for layer in 0..c.n_layer {
            x = self.block(&x, layer, &mask)?;
        }
        let x = rms_norm(&x, self.params.get("transformer.ln_f.weight"), c.norm_eps)?;
        linear(&x, self.lm_head())
    }

    /// Mean cross-entropy of the next token: `windows` (B, T + 1) as litgpt's data loader gives them.
    pub fn loss(&self, windows: &Tensor) -> CandleResult<Tensor> {
        let (b, t1) = windows.dims2()?;
        let t = t1 - 1;
        let logits = self.forward(&windows.narrow(1, 0, t)?)?;
        let targets = windows.narrow(1, 1, t)?.flatten_all()?;
        candle_nn::loss::cross_entropy(&logits.reshape((b * t, self.config.padded_vocab_size))?, &targets)
    }

    fn lm_head(&self) -> &Tensor {
        let name = if self.config.tie_embeddings { "transformer.wte.weight" } else { "lm_head.weight" };
        self.params.get(name)
    }

    fn block(&self, x: &Tensor, layer: usize, mask: &Tensor) -> CandleResult<Tensor> {
        let p = |name: &str| self.params.get(&format!("transformer.h.{layer}.{name}"));
        let eps = self.config.norm_eps;
        let x = (x + self.attention(&rms_norm(x, p("norm_1.weight"), eps)?, layer, mask)?)?;
        let h = rms_norm(&x, p("norm_2.weight"), eps)?;
        let gated = linear(&h, p("mlp.fc_1.weight"))?.silu()?.mul(&linear(&h, p("mlp.fc_2.weight"))?)?;
        x + linear(&gated, p("mlp.proj.weight"))?
    }

    /// Causal grouped-query attention. The Q query heads of a group are stacked along the rows so that
    /// each group's keys and values are used as they are, never copied per head.
    fn attention(&self, x: &Tensor, layer: usize, mask: &Tensor) -> CandleResult<Tensor> {
        let c = &self.config;
        let (b, t, _) = x.dims3()?;
        let (h, g, d, q) = (c.n_head, c.n_query_groups, c.head_size, c.queries_per_group());
        let qkv = linear(x, self.params.get(&format!("transformer.h.{layer}.attn.qkv.weight")))?; // (B, T, (H + 2G) D)
        let heads = |start: usize, count: usize| -> CandleResult<Tensor> {
            qkv.narrow(2, start * d, count * d)?.reshape((b, t, count, d))?.transpose(1, 2) // (B, count, T, D)
        };
        let queries = self.rope.apply(&heads(0, h)?.contiguous()?, 0)?;
        let keys = self.rope.apply(&heads(h, g)?.contiguous()?, 0)?;
        let values = heads(h + g, g)?.contiguous()?;
        let queries = queries.reshape((b, g, q * t, d))?; // (B, G, Q T, D)
        let scores = (queries.matmul(&keys.transpose(2, 3)?)? * (1.0 / (d as f64).sqrt()))?; // (B, G, Q T, T)
        let weights = softmax_last_dim(&scores.broadcast_add(mask)?)?;
        let y = weights.matmul(&values)?; // (B, G, Q T, D)
        let y = y.reshape((b, h, t, d))?.transpose(1, 2)?.reshape((b, t, h * d))?;
        linear(&y, self.params.get(&format!("transformer.h.{layer}.attn.proj.weight")))
    }
}

/// Log-probabilities over the vocabulary, for sampling and evaluation.
pub fn log_probs(logits: &Tensor) -> CandleResult<Tensor> {
    candle_nn::ops::log_softmax(logits, D::Minus1)
}
