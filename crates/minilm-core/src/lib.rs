//! minilm's engine. Pure Rust, no JavaScript: the napi crate (`minilm-node`) is a thin layer over it.
//!
//! - [`data`]: reading Parquet / JSONL / CSV, tokenizing, writing litdata token shards (`prepare`),
//!   training a tokenizer, and inspecting a prepared dataset.

pub mod data;
pub mod error;

pub use error::{Error, Result};
