//! Text generation from a trained model: sampling options as litgpt's generate takes them, and a
//! token-at-a-time generator over a KV cache.

pub mod generator;
pub mod sampling;

pub use generator::{GenerateOptions, Generator};
pub use sampling::{sample, SamplingOptions};
