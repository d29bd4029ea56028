//! One training run's model, optimizer and data: an optimizer step over the accumulated micro-batches,
//! validation, and the checkpoint files that let a run resume exactly where it stopped.

use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::optimizer::{clip_grad_norm, AdamW, AdamWConfig};
use super::peak_flops::{peak_flops, PeakFlops};
use super::sampler::{SamplerState, WindowSampler};
use super::windows::{check_vocabulary, open_splits, TokenWindows};
use crate::data::shards::write_atomically;
use crate::error::{Error, Result};
use crate::device::open_device;
use crate::model::{Llama, ModelConfig, Parameters, Precision};

pub const WEIGHTS_FILE: &str = "model.safetensors";
pub const OPTIMIZER_FILE: &str = "optimizer.safetensors";
pub const STATE_FILE: &str = "state.json";

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TrainerOptions {
    pub model: ModelConfig,
    pub seed: u64,
    pub data_path: PathBuf,
    pub split_names: Option<(String, String)>,
    pub micro_batch_size: usize,
    /// Tokens a window predicts (max_seq_length); windows hold one more.
    pub seq_len: usize,
    pub accumulation: usize,
    pub optimizer: AdamWConfig,
    pub max_norm: f64,
    /// Weights to start from (a checkpoint's model.safetensors) instead of a fresh initialisation.
    pub initial_weights: Option<PathBuf>,
    /// "cpu" or "cuda:N".
    #[serde(default = "cpu")]
    pub device: String,
    #[serde(default)]
    pub precision: Precision,
}

fn cpu() -> String {
    "cpu".into()
}

#[derive(Clone, Debug, Serialize)]
pub struct StepStats {
    /// Mean loss over the step's micro-batches.
    pub loss: f64,
    /// Global gradient norm before clipping.
    pub grad_norm: f64,
    pub tokens: u64,
}

#[derive(Clone, Debug, Serialize)]
pub struct TrainerInfo {
    pub parameters: usize,
    pub flops_per_token: f64,
    pub train_dir: PathBuf,
    pub train_windows: u64,
    pub train_tokens: u64,
    pub val_dir: Option<PathBuf>,
    pub val_windows: u64,
}

/// What state.json holds for the Rust side; the caller adds its own fields beside these.
#[derive(Serialize, Deserialize)]
struct SavedState {
    optimizer_steps: u64,
    data: SamplerState,
    train_windows: u64,
}

pub struct Trainer {
    pub options: TrainerOptions,
    pub model: Llama,
    optimizer: AdamW,
    train: TokenWindows,
    val: Option<TokenWindows>,
    sampler: WindowSampler,
    device: Device,
}

impl Trainer {
    pub fn new(options: TrainerOptions) -> Result<Self> {
        let device = open_device(&options.device)?;
        if device.is_cpu() && options.precision != Precision::Float32 {
            // candle's CPU matmul has no bfloat16 kernel.
            return Err(Error::usage("bf16 precisions need the GPU; on the CPU use precision 32-true"));
        }
        if options.seq_len > options.model.block_size {
            return Err(Error::usage(format!("max_seq_length {} is longer than block_size {}", options.seq_len, options.model.block_size)));
        }
        let split_names = options.split_names.as_ref().map(|(t, v)| (t.as_str(), v.as_str()));
        let (train, val) = open_splits(&options.data_path, split_names, options.seq_len + 1)?;
        // Initialised (or loaded) in float32 on the device, then cast: the same seed gives the same
        // model whatever the precision.
        let params = match &options.initial_weights {
            Some(path) => Parameters::load(&options.model, path, &device)?,
            None => Parameters::init(&options.model, options.seed, &device)?,
        };
        let params = params.to_dtype(options.precision.weight_dtype())?;
        let model = Llama::new(options.model.clone(), params, &device)?.with_compute_dtype(options.precision.compute_dtype());
        let optimizer = AdamW::new(options.optimizer.clone(), &model.params)?;
        let sampler = WindowSampler::new(train.len(), options.seed);
        Ok(Trainer { options, model, optimizer, train, val, sampler, device })
    }

    pub fn info(&self) -> TrainerInfo {
        TrainerInfo {
            parameters: self.model.config.num_parameters(),
            flops_per_token: self.model.config.training_flops_per_token(self.options.seq_len),
            train_dir: self.train.dir.clone(),
            train_windows: self.train.len(),
            train_tokens: self.train.total_tokens(),
            val_dir: self.val.as_ref().map(|v| v.dir.clone()),
            val_windows: self.val.as_ref().map_or(0, |v| v.len()),
        }
    }

    /// One optimizer step: `accumulation` micro-batches of the next training windows, gradients
    /// averaged over them, clipped to max_norm, then AdamW at `lr`.
    pub fn step(&mut self, lr: f64) -> Result<StepStats> {
        let accumulation = self.options.accumulation;
        let mut summed: Option<Vec<Tensor>> = None;
        let mut loss_sum: Option<Tensor> = None;
        for _ in 0..accumulation {
            let ids: Vec<u64> = (0..self.options.micro_batch_size).map(|_| self.sampler.next_window()).collect();
            let batch = self.batch(&self.train, &ids)?;
            let (loss, grads) = self.model.loss_and_grads(&batch, 1.0 / accumulation as f64)?;
            loss_sum = Some(match loss_sum {
                None => loss,
                Some(sum) => (sum + loss)?,
            });
            summed = Some(match summed {
                None => grads,
                Some(sum) => sum.iter().zip(&grads).map(|(a, b)| a + b).collect::<candle_core::Result<_>>()?,
            });
        }
        let mut grads = summed.expect("accumulation is at least 1");
        let grad_norm = clip_grad_norm(&mut grads, self.options.max_norm)?;
        self.optimizer.step(&self.model.params, &grads, lr)?;
        let tokens = (accumulation * self.options.micro_batch_size * self.options.seq_len) as u64;
        let loss_sum = loss_sum.expect("accumulation is at least 1").to_dtype(candle_core::DType::F64)?.to_scalar::<f64>()?;
        Ok(StepStats { loss: loss_sum / accumulation as f64, grad_norm, tokens })
    }

    /// The MFU estimate's denominator for this trainer's device and compute dtype.
    pub fn peak_flops(&self) -> Result<PeakFlops> {
        peak_flops(&self.device, self.model.compute_dtype())
    }

    /// Mean loss over the first `max_iters` micro-batches of the validation split (always the same
    /// windows, so values are comparable across a run), or None without a validation split.
    pub fn evaluate(&self, max_iters: usize) -> Result<Option<f64>> {
        let Some(val) = &self.val else { return Ok(None) };
        let windows = (max_iters as u64 * self.options.micro_batch_size as u64).min(val.len());
        let (mut total, mut count) = (0f64, 0u64);
        let mut start = 0;
        while start < windows {
            let end = (start + self.options.micro_batch_size as u64).min(windows);
            let ids: Vec<u64> = (start..end).collect();
            let loss = self.model.loss(&self.batch(val, &ids)?)?.detach();
            total += loss.to_scalar::<f32>()? as f64 * ids.len() as f64;
            count += ids.len() as u64;
            start = end;
        }
        Ok(Some(total / count as f64))
    }

    fn batch(&self, source: &TokenWindows, ids: &[u64]) -> Result<Tensor> {
        let window = self.options.seq_len + 1;
        let mut tokens = Vec::with_capacity(ids.len() * window);
        for &id in ids {
            source.read(id, &mut tokens)?;
        }
        check_vocabulary(&source.dir, None, &tokens, self.model.config.padded_vocab_size)?;
        // On the host: the model moves them to its device, and reads the token ids for the embedding's
        // backward from this copy without waiting for the GPU.
        Ok(Tensor::from_vec(tokens, (ids.len(), window), &Device::Cpu)?)
    }

    /// Writes the weights, optimizer moments and state.json (with `extra`, the caller's fields) into
    /// `dir`, which must exist. The caller makes the folder appear atomically.
    pub fn save(&self, dir: &Path, extra: Value) -> Result<()> {
        self.model.params.save(&dir.join(WEIGHTS_FILE))?;
        self.optimizer.save(&self.model.params, &dir.join(OPTIMIZER_FILE))?;
        let state = SavedState { optimizer_steps: self.optimizer.steps, data: self.sampler.state, train_windows: self.train.len() };
        let mut json = serde_json::to_value(state).expect("plain data");
        if let (Value::Object(ours), Value::Object(theirs)) = (&mut json, extra) {
            for (key, value) in theirs {
                ours.entry(key).or_insert(value);
            }
        }
        let bytes = serde_json::to_vec_pretty(&json).expect("plain data");
        write_atomically(&dir.join(STATE_FILE), &[&bytes])
    }

    /// Loads a checkpoint written by `save` and returns its state.json (the caller's fields included).
    pub fn restore(&mut self, dir: &Path) -> Result<Value> {
        let state_path = dir.join(STATE_FILE);
        let bytes = std::fs::read(&state_path)
            .map_err(|e| Error::input(&state_path, None, format!("cannot read it ({e}); expected a checkpoint folder written by `minilm pretrain`")))?;
        let json: Value = serde_json::from_slice(&bytes).map_err(|e| Error::input(&state_path, None, format!("is not valid JSON ({e})")))?;
        let state: SavedState = serde_json::from_value(json.clone())
            .map_err(|e| Error::input(&state_path, None, format!("is not a minilm training state ({e})")))?;
        if state.train_windows != self.train.len() {
            return Err(Error::input(&state_path, None, format!(
                "was saved with {} training windows, the data now gives {}: the dataset or max_seq_length changed, so the run cannot resume exactly",
                state.train_windows, self.train.len()
            )));
        }
        let precision = self.options.precision;
        let params = Parameters::load(&self.options.model, &dir.join(WEIGHTS_FILE), &self.device)?.to_dtype(precision.weight_dtype())?;
        self.model = Llama::new(self.options.model.clone(), params, &self.device)?.with_compute_dtype(precision.compute_dtype());
        self.optimizer = AdamW::new(self.options.optimizer.clone(), &self.model.params)?;
        self.optimizer.load(&self.model.params, &dir.join(OPTIMIZER_FILE), state.optimizer_steps, &self.device)?;
        self.sampler.state = state.data;
        Ok(json)
    }
}
