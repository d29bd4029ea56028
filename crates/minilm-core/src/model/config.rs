//! The model's shape, with litgpt's names. The TypeScript layer resolves litgpt's YAML (defaults,
//! padded vocabulary, head size) and hands over this already-resolved form.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelConfig {
    #[serde(default)]
    pub name: String,
    pub block_size: usize,
    pub vocab_size: usize,
    /// The embedding and lm_head rows; the tokenizer uses only the first `vocab_size`.
    pub padded_vocab_size: usize,
    pub n_layer: usize,
    pub n_head: usize,
    pub n_embd: usize,
    pub head_size: usize,
    pub n_query_groups: usize,
    pub rotary_percentage: f64,
    pub rope_base: f64,
    pub norm_eps: f64,
    pub intermediate_size: usize,
    /// lm_head.weight is transformer.wte.weight.
    pub tie_embeddings: bool,
}

/// How litgpt initialises a parameter when training from scratch.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Init {
    Normal { std: f64 },
    Ones,
}

/// One named parameter: litgpt's tensor name, its shape and its initialisation.
#[derive(Clone, Debug, PartialEq)]
pub struct ParameterSpec {
    pub name: String,
    pub shape: Vec<usize>,
    pub init: Init,
}

impl ModelConfig {
    /// Dimensions of each head that RoPE rotates (litgpt: int(rotary_percentage * head_size)).
    pub fn rope_n_elem(&self) -> usize {
        (self.rotary_percentage * self.head_size as f64) as usize
    }

    /// Rows of the fused qkv weight: all query heads, then all key groups, then all value groups.
    pub fn qkv_rows(&self) -> usize {
        (self.n_head + 2 * self.n_query_groups) * self.head_size
    }

    pub fn validate(&self) -> Result<()> {
        let bad = |what: String| Err(Error::usage(format!("model config: {what}")));
        let positive = [
            ("block_size", self.block_size),
            ("vocab_size", self.vocab_size),
            ("n_layer", self.n_layer),
            ("n_head", self.n_head),
            ("n_embd", self.n_embd),
            ("head_size", self.head_size),
            ("n_query_groups", self.n_query_groups),
            ("intermediate_size", self.intermediate_size),
        ];
        if let Some((key, _)) = positive.iter().find(|(_, v)| *v == 0) {
            return bad(format!("{key} must be at least 1"));
        }
        if self.padded_vocab_size < self.vocab_size {
            return bad(format!("padded_vocab_size {} is smaller than vocab_size {}", self.padded_vocab_size, self.vocab_size));
        }
        if !self.n_head.is_multiple_of(self.n_query_groups) {
            return bad(format!("n_head {} is not a multiple of n_query_groups {}", self.n_head, self.n_query_groups));
        }
        let n = self.rope_n_elem();
        if n < 2 || !n.is_multiple_of(2) || n > self.head_size {
            return bad(format!("rotary_percentage * head_size = {n} must be even, at least 2 and at most head_size {}", self.head_size));
        }
        // Written so that NaN is refused too.
        let positive = |x: f64| x > 0.0;
        if !positive(self.norm_eps) || !positive(self.rope_base) {
            return bad("norm_eps and rope_base must be positive".into());
        }
        Ok(())
    }

    /// Every parameter in litgpt's state-dict order. With tied embeddings lm_head is not listed:
    /// it is transformer.wte.weight.
    pub fn parameter_specs(&self) -> Vec<ParameterSpec> {
        let c = self.n_embd;
        let std = (2.0 / (5.0 * c as f64)).sqrt();
        // litgpt scales the residual projections down with depth.
        let proj_std = 1.0 / (c as f64).sqrt() / self.n_layer as f64;
        let spec = |name: String, shape: Vec<usize>, init: Init| ParameterSpec { name, shape, init };
        let mut specs = vec![spec("transformer.wte.weight".into(), vec![self.padded_vocab_size, c], Init::Normal { std })];
        for i in 0..self.n_layer {
            let p = format!("transformer.h.{i}");
            let attn_width = self.n_head * self.head_size;
            specs.push(spec(format!("{p}.norm_1.weight"), vec![c], Init::Ones));
            specs.push(spec(format!("{p}.attn.qkv.weight"), vec![self.qkv_rows(), c], Init::Normal { std }));
            specs.push(spec(format!("{p}.attn.proj.weight"), vec![c, attn_width], Init::Normal { std: proj_std }));
            specs.push(spec(format!("{p}.norm_2.weight"), vec![c], Init::Ones));
            specs.push(spec(format!("{p}.mlp.fc_1.weight"), vec![self.intermediate_size, c], Init::Normal { std }));
            specs.push(spec(format!("{p}.mlp.fc_2.weight"), vec![self.intermediate_size, c], Init::Normal { std }));
            specs.push(spec(format!("{p}.mlp.proj.weight"), vec![c, self.intermediate_size], Init::Normal { std: proj_std }));
        }
        specs.push(spec("transformer.ln_f.weight".into(), vec![c], Init::Ones));
        if !self.tie_embeddings {
            specs.push(spec("lm_head.weight".into(), vec![self.padded_vocab_size, c], Init::Normal { std }));
        }
        specs
    }

    /// Trainable parameters, counting a tied embedding once (litgpt's count).
    pub fn num_parameters(&self) -> usize {
        self.parameter_specs().iter().map(|s| s.shape.iter().product::<usize>()).sum()
    }

    /// Parameters that take part in matrix multiplications, for FLOP estimates: everything but the
    /// norms, with the embedding counted once as the lm_head matmul (tied or not).
    pub fn num_matmul_parameters(&self) -> usize {
        let per_layer =
            self.qkv_rows() * self.n_embd + self.n_embd * self.n_head * self.head_size + 3 * self.intermediate_size * self.n_embd;
        self.n_layer * per_layer + self.padded_vocab_size * self.n_embd
    }

    /// Training FLOPs per token (nanoGPT / PaLM convention): 6 N + 12 L D T, with the attention
    /// width H * D standing in for n_embd.
    pub fn training_flops_per_token(&self, seq_len: usize) -> f64 {
        6.0 * self.num_matmul_parameters() as f64 + 12.0 * (self.n_layer * self.n_head * self.head_size * seq_len) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub fn reference_108m(tie: bool) -> ModelConfig {
        ModelConfig {
            name: "MiniLM".into(),
            block_size: 512,
            vocab_size: 6400,
            padded_vocab_size: 6400,
            n_layer: 16,
            n_head: 16,
            n_embd: 768,
            head_size: 48,
            n_query_groups: 8,
            rotary_percentage: 1.0,
            rope_base: 10000.0,
            norm_eps: 1e-5,
            intermediate_size: 2048,
            tie_embeddings: tie,
        }
    }

    #[test]
    fn reference_config_has_litgpts_parameter_count() {
        assert_eq!(reference_108m(true).num_parameters(), 108_749_568);
        assert_eq!(reference_108m(false).num_parameters(), 113_664_768);
    }

    #[test]
    fn flops_per_token_match_the_performance_notes() {
        // 727.8 MFLOP per token for the reference model at T = 512.
        let flops = reference_108m(true).training_flops_per_token(512);
        assert!((flops / 1e6 - 727.8).abs() < 0.1, "{flops}");
    }
}
