//! The trainer (minilm_core::train::trainer) as a JavaScript class. Each call runs on libuv's pool and
//! resolves to a typed value; the TypeScript layer drives the loop, so Ctrl-C and logging stay on the
//! JavaScript side.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use minilm_core::model::fused::AttentionPath;
use minilm_core::model::lora::{self, LoraConfig, LoraTarget};
use minilm_core::model::Precision;
use minilm_core::train::batches;
use minilm_core::train::collective::Collective;
use minilm_core::train::dpo::{DpoLossType, DpoOptions, DpoStats};
use minilm_core::train::mixture::{MixtureOptions, MixtureSource, OnExhausted};
use minilm_core::train::optimizer::AdamWConfig;
use minilm_core::train::peak_flops::PeakFlops;
use minilm_core::train::trainer::{Evaluation, LoraOptions};
use minilm_core::train::watchdog::Watched;
use minilm_core::train::{trainer, RestoredState, StepStats, Trainer, TrainerInfo};
use napi::bindgen_prelude::{AsyncTask, Buffer};
use napi_derive::napi;

use crate::error::{count, guarded, to_napi};
use crate::model::{core_config, ModelConfig, WeightsFormat};
use crate::task::native_task;

/// litgpt's precision setting.
#[napi(string_enum)]
pub enum TrainingPrecision {
    #[napi(value = "32-true")]
    Float32,
    #[napi(value = "bf16-mixed")]
    Bf16Mixed,
    #[napi(value = "bf16-true")]
    Bf16True,
}

impl From<TrainingPrecision> for Precision {
    fn from(p: TrainingPrecision) -> Self {
        match p {
            TrainingPrecision::Float32 => Precision::Float32,
            TrainingPrecision::Bf16Mixed => Precision::Bf16Mixed,
            TrainingPrecision::Bf16True => Precision::Bf16True,
        }
    }
}

#[napi(object)]
pub struct AdamWOptions {
    pub weight_decay: f64,
    pub betas: Vec<f64>,
    pub eps: f64,
}

/// What a trainer reads from data_path.
#[napi(string_enum)]
pub enum DataKind {
    /// Token shards from `prepare` (or llm.c's), read as windows.
    #[napi(value = "windows")]
    Windows,
    /// A folder of SFT examples from `prepareSftData`.
    #[napi(value = "sft")]
    Sft,
}

#[napi(object)]
pub struct TrainerOptions {
    pub model: ModelConfig,
    pub seed: i64,
    /// A prepared dataset: train/ and val/ (or the split names below); for SFT, the folder `prepareSftData` wrote.
    pub data_path: String,
    /// Pretraining windows (the default) or SFT examples.
    pub data_kind: Option<DataKind>,
    /// [train, val] folder names under data_path.
    pub split_names: Option<Vec<String>>,
    pub micro_batch_size: u32,
    /// Tokens a window predicts (max_seq_length); windows hold one more.
    pub seq_len: u32,
    /// Micro-batches per optimizer step.
    pub accumulation: u32,
    pub optimizer: AdamWOptions,
    /// Gradients are clipped to this global norm.
    pub max_norm: f64,
    /// Weights to start from (a checkpoint's model.safetensors) instead of a fresh initialisation.
    pub initial_weights: Option<String>,
    /// How initial_weights names its tensors (minilm's litgpt names by default).
    pub initial_weights_format: Option<WeightsFormat>,
    /// LoRA checkpoint folders whose adapters are merged into initial_weights, in order (the base's first).
    pub initial_adapters: Option<Vec<String>>,
    /// "cpu" or "cuda:N".
    pub device: String,
    pub precision: TrainingPrecision,
    /// A digest of the settings a resumed run must share with the run that saved its checkpoint.
    pub run_settings: String,
    /// Train on several prepared datasets by weight instead of data_path.
    pub mixture: Option<Mixture>,
    /// For val_bpb's byte counts when the data carry no tokenizer/ folder (SFT examples, data prepared elsewhere).
    pub tokenizer_dir: Option<String>,
    /// How attention runs on a GPU (the composite path by default; flash saves memory).
    #[napi(ts_type = "'composite' | 'flash'")]
    pub attention: Option<String>,
    /// SFT: pack several examples into each row (a row's conversations never see each other). CPU only.
    pub packing: Option<bool>,
    /// DPO: data_path holds preference pairs, trained with DPO's loss against the initial weights.
    pub dpo: Option<DpoSettings>,
    /// LoRA: train low-rank adapters only; checkpoints hold them alone.
    pub lora: Option<LoraSettings>,
    /// Train as one rank of several: each takes its slice of every step's samples and the gradients
    /// are summed over all, through MPI (CPUs) or NCCL (GPUs); `dataParallelEngines()` lists this
    /// build's.
    pub data_parallel: Option<DataParallelSettings>,
}

#[napi(object)]
pub struct DataParallelSettings {
    /// 'mpi': the ranks of the MPI job this process is in (mpirun, srun). 'nccl': the group that
    /// `ncclId` names (rank 0's `ncclUniqueId()`), as `rank` of `world`, on the trainer's GPU.
    #[napi(ts_type = "'mpi' | 'nccl'")]
    pub engine: String,
    pub nccl_id: Option<Buffer>,
    pub rank: Option<u32>,
    pub world: Option<u32>,
    /// A sum over the ranks that waits longer than this ends the process (a rank has died or hangs).
    pub timeout_seconds: f64,
    /// NCCL: MiB of float32 gradient per bucket summed during the backward pass (25, PyTorch DDP's
    /// default, when absent); 0 sums the whole gradient after the pass. MPI always sums after it.
    pub bucket_megabytes: Option<f64>,
    /// Shards the optimizer's state over the ranks (ZeRO-1); every rank then calls `save` or
    /// `shareForSave` at each checkpoint.
    pub shard_optimizer: Option<bool>,
}

/// How a trainer joins its ranks, taken out of the JavaScript object before the work moves to a thread.
struct Joining {
    engine: Join,
    timeout: std::time::Duration,
    shard_optimizer: bool,
}

enum Join {
    Mpi,
    // Read by the CUDA build alone.
    #[cfg_attr(not(feature = "cuda"), allow(dead_code))]
    Nccl {
        id: Vec<u8>,
        rank: usize,
        world: usize,
        bucket_elements: Option<usize>,
    },
}

impl TryFrom<DataParallelSettings> for Joining {
    type Error = napi::Error;

    fn try_from(s: DataParallelSettings) -> napi::Result<Self> {
        let usage = |message: String| to_napi(minilm_core::Error::usage(message));
        let timeout = std::time::Duration::try_from_secs_f64(s.timeout_seconds).ok().filter(|t| !t.is_zero()).ok_or_else(|| {
            usage(format!("dataParallel.timeoutSeconds: expected a number of seconds above 0, got {}", s.timeout_seconds))
        })?;
        let bucket_elements = match s.bucket_megabytes {
            None => Some(minilm_core::train::collective::DEFAULT_BUCKET_ELEMENTS),
            Some(0.0) => None,
            Some(mb) if mb.is_finite() && mb > 0.0 => Some(((mb * (1 << 20) as f64 / 4.0) as usize).max(1)),
            Some(mb) => return Err(usage(format!("dataParallel.bucketMegabytes: expected 0 or more MiB, got {mb}"))),
        };
        let engine = match (s.engine.as_str(), s.nccl_id, s.rank, s.world) {
            ("mpi", ..) => Join::Mpi,
            ("nccl", Some(id), Some(rank), Some(world)) => {
                Join::Nccl { id: id.to_vec(), rank: rank as usize, world: world as usize, bucket_elements }
            }
            ("nccl", ..) => return Err(usage("dataParallel: the nccl engine needs ncclId, rank and world".into())),
            (other, ..) => return Err(usage(format!("dataParallel.engine: expected mpi or nccl, got {other}"))),
        };
        Ok(Joining { engine, timeout, shard_optimizer: s.shard_optimizer.unwrap_or(false) })
    }
}

#[napi(object)]
pub struct LoraSettings {
    pub r: u32,
    pub alpha: f64,
    #[napi(ts_type = "('qkv' | 'proj' | 'mlp' | 'head')[]")]
    pub targets: Vec<String>,
    /// The folder of the initial weights, which the checkpoints name as their base.
    pub base_dir: String,
}

#[napi(object)]
pub struct DpoSettings {
    pub beta: f64,
    #[napi(ts_type = "'sigmoid' | 'ipo'")]
    pub loss_type: String,
    pub label_smoothing: f64,
}

/// TRL's DPO figures, as means over pairs.
#[napi(object, js_name = "DpoStats")]
pub struct DpoFigures {
    pub pairs: f64,
    pub loss: f64,
    pub rewards_chosen: f64,
    pub rewards_rejected: f64,
    pub rewards_accuracies: f64,
    pub rewards_margins: f64,
    pub logps_chosen: f64,
    pub logps_rejected: f64,
}

impl From<DpoStats> for DpoFigures {
    fn from(s: DpoStats) -> Self {
        DpoFigures {
            pairs: s.pairs as f64,
            loss: s.loss,
            rewards_chosen: s.rewards_chosen,
            rewards_rejected: s.rewards_rejected,
            rewards_accuracies: s.rewards_accuracies,
            rewards_margins: s.rewards_margins,
            logps_chosen: s.logps_chosen,
            logps_rejected: s.logps_rejected,
        }
    }
}

#[napi(object)]
pub struct Mixture {
    pub sources: Vec<MixedDataset>,
    /// What a source that runs out does: start its next epoch, or end the run.
    #[napi(ts_type = "'repeat' | 'stop'")]
    pub on_exhausted: String,
}

#[napi(object)]
pub struct MixedDataset {
    pub name: String,
    /// A prepared dataset (train/ and val/).
    pub path: String,
    pub weight: f64,
}

impl TryFrom<Mixture> for MixtureOptions {
    type Error = napi::Error;

    fn try_from(m: Mixture) -> napi::Result<Self> {
        let on_exhausted = match m.on_exhausted.as_str() {
            "repeat" => OnExhausted::Repeat,
            "stop" => OnExhausted::Stop,
            other => return Err(to_napi(minilm_core::Error::usage(format!("on_exhausted must be repeat or stop, not '{other}'")))),
        };
        let sources =
            m.sources.into_iter().map(|s| MixtureSource { name: s.name, path: PathBuf::from(s.path), weight: s.weight }).collect();
        Ok(MixtureOptions { sources, on_exhausted })
    }
}

impl TryFrom<TrainerOptions> for trainer::TrainerOptions {
    type Error = napi::Error;

    fn try_from(o: TrainerOptions) -> napi::Result<Self> {
        let usage = |message: String| to_napi(minilm_core::Error::usage(message));
        let split_names = match o.split_names {
            None => None,
            Some(names) => match <[String; 2]>::try_from(names) {
                Ok([train, val]) => Some((train, val)),
                Err(names) => return Err(usage(format!("split_names: expected [train, val], got {} names", names.len()))),
            },
        };
        let betas = match o.optimizer.betas[..] {
            [b1, b2] => (b1, b2),
            _ => return Err(usage(format!("optimizer betas: expected two numbers, got {}", o.optimizer.betas.len()))),
        };
        Ok(trainer::TrainerOptions {
            model: core_config(o.model)?,
            seed: count("seed", o.seed)?,
            data_path: PathBuf::from(o.data_path),
            data_kind: match o.data_kind.unwrap_or(DataKind::Windows) {
                DataKind::Windows => batches::DataKind::Windows,
                DataKind::Sft => batches::DataKind::Sft,
            },
            split_names,
            micro_batch_size: o.micro_batch_size as usize,
            seq_len: o.seq_len as usize,
            accumulation: o.accumulation as usize,
            optimizer: AdamWConfig { weight_decay: o.optimizer.weight_decay, betas, eps: o.optimizer.eps },
            max_norm: o.max_norm,
            initial_weights: o.initial_weights.map(PathBuf::from),
            initial_weights_format: o.initial_weights_format.map(Into::into).unwrap_or_default(),
            initial_adapters: o.initial_adapters.unwrap_or_default().into_iter().map(PathBuf::from).collect(),
            device: o.device,
            precision: o.precision.into(),
            run_settings: o.run_settings,
            mixture: o.mixture.map(MixtureOptions::try_from).transpose()?,
            tokenizer_dir: o.tokenizer_dir.map(PathBuf::from),
            attention: match o.attention.as_deref() {
                None | Some("composite") => AttentionPath::Composite,
                Some("flash") => AttentionPath::Flash,
                Some(other) => return Err(usage(format!("attention must be composite or flash, not '{other}'"))),
            },
            packing: o.packing.unwrap_or(false),
            dpo: o
                .dpo
                .map(|d| {
                    let loss_type = match d.loss_type.as_str() {
                        "sigmoid" => DpoLossType::Sigmoid,
                        "ipo" => DpoLossType::Ipo,
                        other => return Err(usage(format!("dpo loss_type must be sigmoid or ipo, not '{other}'"))),
                    };
                    Ok(DpoOptions { beta: d.beta, loss_type, label_smoothing: d.label_smoothing })
                })
                .transpose()?,
            lora: o
                .lora
                .map(|l| {
                    let targets = l
                        .targets
                        .iter()
                        .map(|t| match t.as_str() {
                            "qkv" => Ok(LoraTarget::Qkv),
                            "proj" => Ok(LoraTarget::Proj),
                            "mlp" => Ok(LoraTarget::Mlp),
                            "head" => Ok(LoraTarget::Head),
                            other => Err(usage(format!("lora targets: '{other}' is not one of qkv, proj, mlp, head"))),
                        })
                        .collect::<napi::Result<_>>()?;
                    Ok::<_, napi::Error>(LoraOptions {
                        config: LoraConfig { r: l.r as usize, alpha: l.alpha, targets },
                        base_dir: PathBuf::from(l.base_dir),
                    })
                })
                .transpose()?,
        })
    }
}

/// What the trainer opened: the model's size and the data's windows.
#[napi(object, js_name = "TrainerInfo")]
pub struct OpenedTrainer {
    pub parameters: f64,
    /// What the optimizer trains: the parameters, or LoRA's adapters.
    pub trained_parameters: f64,
    /// Of those, the values whose optimizer state this rank keeps: all, or its shard (minilm.shard_optimizer).
    pub optimizer_shard: f64,
    pub flops_per_token: f64,
    pub train_dir: String,
    pub train_windows: f64,
    pub train_tokens: f64,
    /// null without a validation split.
    pub val_dir: Option<String>,
    pub val_windows: f64,
    /// A mixture's sources, in config order (empty otherwise).
    pub sources: Vec<SourceSummary>,
}

#[napi(object)]
pub struct SourceSummary {
    pub name: String,
    pub train_windows: f64,
    pub train_tokens: f64,
    pub val_windows: f64,
}

impl From<TrainerInfo> for OpenedTrainer {
    fn from(i: TrainerInfo) -> Self {
        OpenedTrainer {
            parameters: i.parameters as f64,
            trained_parameters: i.trained_parameters as f64,
            optimizer_shard: i.optimizer_shard as f64,
            flops_per_token: i.flops_per_token,
            train_dir: i.train_dir.display().to_string(),
            train_windows: i.train_windows as f64,
            train_tokens: i.train_tokens as f64,
            val_dir: i.val_dir.map(|d| d.display().to_string()),
            val_windows: i.val_windows as f64,
            sources: i
                .sources
                .into_iter()
                .map(|s| SourceSummary {
                    name: s.name,
                    train_windows: s.train_windows as f64,
                    train_tokens: s.train_tokens as f64,
                    val_windows: s.val_windows as f64,
                })
                .collect(),
        }
    }
}

#[napi(object, js_name = "StepStats")]
pub struct StepResult {
    /// Mean loss over the step's micro-batches.
    pub loss: f64,
    /// Global gradient norm before clipping.
    pub grad_norm: f64,
    /// Token positions trained on (padding left out).
    pub tokens: f64,
    /// Positions computed, padding included.
    pub positions: f64,
    /// A mixture's tokens per source in this step, in config order.
    pub source_tokens: Vec<f64>,
    /// Mixture sources that ran out in this step and began their next epoch (from 0).
    pub new_epochs: Vec<SourceEpoch>,
    /// DPO's figures over the step's pairs.
    pub dpo: Option<DpoFigures>,
}

#[napi(object)]
pub struct SourceEpoch {
    pub source: String,
    pub epoch: u32,
}

impl From<StepStats> for StepResult {
    fn from(s: StepStats) -> Self {
        StepResult {
            loss: s.loss,
            grad_norm: s.grad_norm,
            tokens: s.tokens as f64,
            positions: s.positions as f64,
            source_tokens: s.source_tokens.into_iter().map(|t| t as f64).collect(),
            new_epochs: s.new_epochs.into_iter().map(|(source, epoch)| SourceEpoch { source, epoch: epoch as u32 }).collect(),
            dpo: s.dpo.map(Into::into),
        }
    }
}

/// Validation loss in all (null without validation data) and, for a mixture, per source.
#[napi(object, js_name = "Evaluation")]
pub struct ValidationLoss {
    pub loss: Option<f64>,
    /// Bits per UTF-8 byte (special tokens left out); null when no tokenizer was found to count bytes.
    pub bits_per_byte: Option<f64>,
    pub sources: Vec<SourceLoss>,
    /// DPO's figures over the validation pairs.
    pub dpo: Option<DpoFigures>,
}

#[napi(object)]
pub struct SourceLoss {
    pub source: String,
    pub loss: f64,
}

impl From<Evaluation> for ValidationLoss {
    fn from(e: Evaluation) -> Self {
        ValidationLoss {
            loss: e.loss,
            bits_per_byte: e.bits_per_byte,
            sources: e.sources.into_iter().map(|(source, loss)| SourceLoss { source, loss }).collect(),
            dpo: e.dpo.map(Into::into),
        }
    }
}

/// The MFU estimate's denominator.
#[napi(object, js_name = "PeakFlops")]
pub struct Peak {
    pub flops: f64,
    /// Timed here rather than the datasheet's: a lower bound that the run's own rate may beat.
    pub measured: bool,
    pub source: String,
}

impl From<PeakFlops> for Peak {
    fn from(p: PeakFlops) -> Self {
        Peak { flops: p.flops, measured: p.measured, source: p.source }
    }
}

/// Where a resumed run stands.
#[napi(object, js_name = "RestoredState")]
pub struct Restored {
    /// Optimizer steps taken.
    pub step: f64,
    pub tokens: f64,
    /// A mixture's tokens per source.
    pub source_tokens: Vec<f64>,
}

impl From<RestoredState> for Restored {
    fn from(s: RestoredState) -> Self {
        Restored { step: s.step as f64, tokens: s.tokens as f64, source_tokens: s.source_tokens.into_iter().map(|t| t as f64).collect() }
    }
}

/// The files the trainer writes into a checkpoint folder.
#[napi(object)]
pub struct CheckpointFiles {
    pub weights: String,
    pub optimizer: String,
    pub state: String,
    /// A LoRA checkpoint's adapters (in place of the weights) and lora.json, which names their base.
    pub adapters: String,
    pub adapter_config: String,
}

#[napi]
pub fn checkpoint_files() -> CheckpointFiles {
    CheckpointFiles {
        weights: trainer::WEIGHTS_FILE.into(),
        optimizer: trainer::OPTIMIZER_FILE.into(),
        state: trainer::STATE_FILE.into(),
        adapters: lora::ADAPTER_FILE.into(),
        adapter_config: lora::ADAPTER_CONFIG_FILE.into(),
    }
}

native_task!(OpenTrainerTask -> OpenedTrainer);
native_task!(StepTask -> StepResult);
native_task!(PeakFlopsTask -> Peak);
native_task!(EvaluateTask -> ValidationLoss);
native_task!(SaveTask -> ());
native_task!(RestoreTask -> Restored);
native_task!(AnyRankTask -> bool);
native_task!(BarrierTask -> ());

type Slot = Arc<Mutex<Option<Trainer>>>;

/// The trainer's place among its ranks, through the engine `join` names, if this build has it.
fn join_ranks(join: Join, trainer: &Trainer) -> minilm_core::Result<Box<dyn Collective>> {
    let missing = |engine: &str, build: &str| {
        minilm_core::Error::usage(format!(
            "this build of minilm has no {engine}: data-parallel training needs `{build}` (docs/data-parallel.md)"
        ))
    };
    match join {
        #[cfg(feature = "mpi")]
        Join::Mpi => Ok(Box::new(minilm_core::train::mpi_collective::MpiCollective::join()?)),
        #[cfg(not(feature = "mpi"))]
        Join::Mpi => Err(missing("MPI", "npm run build:mpi")),
        #[cfg(feature = "cuda")]
        Join::Nccl { id, rank, world, bucket_elements } => {
            Ok(Box::new(minilm_core::train::nccl_collective::NcclCollective::join(trainer.device(), &id, rank, world, bucket_elements)?))
        }
        #[cfg(not(feature = "cuda"))]
        Join::Nccl { .. } => {
            let _ = trainer;
            Err(missing("NCCL", "npm run build:cuda"))
        }
    }
}

/// The engines data-parallel training can run on in this build: "mpi" (`npm run build:mpi`), "nccl"
/// (`npm run build:cuda`); none in the default CPU build.
#[napi]
pub fn data_parallel_engines() -> Vec<String> {
    let mut engines = Vec::new();
    if cfg!(feature = "mpi") {
        engines.push("mpi".to_string());
    }
    if cfg!(feature = "cuda") {
        engines.push("nccl".to_string());
    }
    engines
}

/// Waits until every rank of this MPI job has called it (the MPI build).
#[napi(catch_unwind)]
pub fn data_parallel_barrier() -> AsyncTask<BarrierTask> {
    BarrierTask::run(|| {
        #[cfg(feature = "mpi")]
        return guarded(minilm_core::train::mpi_collective::barrier);
        #[cfg(not(feature = "mpi"))]
        Err(to_napi(minilm_core::Error::usage("this build of minilm has no MPI (npm run build:mpi)")))
    })
}

/// A new NCCL group id for rank 0 to hand to the other ranks (128 bytes); needs the CUDA build.
#[napi]
pub fn nccl_unique_id() -> napi::Result<Buffer> {
    #[cfg(feature = "cuda")]
    return guarded(minilm_core::train::nccl_collective::unique_id).map(Buffer::from);
    #[cfg(not(feature = "cuda"))]
    Err(to_napi(minilm_core::Error::usage("NCCL needs the CUDA build of minilm (npm run build:cuda)")))
}

/// Ends MPI in this process if a data-parallel trainer started it (call before exiting); else nothing.
#[napi]
pub fn finalize_data_parallel() {
    #[cfg(feature = "mpi")]
    minilm_core::train::mpi_collective::finalize();
}

fn with_trainer<T>(slot: &Slot, work: impl FnOnce(&mut Trainer) -> minilm_core::Result<T>) -> napi::Result<T> {
    let mut guard = slot.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let trainer = guard
        .as_mut()
        .ok_or_else(|| to_napi(minilm_core::Error::usage("the trainer is not open (open() failed or close() was called)")))?;
    guarded(|| work(trainer))
}

#[napi]
pub struct NativeTrainer {
    /// None until `open` succeeds, and after `close`.
    inner: Slot,
}

#[napi]
impl NativeTrainer {
    #[napi(constructor)]
    pub fn new() -> Self {
        NativeTrainer { inner: Arc::new(Mutex::new(None)) }
    }

    /// Builds the model (fresh or from initial weights) and opens the data.
    #[napi(catch_unwind)]
    pub fn open(&self, mut options: TrainerOptions) -> napi::Result<AsyncTask<OpenTrainerTask>> {
        let joining = options.data_parallel.take().map(Joining::try_from).transpose()?;
        let options = trainer::TrainerOptions::try_from(options)?;
        let inner = self.inner.clone();
        Ok(OpenTrainerTask::run(move || {
            crate::keep_freed_memory();
            let mut trainer = guarded(|| Trainer::new(options))?;
            if let Some(Joining { engine, timeout, shard_optimizer }) = joining {
                let collective = guarded(|| join_ranks(engine, &trainer))?;
                trainer.join(Box::new(Watched::new(collective, timeout)));
                if shard_optimizer {
                    guarded(|| trainer.shard_optimizer())?;
                }
            }
            let info = trainer.info().into();
            *inner.lock().unwrap_or_else(|p| p.into_inner()) = Some(trainer);
            Ok(info)
        }))
    }

    /// One optimizer step at learning rate `lr`.
    #[napi(catch_unwind)]
    pub fn step(&self, lr: f64) -> AsyncTask<StepTask> {
        let inner = self.inner.clone();
        StepTask::run(move || with_trainer(&inner, |t| t.step(lr)).map(Into::into))
    }

    /// Whether `flag` is true on any rank of a data-parallel run (every rank asks at the same point);
    /// alone, `flag`. How the ranks agree to stop together.
    #[napi(catch_unwind)]
    pub fn any_rank(&self, flag: bool) -> AsyncTask<AnyRankTask> {
        let inner = self.inner.clone();
        AnyRankTask::run(move || with_trainer(&inner, |t| t.any_rank(flag)))
    }

    /// The MFU estimate's denominator on the trainer's device in its compute dtype.
    #[napi(catch_unwind)]
    pub fn peak_flops(&self) -> AsyncTask<PeakFlopsTask> {
        let inner = self.inner.clone();
        PeakFlopsTask::run(move || with_trainer(&inner, |t| t.peak_flops()).map(Into::into))
    }

    /// Validation loss over `max_iters` micro-batches (a mixture: of each source).
    #[napi(catch_unwind)]
    pub fn evaluate(&self, max_iters: u32) -> AsyncTask<EvaluateTask> {
        let inner = self.inner.clone();
        EvaluateTask::run(move || with_trainer(&inner, |t| t.evaluate(max_iters as usize)).map(Into::into))
    }

    /// With on_exhausted 'stop': the mixture source the next step would take past its last window
    /// (the run ends before that step); otherwise null.
    #[napi]
    pub fn exhausted_source(&self) -> napi::Result<Option<String>> {
        with_trainer(&self.inner, |t| Ok(t.exhausted_source()))
    }

    /// Writes the weights, optimizer state and state.json into `dir`. Data-parallel, rank 0 does, while
    /// the other ranks call `shareForSave`.
    #[napi(catch_unwind)]
    pub fn save(&self, dir: String) -> AsyncTask<SaveTask> {
        let inner = self.inner.clone();
        SaveTask::run(move || with_trainer(&inner, |t| t.save(Path::new(&dir))))
    }

    /// A rank that does not write the checkpoint, while rank 0 runs `save`: hands it this rank's shard of
    /// a sharded optimizer's state.
    #[napi(catch_unwind)]
    pub fn share_for_save(&self) -> AsyncTask<SaveTask> {
        let inner = self.inner.clone();
        SaveTask::run(move || with_trainer(&inner, |t| t.share_for_save()))
    }

    /// Loads a checkpoint written by `save` by a run with the same settings.
    #[napi(catch_unwind)]
    pub fn restore(&self, dir: String) -> AsyncTask<RestoreTask> {
        let inner = self.inner.clone();
        RestoreTask::run(move || with_trainer(&inner, |t| t.restore(Path::new(&dir))).map(Into::into))
    }

    /// Frees the model and data now rather than at garbage collection.
    #[napi]
    pub fn close(&self) {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).take();
    }
}
