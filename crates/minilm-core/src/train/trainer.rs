//! One training run's model, optimizer and data: an optimizer step over the accumulated micro-batches,
//! validation, and the checkpoint files that let a run resume exactly where it stopped.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use serde::{Deserialize, Serialize};

use super::batches::{DataKind, MicroBatch, Split, TrainingData};
use super::collective::{rank_slice, Collective};
use super::dpo::{DpoOptions, DpoStats, PairLogps};
use super::gradient_buckets::{add_into, BucketedSum, Buckets};
use super::mixture::{MixtureOptions, MixtureSampler, MixtureState, OnExhausted};
use super::optimizer::{clip_grad_norm, AdamW, AdamWConfig};
use super::peak_flops::{peak_flops, PeakFlops};
use super::preferences::Preferences;
use super::sampler::{SamplerState, WindowSampler};
use crate::data::token_bytes::TokenBytes;
use crate::data::tokenizer::DocumentTokenizer;
use crate::device::open_device;
use crate::error::{Error, Result};
use crate::eval::likelihood::LossTotals;
use crate::model::fused::AttentionPath;
use crate::model::llama::{collect_gradients, GradientSink};
use crate::model::lora::{Adapters, BaseWeights, LoraConfig};
use crate::model::{load_adapted_weights, Llama, ModelConfig, Parameters, Precision, WeightsFormat};
use crate::util::write_atomically;

/// The files `save` writes into a checkpoint folder; the caller adds its own beside them.
pub const WEIGHTS_FILE: &str = "model.safetensors";
pub const OPTIMIZER_FILE: &str = "optimizer.safetensors";
pub const STATE_FILE: &str = "state.json";
/// state.json's `format`: a checkpoint of another format is not resumed.
pub const STATE_FORMAT: &str = "minilm-checkpoint-1";

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TrainerOptions {
    pub model: ModelConfig,
    pub seed: u64,
    pub data_path: PathBuf,
    /// Pretraining's token windows, or SFT's examples (data_path is then their folder).
    #[serde(default)]
    pub data_kind: DataKind,
    pub split_names: Option<(String, String)>,
    pub micro_batch_size: usize,
    /// Tokens a window predicts (max_seq_length); windows hold one more. SFT examples are at most this long.
    pub seq_len: usize,
    pub accumulation: usize,
    pub optimizer: AdamWConfig,
    pub max_norm: f64,
    /// Weights to start from (a checkpoint's model.safetensors) instead of a fresh initialisation.
    pub initial_weights: Option<PathBuf>,
    /// How initial_weights names its tensors.
    #[serde(default)]
    pub initial_weights_format: WeightsFormat,
    /// LoRA checkpoints whose adapters are merged into initial_weights, in order (its base's first).
    #[serde(default)]
    pub initial_adapters: Vec<PathBuf>,
    /// "cpu" or "cuda:N".
    #[serde(default = "cpu")]
    pub device: String,
    #[serde(default)]
    pub precision: Precision,
    /// A digest of the caller's settings that must not change between a run and its resumption (the
    /// model, data, seed, batch and sequence length); `restore` refuses a checkpoint saved under another.
    #[serde(default)]
    pub run_settings: String,
    /// Train on several prepared datasets by weight instead of data_path.
    #[serde(default)]
    pub mixture: Option<MixtureOptions>,
    /// A tokenizer for val_bpb's byte counts when the data carry none (see `data_tokenizer`); without
    /// either, val_bpb is not computed.
    #[serde(default)]
    pub tokenizer_dir: Option<PathBuf>,
    /// How attention runs on a GPU: the caller picks flash when the composite path's memory does not fit.
    #[serde(default)]
    pub attention: AttentionPath,
    /// SFT: pack several examples into each row of seq_len positions (train/packing.rs). The CPU only.
    #[serde(default)]
    pub packing: bool,
    /// DPO: data_path holds preference pairs, and the loss is DPO's against the starting weights.
    #[serde(default)]
    pub dpo: Option<DpoOptions>,
    /// LoRA: train adapters only (model/lora.rs); checkpoints hold them alone and name `base_dir`.
    #[serde(default)]
    pub lora: Option<LoraOptions>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LoraOptions {
    #[serde(flatten)]
    pub config: LoraConfig,
    /// The folder the initial weights come from, which LoRA checkpoints name as their base.
    pub base_dir: PathBuf,
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
    /// Token positions trained on (padding left out).
    pub tokens: u64,
    /// Positions computed, padding included.
    pub positions: u64,
    /// A mixture's: tokens per source in this step, and the sources that began a new epoch in it.
    pub source_tokens: Vec<u64>,
    pub new_epochs: Vec<(String, u64)>,
    /// DPO's figures over the step's pairs.
    pub dpo: Option<DpoStats>,
}

/// Validation loss in all and, for a mixture, per source.
#[derive(Clone, Debug, Serialize)]
pub struct Evaluation {
    /// Mean loss per scored token; None without validation data.
    pub loss: Option<f64>,
    /// Bits per UTF-8 byte of the targets that stand for text; None without a tokenizer to count bytes.
    pub bits_per_byte: Option<f64>,
    pub sources: Vec<(String, f64)>,
    /// DPO's figures over the validation pairs (`loss` is then their mean DPO loss).
    pub dpo: Option<DpoStats>,
}

#[derive(Clone, Debug, Serialize)]
pub struct SourceInfo {
    pub name: String,
    pub train_windows: u64,
    pub train_tokens: u64,
    pub val_windows: u64,
}

#[derive(Clone, Debug, Serialize)]
pub struct TrainerInfo {
    pub parameters: usize,
    /// Values the optimizer trains: the parameters, or LoRA's adapters.
    pub trained_parameters: usize,
    /// Of those, the values whose optimizer state this rank keeps: all of them, or its shard.
    pub optimizer_shard: usize,
    pub flops_per_token: f64,
    pub train_dir: PathBuf,
    /// Windows, or SFT examples.
    pub train_windows: u64,
    pub train_tokens: u64,
    pub val_dir: Option<PathBuf>,
    pub val_windows: u64,
    /// A mixture's sources, in config order (empty otherwise).
    pub sources: Vec<SourceInfo>,
}

/// state.json: where a run stands, written only by `save`. `iter_num` is litgpt's name for
/// micro-batches done; `tokens` counts training tokens seen.
#[derive(Serialize, Deserialize)]
struct SavedState {
    format: String,
    step: u64,
    iter_num: u64,
    tokens: u64,
    /// TrainerOptions::run_settings of the run that saved it.
    settings: String,
    data: SamplerState,
    train_windows: u64,
    /// A mixture: what it was, where each source stands, and the tokens taken from each.
    #[serde(default)]
    mixture: Option<MixtureOptions>,
    #[serde(default)]
    mixture_state: Option<MixtureState>,
    #[serde(default)]
    source_tokens: Vec<u64>,
}

/// Where a restored run stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RestoredState {
    /// Optimizer steps taken.
    pub step: u64,
    pub tokens: u64,
    /// A mixture's tokens per source.
    pub source_tokens: Vec<u64>,
}

/// A DPO micro-batch's scored tokens per sequence and reference log-probabilities per pair.
type PairTerms = (Vec<usize>, Vec<PairLogps>);

/// A LoRA run's adapters, the base weights they add to, and the base's name for its checkpoints.
struct LoraState {
    adapters: Adapters,
    base: Vec<Tensor>,
    base_weights: BaseWeights,
}

/// The order training items are drawn in.
enum Order {
    Windows(WindowSampler),
    Mixture(MixtureSampler),
}

pub struct Trainer {
    pub options: TrainerOptions,
    /// Under LoRA, the base with the adapters merged in.
    pub model: Llama,
    /// Over the model's parameters, or LoRA's adapters.
    optimizer: AdamW,
    lora: Option<LoraState>,
    data: TrainingData,
    order: Order,
    /// Training token positions seen, restored on resume; for a mixture, also per source.
    tokens: u64,
    source_tokens: Vec<u64>,
    device: Device,
    /// Each token's UTF-8 bytes, for val_bpb.
    token_bytes: Option<TokenBytes>,
    /// The other ranks of a data-parallel run; None trains alone.
    collective: Option<Box<dyn Collective>>,
    /// The gradient's buckets when the ranks sum it during the backward pass (gradient_buckets.rs).
    buckets: Option<Buckets>,
}

impl Trainer {
    pub fn new(options: TrainerOptions) -> Result<Self> {
        let device = open_device(&options.device)?;
        if device.is_cpu() && options.precision != Precision::Float32 {
            // candle's CPU matmul has no bfloat16 kernel.
            return Err(Error::usage("bf16 precisions need the GPU; on the CPU use precision 32-true"));
        }
        if options.seq_len > options.model.block_size {
            return Err(Error::usage(format!(
                "seq_len {} is longer than the model's block_size {}",
                options.seq_len, options.model.block_size
            )));
        }
        if options.packing && !device.is_cpu() {
            return Err(Error::usage(
                "packing runs on the CPU only for now: the GPU's attention kernels take one sequence per row; set packing to false on the GPU",
            ));
        }
        let split_names = options.split_names.as_ref().map(|(t, v)| (t.as_str(), v.as_str()));
        let data = match &options.mixture {
            Some(mixture) => TrainingData::open_mixture(mixture, split_names, options.seq_len)?,
            None if options.dpo.is_some() => TrainingData::Preferences(Preferences::open(&options.data_path, options.seq_len)?),
            None => TrainingData::open(options.data_kind, &options.data_path, split_names, options.seq_len, options.packing)?,
        };
        // Initialised (or loaded) in float32 on the device, then cast: the same seed gives the same
        // model whatever the precision.
        let params = match &options.initial_weights {
            Some(path) => load_adapted_weights(options.initial_weights_format, &options.model, path, &options.initial_adapters, &device)?,
            None => Parameters::init(&options.model, options.seed, &device)?,
        };
        let base_digest = options.lora.as_ref().map(|_| params.digest()).transpose()?;
        let params = params.to_dtype(options.precision.weight_dtype())?;
        let model = Llama::new(options.model.clone(), params, &device)?
            .with_compute_dtype(options.precision.compute_dtype())
            .with_attention(options.attention);
        let mut data = data;
        if let (TrainingData::Preferences(pairs), Some(dpo)) = (&mut data, &options.dpo) {
            pairs.compute_reference(&model, dpo, options.micro_batch_size)?;
        }
        let lora = match (&options.lora, base_digest) {
            (Some(lora), Some(digest)) => {
                let adapters = Adapters::init(&lora.config, &options.model, options.seed, &device)?;
                let base = adapters.base_of(&model.params)?;
                Some(LoraState { adapters, base, base_weights: BaseWeights { dir: lora.base_dir.clone(), digest } })
            }
            _ => None,
        };
        let optimizer = AdamW::new(options.optimizer.clone(), trained_parameters(&model, &lora))?;
        let order = match (&options.mixture, &data) {
            (Some(mixture), TrainingData::Mixture { sources, .. }) => {
                let windows: Vec<u64> = sources.iter().map(|s| s.train.len()).collect();
                Order::Mixture(MixtureSampler::new(mixture, &windows, options.seed))
            }
            _ => Order::Windows(WindowSampler::new(data.len(Split::Train), options.seed)),
        };
        let source_tokens = vec![0; options.mixture.as_ref().map_or(0, |m| m.sources.len())];
        let token_bytes = data_tokenizer(&options)?.map(|t| TokenBytes::of(t.hf(), options.model.padded_vocab_size));
        Ok(Trainer {
            options,
            model,
            optimizer,
            lora,
            data,
            order,
            tokens: 0,
            source_tokens,
            device,
            token_bytes,
            collective: None,
            buckets: None,
        })
    }

    /// Trains with other ranks from the next step on: each takes its slice of every step's samples
    /// (collective.rs), and the gradients are summed over all before the optimizer step. The config's
    /// micro-batch and accumulation are then per rank, and a step takes micro_batch_size * accumulation
    /// * world samples.
    pub fn join(&mut self, collective: Box<dyn Collective>) {
        // Buckets sum in place in float32 while the pass runs; LoRA's gradients come from the whole
        // model's only after it, and are small enough to sum at once.
        let flat = trained_parameters(&self.model, &self.lora).flat();
        self.buckets = match collective.bucket_elements() {
            Some(size) if self.lora.is_none() && flat.dtype() == DType::F32 => Some(Buckets::plan(&self.model.params.layout(), size)),
            _ => None,
        };
        self.collective = Some(collective);
    }

    /// Shards the optimizer's state over the ranks joined (ZeRO-1, optimizer.rs): each keeps the moments
    /// of 1 / world of the flat buffer and updates those weights, and the ranks share the updated weights
    /// after each step. The same steps as unsharded, bit for bit; every rank must then call `save`.
    pub fn shard_optimizer(&mut self) -> Result<()> {
        let (rank, world) = self.rank_and_world();
        self.optimizer.shard(rank, world)
    }

    /// Whether `flag` is set on any rank (each rank asks at the same point): how the ranks agree to
    /// stop together when one of them is told to. Alone, `flag`.
    pub fn any_rank(&self, flag: bool) -> Result<bool> {
        let Some(collective) = &self.collective else { return Ok(flag) };
        let mut count = [f64::from(u8::from(flag))];
        collective.sum_f64(&mut count)?;
        Ok(count[0] > 0.0)
    }

    /// The device the trainer trains on (where an NCCL rank joins its group).
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// (rank, world) of a data-parallel run; (0, 1) alone.
    pub fn rank_and_world(&self) -> (usize, usize) {
        self.collective.as_ref().map_or((0, 1), |c| (c.rank(), c.world()))
    }

    pub fn info(&self) -> TrainerInfo {
        TrainerInfo {
            parameters: self.model.config.num_parameters(),
            trained_parameters: trained_parameters(&self.model, &self.lora).flat().elem_count(),
            optimizer_shard: self.optimizer.shard_len(),
            flops_per_token: self.model.config.training_flops_per_token(self.options.seq_len),
            train_dir: self.data.dir(Split::Train).expect("a run has training data"),
            train_windows: self.data.len(Split::Train),
            train_tokens: self.data.train_tokens(),
            val_dir: self.data.dir(Split::Val),
            val_windows: self.data.len(Split::Val),
            sources: match &self.data {
                TrainingData::Mixture { sources, .. } => sources
                    .iter()
                    .map(|s| SourceInfo {
                        name: s.name.clone(),
                        train_windows: s.train.len(),
                        train_tokens: s.train.total_tokens(),
                        val_windows: s.val.as_ref().map_or(0, |v| v.len()),
                    })
                    .collect(),
                _ => Vec::new(),
            },
        }
    }

    /// With `on_exhausted: stop`, the mixture source that the next step would take past its last
    /// window (the run ends before that step), else None.
    pub fn exhausted_source(&self) -> Option<String> {
        let (Order::Mixture(sampler), Some(mixture)) = (&self.order, &self.options.mixture) else { return None };
        if mixture.on_exhausted != OnExhausted::Stop {
            return None;
        }
        let draws = self.options.micro_batch_size * self.options.accumulation * self.rank_and_world().1;
        sampler.would_exhaust(draws).map(|source| mixture.sources[source].name.clone())
    }

    /// The next micro-batch of training items, counting a mixture's tokens per source (over all ranks).
    /// DPO's come with each sequence's scored tokens and each pair's reference log-probabilities.
    /// In a data-parallel run every rank draws the items of all ranks and keeps its own slice.
    fn next_micro_batch(
        &mut self,
        source_tokens: &mut [u64],
        new_epochs: &mut Vec<(String, u64)>,
    ) -> Result<(MicroBatch, Option<PairTerms>)> {
        let size = self.options.micro_batch_size;
        let (rank, world) = self.rank_and_world();
        let mine = rank_slice(rank, size);
        let vocab = self.model.config.padded_vocab_size;
        match &mut self.order {
            Order::Windows(sampler) => {
                let draws: Vec<u64> = (0..size * world).map(|_| sampler.next_window()).collect();
                let ids = &draws[mine];
                if let TrainingData::Preferences(pairs) = &self.data {
                    let batch = pairs.batch(Split::Train, ids, vocab)?;
                    return Ok((batch.micro, Some((batch.counts, batch.reference))));
                }
                Ok((self.data.batch(Split::Train, ids, vocab)?, None))
            }
            Order::Mixture(sampler) => {
                let mut items = Vec::with_capacity(size * world);
                for _ in 0..size * world {
                    let draw = sampler.draw();
                    if let Some(epoch) = draw.new_epoch {
                        let name = &self.options.mixture.as_ref().expect("a mixture order has mixture options").sources[draw.source].name;
                        new_epochs.push((name.clone(), epoch));
                    }
                    source_tokens[draw.source] += self.options.seq_len as u64;
                    items.push((draw.source, draw.window));
                }
                Ok((self.data.mixture_batch(Split::Train, &items[mine], vocab)?, None))
            }
        }
    }

    /// One optimizer step: `accumulation` micro-batches of the next training windows (on each rank),
    /// gradients averaged over them (and the ranks), clipped to max_norm, then AdamW at `lr`.
    pub fn step(&mut self, lr: f64) -> Result<StepStats> {
        let accumulation = self.options.accumulation;
        // Each micro-batch's mean loss weighs 1 / (micro-batches of all ranks) in the step's gradient.
        let share = accumulation * self.rank_and_world().1;
        // The micro-batches' gradients add up in one flat buffer laid out as the trained parameters'.
        let trained = trained_parameters(&self.model, &self.lora);
        let mut grad = trained.flat().zeros_like()?;
        let offsets: Vec<usize> = trained.layout().iter().map(|(_, offset, _)| *offset).collect();
        let mut loss_sum: Option<Tensor> = None;
        let (mut tokens, mut positions) = (0, 0);
        let mut source_tokens = vec![0u64; self.source_tokens.len()];
        let mut new_epochs = Vec::new();
        let mut dpo_stats = self.options.dpo.map(|_| DpoStats::default());
        let mut summed = false;
        for micro_batch in 0..accumulation {
            let (micro, pairs) = self.next_micro_batch(&mut source_tokens, &mut new_epochs)?;
            tokens += micro.tokens;
            positions += micro.positions;
            let loss = match (&self.buckets, &self.collective) {
                // The last micro-batch of a data-parallel step: the ranks' sums start during its backward pass.
                (Some(buckets), Some(collective)) if micro_batch + 1 == accumulation => {
                    let mut sum = BucketedSum::new(buckets, &grad, collective.as_ref());
                    let loss = self.micro_batch_gradients(&micro, pairs, share, &mut dpo_stats, &mut |name, g| sum.add(name, &g))?;
                    sum.finish()?;
                    summed = true;
                    loss
                }
                _ => {
                    let mut by_name = HashMap::new();
                    let loss = self.micro_batch_gradients(&micro, pairs, share, &mut dpo_stats, &mut collect_gradients(&mut by_name))?;
                    let mut grads = self.model.in_parameter_order(by_name);
                    if let Some(lora) = &self.lora {
                        grads = lora.adapters.gradients(&grads)?;
                    }
                    for (&offset, g) in offsets.iter().zip(&grads) {
                        add_into(&grad, offset, g)?;
                    }
                    loss
                }
            };
            loss_sum = Some(match loss_sum {
                None => loss,
                Some(sum) => (sum + loss)?,
            });
        }
        let loss_sum = loss_sum.expect("accumulation is at least 1").to_dtype(DType::F64)?.to_scalar::<f64>()?;
        let mut loss = loss_sum / share as f64;
        if let Some(collective) = &self.collective {
            if !summed {
                grad = collective.sum_gradient(&grad)?;
            }
            let mut figures = [loss, tokens as f64, positions as f64];
            collective.sum_f64(&mut figures)?;
            loss = figures[0];
            (tokens, positions) = (figures[1] as u64, figures[2] as u64);
            if let Some(stats) = &mut dpo_stats {
                *stats = stats.summed(collective.as_ref())?;
            }
        }
        let mut grads = [grad];
        let grad_norm = clip_grad_norm(&mut grads, self.options.max_norm)?;
        let trained = trained_parameters(&self.model, &self.lora);
        self.optimizer.step_flat(trained, &grads[0], lr)?;
        if let (Some(shards), Some(collective)) = (self.optimizer.shards(), &self.collective) {
            collective.share_shards(trained.flat().as_tensor(), shards)?;
        }
        if let Some(lora) = &self.lora {
            lora.adapters.write_merged(&self.model.params, &lora.base)?;
        }
        self.tokens += tokens;
        for (total, n) in self.source_tokens.iter_mut().zip(&source_tokens) {
            *total += n;
        }
        Ok(StepStats { loss, grad_norm, tokens, positions, source_tokens, new_epochs, dpo: dpo_stats })
    }

    /// One micro-batch's mean loss (a scalar tensor) and the gradient of the whole model's parameters
    /// for 1 / `share` of it, each handed to `sink` as the backward pass finishes it. Under DPO, `pairs`
    /// holds the batch's pair terms and `dpo_stats` gathers its figures.
    fn micro_batch_gradients(
        &self,
        micro: &MicroBatch,
        pairs: Option<PairTerms>,
        share: usize,
        dpo_stats: &mut Option<DpoStats>,
        sink: &mut GradientSink,
    ) -> Result<Tensor> {
        match (&self.options.dpo, pairs, dpo_stats) {
            (Some(dpo), Some((counts, reference)), Some(stats)) => {
                let scale = 1.0 / share as f32;
                let loss = self.model.sequence_loss_and_grads_into(
                    &micro.batch,
                    |nll| {
                        let batch = dpo.batch_loss(nll, &counts, &reference);
                        stats.add(&batch.pairs);
                        Ok((batch.loss, batch.d_nll.iter().map(|d| d * scale).collect()))
                    },
                    sink,
                )?;
                Ok(Tensor::new(loss, &Device::Cpu)?)
            }
            _ => self.model.batch_loss_and_grads_into(&micro.batch, 1.0 / share as f64, sink),
        }
    }

    /// The MFU estimate's denominator for this trainer's device and compute dtype.
    pub fn peak_flops(&self) -> Result<PeakFlops> {
        peak_flops(&self.device, self.model.compute_dtype())
    }

    /// Mean loss per scored token (and bits per byte) over the first `max_iters` micro-batches of the
    /// validation split (always the same ones, so values are comparable across a run); None without a
    /// validation split. A mixture evaluates each source's first `max_iters` micro-batches: the total is
    /// over all of them. Data-parallel ranks share the micro-batches (rank r takes every world-th, from
    /// the r-th) and add up their sums, so each rank returns the figures of the whole validation.
    pub fn evaluate(&self, max_iters: usize) -> Result<Evaluation> {
        let vocab = self.model.config.padded_vocab_size;
        if let (TrainingData::Preferences(pairs), Some(dpo)) = (&self.data, &self.options.dpo) {
            let mut stats = DpoStats::default();
            let items = (max_iters as u64 * self.options.micro_batch_size as u64).min(pairs.len(Split::Val));
            let ids: Vec<u64> = (0..items).collect();
            for chunk in self.my_share(ids.chunks(self.options.micro_batch_size)) {
                let batch = pairs.batch(Split::Val, chunk, vocab)?;
                let nll = self.model.target_nll(&batch.micro.batch)?;
                stats.add(&dpo.batch_loss(&nll, &batch.counts, &batch.reference).pairs);
            }
            if let Some(collective) = &self.collective {
                stats = stats.summed(collective.as_ref())?;
            }
            let loss = (stats.pairs > 0).then_some(stats.loss);
            return Ok(Evaluation { loss, bits_per_byte: None, sources: Vec::new(), dpo: (stats.pairs > 0).then_some(stats) });
        }
        let mut total = LossTotals::default();
        let mut per_source = Vec::new();
        if let TrainingData::Mixture { sources, .. } = &self.data {
            for (index, source) in sources.iter().enumerate() {
                let Some(val) = &source.val else { continue };
                let totals = self.loss_totals(val.len(), max_iters, |ids| {
                    let items: Vec<(usize, u64)> = ids.iter().map(|&id| (index, id)).collect();
                    self.data.mixture_batch(Split::Val, &items, vocab)
                })?;
                per_source.push((source.name.clone(), totals.loss().unwrap_or(f64::NAN)));
                total.merge(&totals);
            }
        } else {
            let available = self.data.len(Split::Val);
            total = self.loss_totals(available, max_iters, |ids| self.data.batch(Split::Val, ids, vocab))?;
        }
        let bits_per_byte = if self.token_bytes.is_some() { total.bits_per_byte() } else { None };
        Ok(Evaluation { loss: total.loss(), bits_per_byte, sources: per_source, dpo: None })
    }

    /// The loss sums over the scored targets of the first `max_iters` micro-batches of `available` items
    /// (over all ranks).
    fn loss_totals(&self, available: u64, max_iters: usize, batch: impl Fn(&[u64]) -> Result<MicroBatch>) -> Result<LossTotals> {
        let no_bytes = TokenBytes { lengths: Vec::new() };
        let bytes = self.token_bytes.as_ref().unwrap_or(&no_bytes);
        let items = (max_iters as u64 * self.options.micro_batch_size as u64).min(available);
        let ids: Vec<u64> = (0..items).collect();
        let mut totals = LossTotals::default();
        for chunk in self.my_share(ids.chunks(self.options.micro_batch_size)) {
            let micro = batch(chunk)?;
            let nll = self.model.target_nll(&micro.batch)?;
            let targets = micro.batch.scored_targets(&Device::Cpu)?.to_vec1::<u32>()?;
            totals.add(&targets, &nll, bytes);
        }
        if let Some(collective) = &self.collective {
            // Counts stay exact in float64 up to 2^53.
            let mut sums = [totals.nll, totals.tokens as f64, totals.text_nll, totals.bytes as f64];
            collective.sum_f64(&mut sums)?;
            totals = LossTotals { nll: sums[0], tokens: sums[1] as u64, text_nll: sums[2], bytes: sums[3] as u64 };
        }
        Ok(totals)
    }

    /// This rank's share of `work` (all of it alone): every world-th item, from the rank-th.
    fn my_share<T>(&self, work: impl Iterator<Item = T>) -> impl Iterator<Item = T> {
        let (rank, world) = self.rank_and_world();
        work.skip(rank).step_by(world)
    }

    /// Writes the weights (LoRA: the adapters alone), optimizer moments and state.json into `dir`, which
    /// must exist. The caller makes the folder appear atomically. Data-parallel, rank 0 writes, and the
    /// other ranks call `share_for_save` meanwhile.
    pub fn save(&self, dir: &Path) -> Result<()> {
        match &self.lora {
            Some(lora) => lora.adapters.save(dir, &lora.base_weights)?,
            None => self.model.params.save(&dir.join(WEIGHTS_FILE))?,
        }
        self.optimizer.save(trained_parameters(&self.model, &self.lora), Some(&dir.join(OPTIMIZER_FILE)), self.collective.as_deref())?;
        let step = self.optimizer.steps;
        let state = SavedState {
            format: STATE_FORMAT.into(),
            step,
            // Micro-batches of all ranks, so that the number does not depend on the world size.
            iter_num: step * (self.options.accumulation * self.rank_and_world().1) as u64,
            tokens: self.tokens,
            settings: self.options.run_settings.clone(),
            data: match &self.order {
                Order::Windows(sampler) => sampler.state,
                Order::Mixture(_) => SamplerState { epoch: 0, position: 0 },
            },
            train_windows: self.data.len(Split::Train),
            mixture: self.options.mixture.clone(),
            mixture_state: match &self.order {
                Order::Mixture(sampler) => Some(sampler.state()),
                Order::Windows(_) => None,
            },
            source_tokens: self.source_tokens.clone(),
        };
        let bytes = serde_json::to_vec_pretty(&state).map_err(|e| Error::internal(format!("state.json: {e}")))?;
        write_atomically(&dir.join(STATE_FILE), &[&bytes])
    }

    /// What a rank that does not write the checkpoint does while rank 0 runs `save`: hands it its shard of
    /// a sharded optimizer's state (nothing to do unsharded).
    pub fn share_for_save(&self) -> Result<()> {
        self.optimizer.save(trained_parameters(&self.model, &self.lora), None, self.collective.as_deref())
    }

    /// Loads a checkpoint written by `save`, if it belongs to this run: the same format, run settings
    /// and number of training windows, so that the run continues exactly where it stopped.
    pub fn restore(&mut self, dir: &Path) -> Result<RestoredState> {
        let state_path = dir.join(STATE_FILE);
        let bytes = std::fs::read(&state_path).map_err(|e| {
            Error::input(&state_path, None, format!("cannot read it ({e}); expected a checkpoint folder written by `minilm pretrain`"))
        })?;
        let state: SavedState = serde_json::from_slice(&bytes)
            .map_err(|e| Error::input(&state_path, None, format!("is not a {STATE_FORMAT} training state ({e})")))?;
        if state.format != STATE_FORMAT {
            return Err(Error::input(&state_path, None, format!("is a {} state; this minilm resumes {STATE_FORMAT}", state.format)));
        }
        if let Some(change) = mixture_change(state.mixture.as_ref(), self.options.mixture.as_ref()) {
            return Err(Error::usage(format!(
                "cannot resume from {}: the mixture changed ({change}), so the run would not continue where it stopped. \
                 Restore the mixture, or start a new run elsewhere that takes its weights as initial weights",
                dir.display()
            )));
        }
        if state.settings != self.options.run_settings {
            return Err(Error::usage(format!(
                "cannot resume from {}: it was trained with a different model, data, seed, batch size, sequence length, packing or LoRA settings, \
                 so the run would not continue where it stopped. Restore those settings, or start a new run elsewhere \
                 that takes its weights as initial weights",
                dir.display()
            )));
        }
        let train_windows = self.data.len(Split::Train);
        if state.train_windows != train_windows {
            return Err(Error::input(
                &state_path,
                None,
                format!(
                    "was saved with {} training windows, the data now gives {}: the dataset changed, so the run cannot resume exactly",
                    state.train_windows, train_windows
                ),
            ));
        }
        match &mut self.lora {
            Some(lora) => {
                // The base is the run's own initial weights; only the adapters move.
                let (adapters, base) = Adapters::load(dir, &self.options.model, &self.device)?;
                if base.digest != lora.base_weights.digest {
                    return Err(Error::usage(format!(
                        "cannot resume from {}: its adapters were trained on other base weights than {} holds now",
                        dir.display(),
                        lora.base_weights.dir.display()
                    )));
                }
                adapters.write_merged(&self.model.params, &lora.base)?;
                lora.adapters = adapters;
            }
            None => {
                let precision = self.options.precision;
                let params =
                    Parameters::load(&self.options.model, &dir.join(WEIGHTS_FILE), &self.device)?.to_dtype(precision.weight_dtype())?;
                self.model = Llama::new(self.options.model.clone(), params, &self.device)?
                    .with_compute_dtype(precision.compute_dtype())
                    .with_attention(self.options.attention);
            }
        }
        // The optimizer replaces its state, and keeps its shard of it if sharded.
        self.optimizer.load(trained_parameters(&self.model, &self.lora), &dir.join(OPTIMIZER_FILE), state.step, &self.device)?;
        match (&mut self.order, &state.mixture_state) {
            (Order::Windows(sampler), _) => sampler.state = state.data,
            (Order::Mixture(sampler), Some(saved)) => sampler.set_state(saved),
            (Order::Mixture(_), None) => {
                return Err(Error::input(&state_path, None, "has no mixture state; it was not saved by a mixture run"))
            }
        }
        self.tokens = state.tokens;
        if state.source_tokens.len() == self.source_tokens.len() {
            self.source_tokens = state.source_tokens.clone();
        }
        Ok(RestoredState { step: state.step, tokens: state.tokens, source_tokens: self.source_tokens.clone() })
    }
}

/// What the optimizer trains: the model's parameters, or a LoRA run's adapters.
fn trained_parameters<'a>(model: &'a Llama, lora: &'a Option<LoraState>) -> &'a Parameters {
    lora.as_ref().map_or(&model.params, |lora| &lora.adapters.params)
}

/// What differs between the mixture a checkpoint was saved with and this run's, in words.
fn mixture_change(saved: Option<&MixtureOptions>, now: Option<&MixtureOptions>) -> Option<String> {
    let (saved, now) = match (saved, now) {
        (None, None) => return None,
        (Some(_), None) => return Some("the checkpoint was trained on a mixture, this run is not".into()),
        (None, Some(_)) => return Some("this run is a mixture, the checkpoint's was not".into()),
        (Some(saved), Some(now)) => (saved, now),
    };
    let names = |m: &MixtureOptions| m.sources.iter().map(|s| s.name.clone()).collect::<Vec<_>>();
    let mut changes = Vec::new();
    if names(saved) != names(now) {
        changes.push(format!("sources [{}] are now [{}]", names(saved).join(", "), names(now).join(", ")));
    } else {
        for (a, b) in saved.sources.iter().zip(&now.sources) {
            if a.weight != b.weight {
                changes.push(format!("{}'s weight {} is now {}", a.name, a.weight, b.weight));
            }
            if a.path != b.path {
                changes.push(format!("{}'s path {} is now {}", a.name, a.path.display(), b.path.display()));
            }
        }
    }
    if saved.on_exhausted != now.on_exhausted {
        changes.push(format!("on_exhausted {:?} is now {:?}", saved.on_exhausted, now.on_exhausted).to_lowercase());
    }
    (!changes.is_empty()).then(|| changes.join("; "))
}

/// The tokenizer val_bpb counts bytes with: the one `minilm prepare` keeps beside the data (a mixture's
/// first source's), which made the ids, else the given one (SFT's, or litgpt's tokenizer_dir for data
/// prepared elsewhere). None when there is neither.
fn data_tokenizer(options: &TrainerOptions) -> Result<Option<DocumentTokenizer>> {
    let data = options.mixture.as_ref().and_then(|m| m.sources.first()).map_or(options.data_path.as_path(), |s| s.path.as_path());
    let beside = data.join("tokenizer");
    if beside.join("tokenizer.json").is_file() {
        return DocumentTokenizer::load(&beside).map(Some);
    }
    options.tokenizer_dir.as_deref().map(DocumentTokenizer::load).transpose()
}
