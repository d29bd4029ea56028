//! The model (minilm_core::model): its config as JavaScript sees it, its size, fresh weights, and a
//! loaded model for generation and export.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use candle_core::{DType, Device, Tensor};
use minilm_core::gguf;
use minilm_core::model::{hf, load_adapted_weights, weights_format, Llama, Parameters};
use napi::bindgen_prelude::{AsyncTask, Float32Array};
use napi_derive::napi;

use crate::error::{guarded, to_napi};
use crate::generate::{GenerateOptions, NativeDecodeBatch, NativeGenerator};
use crate::task::native_task;

/// The model's shape, resolved (as litgpt.Config resolves it). Its keys keep litgpt's names, as in
/// model_config.yaml.
#[napi(object)]
#[derive(Clone)]
pub struct ModelConfig {
    pub name: String,
    #[napi(js_name = "block_size")]
    pub block_size: u32,
    #[napi(js_name = "vocab_size")]
    pub vocab_size: u32,
    /// The embedding and lm_head rows; the tokenizer uses only the first vocab_size.
    #[napi(js_name = "padded_vocab_size")]
    pub padded_vocab_size: u32,
    #[napi(js_name = "n_layer")]
    pub n_layer: u32,
    #[napi(js_name = "n_head")]
    pub n_head: u32,
    #[napi(js_name = "n_embd")]
    pub n_embd: u32,
    #[napi(js_name = "head_size")]
    pub head_size: u32,
    #[napi(js_name = "n_query_groups")]
    pub n_query_groups: u32,
    #[napi(js_name = "rotary_percentage")]
    pub rotary_percentage: f64,
    #[napi(js_name = "rope_base")]
    pub rope_base: f64,
    #[napi(js_name = "norm_eps")]
    pub norm_eps: f64,
    #[napi(js_name = "intermediate_size")]
    pub intermediate_size: u32,
    /// lm_head.weight is transformer.wte.weight.
    #[napi(js_name = "tie_embeddings")]
    pub tie_embeddings: bool,
}

impl From<ModelConfig> for minilm_core::model::ModelConfig {
    fn from(c: ModelConfig) -> Self {
        minilm_core::model::ModelConfig {
            name: c.name,
            block_size: c.block_size as usize,
            vocab_size: c.vocab_size as usize,
            padded_vocab_size: c.padded_vocab_size as usize,
            n_layer: c.n_layer as usize,
            n_head: c.n_head as usize,
            n_embd: c.n_embd as usize,
            head_size: c.head_size as usize,
            n_query_groups: c.n_query_groups as usize,
            rotary_percentage: c.rotary_percentage,
            rope_base: c.rope_base,
            norm_eps: c.norm_eps,
            intermediate_size: c.intermediate_size as usize,
            tie_embeddings: c.tie_embeddings,
        }
    }
}

/// A checked core config.
pub(crate) fn core_config(config: ModelConfig) -> napi::Result<minilm_core::model::ModelConfig> {
    let config = minilm_core::model::ModelConfig::from(config);
    guarded(|| config.validate())?;
    Ok(config)
}

#[napi(object)]
pub struct ModelSize {
    pub parameters: f64,
    /// Training FLOPs per token at the given sequence length (forward and backward).
    pub flops_per_token: f64,
}

/// Parameter count and training FLOPs per token of a model config, without building it.
#[napi(catch_unwind)]
pub fn describe_model(config: ModelConfig, seq_len: u32) -> napi::Result<ModelSize> {
    let config = core_config(config)?;
    Ok(ModelSize { parameters: config.num_parameters() as f64, flops_per_token: config.training_flops_per_token(seq_len as usize) })
}

/// Why a model config cannot be exported as a Hugging Face Llama, or null.
#[napi(catch_unwind)]
pub fn hf_incompatibility(config: ModelConfig) -> Option<String> {
    hf::hf_incompatibility(&config.into())
}

/// Writes freshly initialised weights (litgpt's init, from `seed`) to a safetensors file: a random
/// model for benchmarks and tests, without training.
#[napi(catch_unwind)]
pub fn init_weights(config: ModelConfig, seed: u32, path: String) -> napi::Result<()> {
    let config = core_config(config)?;
    guarded(|| Parameters::init(&config, seed as u64, &candle_core::Device::Cpu)?.save(Path::new(&path)))
}

/// How a model folder names its weights.
#[napi(string_enum)]
pub enum WeightsFormat {
    /// litgpt's names, as `minilm pretrain` saves them.
    #[napi(value = "minilm")]
    Minilm,
    /// Hugging Face LlamaForCausalLM's names, as `minilm export --format hf` writes them.
    #[napi(value = "hf")]
    Hf,
    /// litgpt's lit_model.pth (a PyTorch state dict), as litgpt pretrain and finetune write it.
    #[napi(value = "litgpt")]
    Litgpt,
}

impl From<WeightsFormat> for weights_format::WeightsFormat {
    fn from(format: WeightsFormat) -> Self {
        match format {
            WeightsFormat::Minilm => weights_format::WeightsFormat::Minilm,
            WeightsFormat::Hf => weights_format::WeightsFormat::Hf,
            WeightsFormat::Litgpt => weights_format::WeightsFormat::Litgpt,
        }
    }
}

native_task!(OpenModelTask -> ());

#[napi]
pub struct NativeModel {
    /// None until `open` succeeds.
    inner: Arc<Mutex<Option<Arc<Llama>>>>,
}

#[napi]
impl NativeModel {
    #[napi(constructor)]
    pub fn new() -> Self {
        NativeModel { inner: Arc::new(Mutex::new(None)) }
    }

    /// Loads a model.safetensors in `format` onto `device` ("cpu", the default, or "cuda:N"), with the
    /// adapters of LoRA checkpoint folders merged in, in order.
    #[napi(catch_unwind)]
    pub fn open(
        &self,
        config: ModelConfig,
        weights_path: String,
        format: WeightsFormat,
        device: Option<String>,
        adapters: Option<Vec<String>>,
    ) -> napi::Result<AsyncTask<OpenModelTask>> {
        let config = core_config(config)?;
        let inner = self.inner.clone();
        Ok(OpenModelTask::run(move || {
            crate::keep_freed_memory();
            let model = guarded(|| {
                let device = minilm_core::device::open_device(device.as_deref().unwrap_or("cpu"))?;
                let path = Path::new(&weights_path);
                let adapters: Vec<PathBuf> = adapters.unwrap_or_default().into_iter().map(PathBuf::from).collect();
                let params = load_adapted_weights(format.into(), &config, path, &adapters, &device)?;
                Llama::new(config, params, &device)
            })?;
            *inner.lock().unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(model));
            Ok(())
        }))
    }

    /// A generation from prompt ids; checks the options now.
    #[napi(catch_unwind)]
    pub fn generator(&self, prompt: Vec<u32>, options: GenerateOptions) -> napi::Result<NativeGenerator> {
        NativeGenerator::new(self.loaded()?, prompt, options.try_into()?)
    }

    /// A batch in which generations decode together (continuous batching).
    #[napi]
    pub fn decode_batch(&self) -> napi::Result<NativeDecodeBatch> {
        Ok(NativeDecodeBatch::new(self.loaded()?))
    }

    /// The logits of the token after `ids` (one forward pass, no cache), over the padded vocabulary.
    #[napi(catch_unwind)]
    pub fn next_token_logits(&self, ids: Vec<u32>) -> napi::Result<Float32Array> {
        let model = self.loaded()?;
        let logits = guarded(|| {
            let input = Tensor::new(ids.as_slice(), &Device::Cpu)?.to_device(model.device())?.unsqueeze(0)?;
            let last = model.forward(&input)?.squeeze(0)?.get(ids.len().saturating_sub(1))?;
            Ok(last.to_dtype(DType::F32)?.to_vec1::<f32>()?)
        })?;
        Ok(Float32Array::new(logits))
    }

    /// Writes the weights under Hugging Face LlamaForCausalLM's names into a safetensors file.
    #[napi(catch_unwind)]
    pub fn export_hf_weights(&self, path: String) -> napi::Result<()> {
        let model = self.loaded()?;
        guarded(|| hf::export_hf_weights(&model.config, &model.params, Path::new(&path)))
    }

    /// Writes the model as a GGUF file for llama.cpp at `path`, with the vocabulary of `tokenizerJson`.
    #[napi(catch_unwind)]
    pub fn export_gguf(&self, path: String, tokenizer_json: String, options: GgufExportOptions) -> napi::Result<GgufExportSummary> {
        let model = self.loaded()?;
        guarded(|| {
            let options = gguf::GgufOptions {
                dtype: gguf::GgufDtype::parse(&options.dtype)?,
                name: options.name,
                bos_token: options.bos_token,
                eos_token: options.eos_token,
                padding_token: options.padding_token,
                unknown_token: options.unknown_token,
                add_bos: options.add_bos,
                chat_template: options.chat_template,
            };
            let summary = gguf::write_gguf(&model.config, &model.params, Path::new(&tokenizer_json), &options, Path::new(&path))?;
            Ok(GgufExportSummary { tensors: summary.tensors as u32, f16_fallbacks: summary.f16_fallbacks })
        })
    }

    pub(crate) fn loaded(&self) -> napi::Result<Arc<Llama>> {
        let model = self.inner.lock().unwrap_or_else(|p| p.into_inner()).clone();
        model.ok_or_else(|| to_napi(minilm_core::Error::usage("the model is not loaded (open() failed or was not awaited)")))
    }
}

/// What a GGUF holds beside the weights (from the checkpoint's tokenizer files).
#[napi(object)]
pub struct GgufExportOptions {
    /// f32, f16, bf16 or q8_0: the 2-D weights' dtype (norms stay f32).
    pub dtype: String,
    pub name: String,
    /// tokenizer_config.json's bos_token, eos_token, pad_token and unk_token (looked up in the vocabulary).
    pub bos_token: Option<String>,
    pub eos_token: Option<String>,
    pub padding_token: Option<String>,
    pub unknown_token: Option<String>,
    pub add_bos: bool,
    pub chat_template: Option<String>,
}

#[napi(object)]
pub struct GgufExportSummary {
    pub tensors: u32,
    /// Tensors written as f16 under q8_0: their rows are not a multiple of q8_0's blocks of 32.
    pub f16_fallbacks: Vec<String>,
}
