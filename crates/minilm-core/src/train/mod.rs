//! Training: AdamW, the order of training windows (read by data::windows), and the trainer that joins
//! them into optimizer steps and checkpoints. The TypeScript layer drives the loop (schedule, logging,
//! saving, signals).

pub mod adamw_cpu;
#[cfg(feature = "cuda")]
mod adamw_cuda;
pub mod batches;
pub mod collective;
pub mod data_check;
pub mod dpo;
pub mod gradient_buckets;
pub mod micro_batch;
pub mod mixture;
#[cfg(feature = "mpi")]
pub mod mpi_collective;
#[cfg(feature = "cuda")]
pub mod nccl_collective;
pub mod optimizer;
pub mod packing;
pub mod peak_flops;
pub mod preferences;
pub mod sampler;
pub mod trainer;
pub mod watchdog;

pub use trainer::{RestoredState, StepStats, Trainer, TrainerInfo, TrainerOptions};
