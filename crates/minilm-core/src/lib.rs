//! minilm's engine. Pure Rust, no JavaScript: the napi crate (`minilm-node`) is a thin layer over it.
//!
//! - [`data`]: reading Parquet / JSONL / CSV, tokenizing, writing litdata token shards (`prepare`),
//!   training a tokenizer, and inspecting a prepared dataset.
//! - [`model`]: litgpt's LLaMA-family GPT (grouped-query attention, RoPE, SwiGLU) in candle.
//! - [`device`]: the CPU or a CUDA device (with the `cuda` feature).
//! - [`eval`]: loss, bits per byte and multiple-choice accuracy of a trained model.
//! - [`train`]: AdamW, the schedule, token windows, checkpoints and the training step.
//! - [`kernel_check`]: every fused kernel on a device against its CPU twin (for the GPU check).

pub mod data;
pub mod device;
pub mod error;
pub mod eval;
pub mod generate;
pub mod gguf;
pub mod kernel_check;
pub mod model;
pub mod sft;
pub mod step_profile;
pub mod train;
pub mod util;

pub use error::{Error, Result};
