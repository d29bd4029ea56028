//! The trainer as a JavaScript class. Each call runs on libuv's pool and resolves to JSON; the
//! TypeScript layer drives the loop, so Ctrl-C and logging stay on the JavaScript side.

use std::path::Path;
use std::sync::{Arc, Mutex};

use minilm_core::train::{Trainer, TrainerOptions};
use napi::bindgen_prelude::AsyncTask;
use napi_derive::napi;

use crate::error::{guarded, to_json};
use crate::task::JsonTask;

#[napi]
pub struct NativeTrainer {
    /// None until `open` succeeds, and after `close`.
    inner: Arc<Mutex<Option<Trainer>>>,
}

fn with_trainer<T: serde::Serialize>(
    inner: &Arc<Mutex<Option<Trainer>>>,
    work: impl FnOnce(&mut Trainer) -> minilm_core::Result<T> + Send + 'static,
) -> AsyncTask<JsonTask> {
    let inner = inner.clone();
    AsyncTask::new(JsonTask::new(move || {
        let mut guard = inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let trainer = guard
            .as_mut()
            .ok_or_else(|| napi::Error::from_reason("the trainer is not open (open() failed or close() was called)"))?;
        let value = guarded(|| work(trainer))?;
        to_json(&value)
    }))
}

#[napi]
impl NativeTrainer {
    #[napi(constructor)]
    pub fn new() -> Self {
        NativeTrainer { inner: Arc::new(Mutex::new(None)) }
    }

    /// Builds the model (fresh or from initial weights) and opens the data; resolves to the trainer's info.
    #[napi(catch_unwind)]
    pub fn open(&self, options_json: String) -> AsyncTask<JsonTask> {
        let inner = self.inner.clone();
        AsyncTask::new(JsonTask::new(move || {
            crate::keep_freed_memory();
            let options: TrainerOptions =
                serde_json::from_str(&options_json).map_err(|e| napi::Error::from_reason(format!("trainer options: {e}")))?;
            let trainer = guarded(|| Trainer::new(options))?;
            let info = to_json(&trainer.info())?;
            *inner.lock().unwrap_or_else(|p| p.into_inner()) = Some(trainer);
            Ok(info)
        }))
    }

    /// One optimizer step at learning rate `lr`; resolves to {loss, grad_norm, tokens}.
    #[napi(catch_unwind)]
    pub fn step(&self, lr: f64) -> AsyncTask<JsonTask> {
        with_trainer(&self.inner, move |t| t.step(lr))
    }

    /// The MFU estimate's denominator on the trainer's device in its compute dtype: JSON {flops, measured, source}.
    #[napi(catch_unwind)]
    pub fn peak_flops(&self) -> AsyncTask<JsonTask> {
        with_trainer(&self.inner, move |t| t.peak_flops())
    }

    /// Validation loss over `max_iters` micro-batches; resolves to a number, or null without a val split.
    #[napi(catch_unwind)]
    pub fn evaluate(&self, max_iters: u32) -> AsyncTask<JsonTask> {
        with_trainer(&self.inner, move |t| t.evaluate(max_iters as usize))
    }

    /// Writes weights, optimizer state and state.json (merged with `extra_json`) into `dir`.
    #[napi(catch_unwind)]
    pub fn save(&self, dir: String, extra_json: String) -> AsyncTask<JsonTask> {
        with_trainer(&self.inner, move |t| {
            let extra = serde_json::from_str(&extra_json).map_err(|e| minilm_core::Error::usage(format!("checkpoint state: {e}")))?;
            t.save(Path::new(&dir), extra)
        })
    }

    /// Loads a checkpoint written by `save`; resolves to its state.json.
    #[napi(catch_unwind)]
    pub fn restore(&self, dir: String) -> AsyncTask<JsonTask> {
        with_trainer(&self.inner, move |t| t.restore(Path::new(&dir)))
    }

    /// Frees the model and data now rather than at garbage collection.
    #[napi]
    pub fn close(&self) {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).take();
    }
}

/// Parameter count and training FLOPs per token of a resolved model config (JSON), without building it.
#[napi(catch_unwind)]
pub fn describe_model(config_json: String, seq_len: u32) -> napi::Result<String> {
    let config: minilm_core::model::ModelConfig =
        serde_json::from_str(&config_json).map_err(|e| napi::Error::from_reason(format!("model config: {e}")))?;
    guarded(|| config.validate())?;
    to_json(&serde_json::json!({
        "parameters": config.num_parameters(),
        "flops_per_token": config.training_flops_per_token(seq_len as usize),
    }))
}

/// Whether this addon can train on a GPU: JSON {built, available, reason}.
#[napi(catch_unwind)]
pub fn cuda_status() -> napi::Result<String> {
    to_json(&minilm_core::device::cuda_status())
}

/// Writes freshly initialised weights (litgpt's init, from `seed`) for a resolved model config (JSON)
/// to a safetensors file: a random model for benchmarks and tests, without training.
#[napi(catch_unwind)]
pub fn init_weights(config_json: String, seed: u32, path: String) -> napi::Result<()> {
    let config: minilm_core::model::ModelConfig =
        serde_json::from_str(&config_json).map_err(|e| napi::Error::from_reason(format!("model config: {e}")))?;
    guarded(|| {
        config.validate()?;
        minilm_core::model::Parameters::init(&config, seed as u64, &candle_core::Device::Cpu)?.save(Path::new(&path))
    })
}
