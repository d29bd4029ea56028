//! Generation and tokenizers for JavaScript: a loaded model, a generator that yields one token per
//! call on libuv's pool (so the event loop keeps running), and a tokenizer's encode / decode.

use std::path::Path;
use std::sync::{Arc, Mutex};

use minilm_core::data::tokenizer::DocumentTokenizer;
use minilm_core::generate::{GenerateOptions, Generator};
use minilm_core::model::{Llama, ModelConfig, Parameters};
use napi::bindgen_prelude::AsyncTask;
use napi_derive::napi;

use crate::error::{guarded, to_json, to_napi};
use crate::task::JsonTask;

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

    /// Loads the weights for a resolved model config (JSON): a minilm checkpoint's model.safetensors
    /// (`hf` false) or a Hugging Face Llama's (`hf` true), onto `device` ("cpu", the default, or "cuda:N").
    #[napi(catch_unwind)]
    pub fn open(&self, config_json: String, weights_path: String, hf: bool, device: Option<String>) -> AsyncTask<JsonTask> {
        let inner = self.inner.clone();
        AsyncTask::new(JsonTask::new(move || {
            crate::keep_freed_memory();
            let config: ModelConfig =
                serde_json::from_str(&config_json).map_err(|e| napi::Error::from_reason(format!("model config: {e}")))?;
            let model = guarded(|| {
                let device = minilm_core::device::open_device(device.as_deref().unwrap_or("cpu"))?;
                let path = Path::new(&weights_path);
                let params = if hf {
                    let tensors = candle_core::safetensors::load(path, &device).map_err(|e| {
                        minilm_core::Error::input(path, None, format!("cannot read these weights ({e}); expected a safetensors file"))
                    })?;
                    let tensors = minilm_core::model::export_hf::from_hf_tensors(&config, tensors, path)?;
                    Parameters::from_tensors(&config, tensors, path, &device)?
                } else {
                    Parameters::load(&config, path, &device)?
                };
                Llama::new(config, params, &device)
            })?;
            *inner.lock().unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(model));
            Ok("null".into())
        }))
    }

    /// A generation from prompt ids with options (GenerateOptions as JSON); checks them now.
    #[napi(catch_unwind)]
    pub fn generator(&self, prompt: Vec<u32>, options_json: String) -> napi::Result<NativeGenerator> {
        let options: GenerateOptions =
            serde_json::from_str(&options_json).map_err(|e| napi::Error::from_reason(format!("generate options: {e}")))?;
        let model = self.inner.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let model = model.ok_or_else(|| napi::Error::from_reason("the model is not loaded (open() failed or was not awaited)"))?;
        let generator = Generator::new(model, prompt, options).map_err(to_napi)?;
        Ok(NativeGenerator { inner: Arc::new(Mutex::new(generator)) })
    }

    /// Writes the weights under Hugging Face LlamaForCausalLM's names into a safetensors file.
    #[napi(catch_unwind)]
    pub fn export_hf_weights(&self, path: String) -> napi::Result<()> {
        let model = self.inner.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let model = model.ok_or_else(|| napi::Error::from_reason("the model is not loaded"))?;
        guarded(|| minilm_core::model::export_hf::export_hf_weights(&model.config, &model.params, Path::new(&path)))
    }
}

/// Why a model config cannot be exported as a Hugging Face Llama, or null.
#[napi(catch_unwind)]
pub fn hf_incompatibility(config_json: String) -> napi::Result<Option<String>> {
    let config: ModelConfig = serde_json::from_str(&config_json).map_err(|e| napi::Error::from_reason(format!("model config: {e}")))?;
    Ok(minilm_core::model::export_hf::hf_incompatibility(&config))
}

#[napi]
pub struct NativeGenerator {
    inner: Arc<Mutex<Generator>>,
}

#[napi]
impl NativeGenerator {
    /// Resolves to the next token id as JSON, or "null" when the generation is over.
    #[napi(catch_unwind)]
    pub fn next(&self) -> AsyncTask<JsonTask> {
        let inner = self.inner.clone();
        AsyncTask::new(JsonTask::new(move || {
            let mut generator = inner.lock().unwrap_or_else(|p| p.into_inner());
            let token = guarded(|| generator.next_token())?;
            to_json(&token)
        }))
    }
}

#[napi]
pub struct NativeTokenizer {
    inner: DocumentTokenizer,
}

#[napi]
impl NativeTokenizer {
    /// A folder with tokenizer.json (and tokenizer_config.json), or a tokenizer.json.
    #[napi(constructor, catch_unwind)]
    pub fn new(path: String) -> napi::Result<Self> {
        Ok(NativeTokenizer { inner: DocumentTokenizer::load(Path::new(&path)).map_err(to_napi)? })
    }

    /// Ids for a prompt: BOS if the tokenizer adds one, no EOS.
    #[napi]
    pub fn encode(&self, text: String) -> napi::Result<Vec<u32>> {
        self.inner.encode_prompt(&text).map_err(|e| napi::Error::from_reason(format!("cannot tokenize the text: {e}")))
    }

    #[napi]
    pub fn decode(&self, ids: Vec<u32>) -> String {
        self.inner.decode(&ids)
    }

    #[napi(getter)]
    pub fn eos_id(&self) -> Option<u32> {
        self.inner.eos_id
    }

    #[napi(getter)]
    pub fn bos_id(&self) -> Option<u32> {
        self.inner.bos_id
    }

    #[napi(getter)]
    pub fn vocab_size(&self) -> u32 {
        self.inner.vocab_size() as u32
    }
}
