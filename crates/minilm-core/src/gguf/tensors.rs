//! A checkpoint's weights as llama.cpp's llama architecture names and lays them out: Hugging Face's
//! tensors (model/hf.rs) renamed, the queries' and keys' rows reordered for llama.cpp's RoPE, and each
//! tensor in the file's dtype.

use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{DType, Device, Tensor};

use crate::error::{Error, Result};
use crate::model::hf::hf_tensors;
use crate::model::{ModelConfig, Parameters};

/// The dtypes `minilm export --format gguf --dtype` writes the 2-D weights in (norms stay float32).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GgufDtype {
    F32,
    F16,
    Bf16,
    Q8_0,
}

impl GgufDtype {
    pub fn parse(name: &str) -> Result<Self> {
        match name {
            "f32" => Ok(Self::F32),
            "f16" => Ok(Self::F16),
            "bf16" => Ok(Self::Bf16),
            "q8_0" => Ok(Self::Q8_0),
            other => Err(Error::usage(format!("--dtype {other}: expected f32, f16, bf16 or q8_0"))),
        }
    }

    fn ggml(self) -> GgmlDType {
        match self {
            Self::F32 => GgmlDType::F32,
            Self::F16 => GgmlDType::F16,
            Self::Bf16 => GgmlDType::BF16,
            Self::Q8_0 => GgmlDType::Q8_0,
        }
    }

    /// `general.file_type` (llama_ftype): ALL_F32, MOSTLY_F16, MOSTLY_BF16, MOSTLY_Q8_0.
    pub fn file_type(self) -> u32 {
        match self {
            Self::F32 => 0,
            Self::F16 => 1,
            Self::Bf16 => 32,
            Self::Q8_0 => 7,
        }
    }
}

/// The GGUF's tensors in file order, and the names of those written as f16 because q8_0's blocks of 32
/// do not divide their rows (as llama.cpp's converter does).
pub struct GgufTensors {
    pub tensors: Vec<(String, QTensor)>,
    pub f16_fallbacks: Vec<String>,
}

pub fn gguf_tensors(config: &ModelConfig, params: &Parameters, dtype: GgufDtype) -> Result<GgufTensors> {
    let mut hf = hf_tensors(config, params)?;
    let mut take = |name: &str| hf.remove(name).ok_or_else(|| Error::usage(format!("the model has no tensor {name}")));
    let mut named = vec![("token_embd.weight".to_string(), take("model.embed_tokens.weight")?)];
    for layer in 0..config.n_layer {
        let hf_name = |name: &str| format!("model.layers.{layer}.{name}");
        let ours = |name: &str| format!("blk.{layer}.{name}.weight");
        let q = take(&hf_name("self_attn.q_proj.weight"))?;
        let k = take(&hf_name("self_attn.k_proj.weight"))?;
        named.push((ours("attn_norm"), take(&hf_name("input_layernorm.weight"))?));
        named.push((ours("attn_q"), interleave_rope_rows(&q, config.n_head, config.head_size)?));
        named.push((ours("attn_k"), interleave_rope_rows(&k, config.n_query_groups, config.head_size)?));
        named.push((ours("attn_v"), take(&hf_name("self_attn.v_proj.weight"))?));
        named.push((ours("attn_output"), take(&hf_name("self_attn.o_proj.weight"))?));
        named.push((ours("ffn_norm"), take(&hf_name("post_attention_layernorm.weight"))?));
        named.push((ours("ffn_gate"), take(&hf_name("mlp.gate_proj.weight"))?));
        named.push((ours("ffn_up"), take(&hf_name("mlp.up_proj.weight"))?));
        named.push((ours("ffn_down"), take(&hf_name("mlp.down_proj.weight"))?));
    }
    named.push(("output_norm.weight".to_string(), take("model.norm.weight")?));
    // A tied head is not written: llama.cpp then uses token_embd.
    if !config.tie_embeddings {
        named.push(("output.weight".to_string(), take("lm_head.weight")?));
    }

    let mut fallbacks = Vec::new();
    let mut out = Vec::with_capacity(named.len());
    for (name, tensor) in named {
        // A tensor of its own: parameters are views into one flat buffer, and QTensor::quantize reads
        // its input's whole storage, not the view.
        let values = tensor.to_device(&Device::Cpu)?.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?;
        let tensor = Tensor::from_vec(values, tensor.shape(), &Device::Cpu)?;
        let row = *tensor.dims().last().unwrap_or(&0);
        let target = match dtype {
            _ if tensor.rank() == 1 => GgmlDType::F32,
            GgufDtype::Q8_0 if row % GgmlDType::Q8_0.block_size() != 0 => {
                fallbacks.push(name.clone());
                GgmlDType::F16
            }
            other => other.ggml(),
        };
        out.push((name, QTensor::quantize(&tensor, target)?));
    }
    Ok(GgufTensors { tensors: out, f16_fallbacks: fallbacks })
}

/// Hugging Face (and litgpt) rotate the two halves of each head, llama.cpp's llama architecture rotates
/// adjacent pairs: within each head, row j of the first half and row j of the second become rows 2j and
/// 2j + 1, so that the rotation pairs the same numbers.
fn interleave_rope_rows(w: &Tensor, heads: usize, head_size: usize) -> Result<Tensor> {
    let input = w.dim(1)?;
    Ok(w.reshape((heads, 2, head_size / 2, input))?.transpose(1, 2)?.contiguous()?.reshape((heads * head_size, input))?)
}
