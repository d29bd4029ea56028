//! `minilm export --format gguf`: a checkpoint as one GGUF v3 file that llama.cpp (and so Ollama and LM
//! Studio) loads as `general.architecture = llama`: the hyper-parameters, the tokenizer, the chat
//! template and the weights. candle's GGUF writer writes the file.

mod tensors;
mod vocab;

use std::fs::File;
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::path::Path;

use candle_core::quantized::gguf_file::{self, Value};

pub use tensors::GgufDtype;
pub use vocab::{read_vocab, GgufVocab};

use crate::error::{Error, Result};
use crate::model::{ModelConfig, Parameters};

/// What the GGUF says beyond the weights and the vocabulary (from the checkpoint's tokenizer files).
pub struct GgufOptions {
    pub dtype: GgufDtype,
    pub name: String,
    /// tokenizer_config.json's bos_token, eos_token, pad_token and unk_token, looked up in the vocabulary.
    pub bos_token: Option<String>,
    pub eos_token: Option<String>,
    pub padding_token: Option<String>,
    pub unknown_token: Option<String>,
    pub add_bos: bool,
    pub chat_template: Option<String>,
}

pub struct GgufSummary {
    pub tensors: usize,
    /// Tensors written as f16 under q8_0 (rows not a multiple of 32).
    pub f16_fallbacks: Vec<String>,
}

/// Writes the GGUF to `path` (the caller writes to a temporary name and renames).
pub fn write_gguf(
    config: &ModelConfig,
    params: &Parameters,
    tokenizer_json: &Path,
    options: &GgufOptions,
    path: &Path,
) -> Result<GgufSummary> {
    let vocab = read_vocab(tokenizer_json, config.padded_vocab_size)?;
    let tensors::GgufTensors { tensors, f16_fallbacks } = tensors::gguf_tensors(config, params, options.dtype)?;
    let metadata = metadata(config, &vocab, options);
    let cannot = |e: std::io::Error| Error::input(path, None, format!("cannot write the GGUF: {e}"));
    let mut file = BufWriter::new(File::create(path).map_err(cannot)?);
    let metadata_refs: Vec<(&str, &Value)> = metadata.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let tensor_refs: Vec<(&str, &_)> = tensors.iter().map(|(k, t)| (k.as_str(), t)).collect();
    gguf_file::write(&mut file, &metadata_refs, &tensor_refs)?;
    // candle writes version 2. Version 3 only adds big-endian files, so a little-endian v2 file is a v3
    // file once its version field (the u32 after the magic) says 3; llama.cpp reads both.
    file.seek(SeekFrom::Start(4)).map_err(cannot)?;
    file.write_all(&3u32.to_le_bytes()).map_err(cannot)?;
    file.into_inner().map_err(|e| cannot(e.into_error()))?.sync_all().map_err(cannot)?;
    Ok(GgufSummary { tensors: tensors.len(), f16_fallbacks })
}

fn metadata(config: &ModelConfig, vocab: &GgufVocab, options: &GgufOptions) -> Vec<(String, Value)> {
    let u32_of = |n: usize| Value::U32(n as u32);
    let mut m = vec![
        ("general.architecture".to_string(), Value::String("llama".into())),
        ("general.name".to_string(), Value::String(options.name.clone())),
        ("general.file_type".to_string(), Value::U32(options.dtype.file_type())),
        ("llama.context_length".to_string(), u32_of(config.block_size)),
        ("llama.embedding_length".to_string(), u32_of(config.n_embd)),
        ("llama.block_count".to_string(), u32_of(config.n_layer)),
        ("llama.feed_forward_length".to_string(), u32_of(config.intermediate_size)),
        ("llama.attention.head_count".to_string(), u32_of(config.n_head)),
        ("llama.attention.head_count_kv".to_string(), u32_of(config.n_query_groups)),
        // head_size need not be n_embd / n_head in litgpt's configs; llama.cpp reads it from these.
        ("llama.attention.key_length".to_string(), u32_of(config.head_size)),
        ("llama.attention.value_length".to_string(), u32_of(config.head_size)),
        ("llama.attention.layer_norm_rms_epsilon".to_string(), Value::F32(config.norm_eps as f32)),
        ("llama.rope.dimension_count".to_string(), u32_of(config.rope_n_elem())),
        ("llama.rope.freq_base".to_string(), Value::F32(config.rope_base as f32)),
        ("llama.vocab_size".to_string(), u32_of(config.padded_vocab_size)),
        ("tokenizer.ggml.model".to_string(), Value::String("gpt2".into())),
        ("tokenizer.ggml.pre".to_string(), Value::String(vocab.pre.into())),
        ("tokenizer.ggml.tokens".to_string(), Value::Array(vocab.tokens.iter().map(|t| Value::String(t.clone())).collect())),
        ("tokenizer.ggml.token_type".to_string(), Value::Array(vocab.token_types.iter().map(|&t| Value::I32(t)).collect())),
        ("tokenizer.ggml.add_bos_token".to_string(), Value::Bool(options.add_bos)),
        ("tokenizer.ggml.add_eos_token".to_string(), Value::Bool(false)),
    ];
    if options.dtype == GgufDtype::Q8_0 {
        m.push(("general.quantization_version".to_string(), Value::U32(2)));
    }
    if !vocab.merges.is_empty() {
        m.push(("tokenizer.ggml.merges".to_string(), Value::Array(vocab.merges.iter().map(|t| Value::String(t.clone())).collect())));
    }
    let id_of = |token: &Option<String>| token.as_ref().and_then(|t| vocab.tokens.iter().position(|v| v == t)).map(|id| id as u32);
    for (key, id) in [
        ("tokenizer.ggml.bos_token_id", id_of(&options.bos_token)),
        ("tokenizer.ggml.eos_token_id", id_of(&options.eos_token)),
        ("tokenizer.ggml.padding_token_id", id_of(&options.padding_token)),
        ("tokenizer.ggml.unknown_token_id", id_of(&options.unknown_token)),
    ] {
        if let Some(id) = id {
            m.push((key.to_string(), Value::U32(id)));
        }
    }
    if let Some(template) = &options.chat_template {
        m.push(("tokenizer.chat_template".to_string(), Value::String(template.clone())));
    }
    m
}
