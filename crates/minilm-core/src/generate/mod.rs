//! Text generation from a trained model: sampling options as litgpt's generate takes them, a
//! token-at-a-time generator over a KV cache, and continuous batching of many generations.

pub mod batch;
pub mod generator;
pub mod sampling;

pub use batch::{DecodeBatch, StepToken};
pub use generator::{Chosen, GenerateOptions, Generator, Sequence, TokenLogprobs};
pub use sampling::{sample, SamplingOptions};
