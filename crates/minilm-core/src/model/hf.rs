//! Weights under Hugging Face LlamaForCausalLM's names, written (`export`) and read (`load`), as
//! litgpt's convert_lit_checkpoint maps them: the fused qkv split into q_proj / k_proj / v_proj, fc_1 -> gate_proj, fc_2 -> up_proj,
//! proj -> down_proj. Both use the half-split RoPE, so no weight is permuted.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{Device, Tensor};

use super::config::ModelConfig;
use super::parameters::Parameters;
use crate::error::{Error, Result};

/// Why this model cannot be a LlamaForCausalLM, if it cannot.
pub fn hf_incompatibility(config: &ModelConfig) -> Option<String> {
    (config.rope_n_elem() != config.head_size).then(|| {
        format!(
            "rotary_percentage is {}: Hugging Face's Llama rotates whole heads, so only rotary_percentage 1.0 exports",
            config.rotary_percentage
        )
    })
}

pub fn hf_tensors(config: &ModelConfig, params: &Parameters) -> Result<HashMap<String, Tensor>> {
    if let Some(reason) = hf_incompatibility(config) {
        return Err(Error::usage(reason));
    }
    let get = |name: &str| params.get(name).clone();
    let mut out = HashMap::new();
    out.insert("model.embed_tokens.weight".to_string(), get("transformer.wte.weight"));
    out.insert("model.norm.weight".to_string(), get("transformer.ln_f.weight"));
    if !config.tie_embeddings {
        out.insert("lm_head.weight".to_string(), get("lm_head.weight"));
    }
    let (h, g, d) = (config.n_head, config.n_query_groups, config.head_size);
    for layer in 0..config.n_layer {
        let ours = |name: &str| get(&format!("transformer.h.{layer}.{name}"));
        let theirs = |name: &str| format!("model.layers.{layer}.{name}");
        let qkv = ours("attn.qkv.weight"); // rows [Q | K | V]
        out.insert(theirs("self_attn.q_proj.weight"), qkv.narrow(0, 0, h * d)?.contiguous()?);
        out.insert(theirs("self_attn.k_proj.weight"), qkv.narrow(0, h * d, g * d)?.contiguous()?);
        out.insert(theirs("self_attn.v_proj.weight"), qkv.narrow(0, (h + g) * d, g * d)?.contiguous()?);
        out.insert(theirs("self_attn.o_proj.weight"), ours("attn.proj.weight"));
        out.insert(theirs("input_layernorm.weight"), ours("norm_1.weight"));
        out.insert(theirs("post_attention_layernorm.weight"), ours("norm_2.weight"));
        out.insert(theirs("mlp.gate_proj.weight"), ours("mlp.fc_1.weight"));
        out.insert(theirs("mlp.up_proj.weight"), ours("mlp.fc_2.weight"));
        out.insert(theirs("mlp.down_proj.weight"), ours("mlp.proj.weight"));
    }
    Ok(out)
}

/// The inverse of hf_tensors: litgpt's names from a Hugging Face Llama's weights (q/k/v fused back).
pub fn from_hf_tensors(config: &ModelConfig, mut hf: HashMap<String, Tensor>, source: &Path) -> Result<HashMap<String, Tensor>> {
    let mut take = |name: &str| {
        hf.remove(name)
            .ok_or_else(|| Error::input(source, None, format!("has no tensor {name}; expected a Hugging Face LlamaForCausalLM's weights")))
    };
    let mut out = HashMap::new();
    out.insert("transformer.wte.weight".to_string(), take("model.embed_tokens.weight")?);
    out.insert("transformer.ln_f.weight".to_string(), take("model.norm.weight")?);
    if !config.tie_embeddings {
        out.insert("lm_head.weight".to_string(), take("lm_head.weight")?);
    }
    for layer in 0..config.n_layer {
        let theirs = |name: &str| format!("model.layers.{layer}.{name}");
        let ours = |name: &str| format!("transformer.h.{layer}.{name}");
        let (q, k, v) = (
            take(&theirs("self_attn.q_proj.weight"))?,
            take(&theirs("self_attn.k_proj.weight"))?,
            take(&theirs("self_attn.v_proj.weight"))?,
        );
        out.insert(ours("attn.qkv.weight"), Tensor::cat(&[q, k, v], 0)?);
        for (hf_name, name) in [
            ("self_attn.o_proj.weight", "attn.proj.weight"),
            ("input_layernorm.weight", "norm_1.weight"),
            ("post_attention_layernorm.weight", "norm_2.weight"),
            ("mlp.gate_proj.weight", "mlp.fc_1.weight"),
            ("mlp.up_proj.weight", "mlp.fc_2.weight"),
            ("mlp.down_proj.weight", "mlp.proj.weight"),
        ] {
            out.insert(ours(name), take(&theirs(hf_name))?);
        }
    }
    Ok(out)
}

/// Writes a checkpoint's weights as a Hugging Face model.safetensors.
pub fn export_hf_weights(config: &ModelConfig, params: &Parameters, path: &Path) -> Result<()> {
    let tensors = hf_tensors(config, params)?;
    candle_core::safetensors::save(&tensors, path).map_err(|e| Error::input(path, None, format!("cannot write the weights: {e}")))
}

/// A Hugging Face Llama's model.safetensors (as `minilm export` writes it) as minilm's parameters.
pub fn load_hf_weights(config: &ModelConfig, path: &Path, device: &Device) -> Result<Parameters> {
    let tensors = candle_core::safetensors::load(path, device)
        .map_err(|e| Error::input(path, None, format!("cannot read these weights ({e}); expected a safetensors file")))?;
    let tensors = from_hf_tensors(config, tensors, path)?;
    Parameters::from_tensors(config, tensors, path, device)
}
