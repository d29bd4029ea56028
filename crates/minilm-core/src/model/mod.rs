//! litgpt's LLaMA-family GPT in candle: configuration, named parameters and the forward pass.
//!
//! Shape letters: B batch, T time (positions), C n_embd, V padded vocabulary, H query heads,
//! G key/value groups (n_query_groups), Q query heads per group (H / G), D head_size, N rope dims.

pub mod backprop;
pub mod composite;
pub mod config;
mod decode;
mod decode_matmul;
pub mod fused;
pub mod hf;
pub mod layers;
pub mod llama;
pub mod lora;
pub mod parameters;
pub mod precision;
pub mod weights_format;

pub use config::ModelConfig;
pub use llama::{KvCache, Llama, TokenBatch};
pub use parameters::Parameters;
pub use precision::Precision;
pub use weights_format::{load_adapted_weights, load_weights, WeightsFormat};
