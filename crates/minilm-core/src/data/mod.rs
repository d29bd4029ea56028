//! The data half of minilm: from text files to litdata token shards, and back.
//!
//! `prepare` reads [`sources`] with the [`readers`] in a parallel [`pipeline`] pass, drops what the
//! [`screen`] (dedup, quality filters) says to, tokenizes with [`tokenizer`] and writes [`shards`];
//! [`prepare_state`] makes it resumable. [`inspect`] reads a prepared dataset back,
//! [`tokenizer_training`] trains a new BPE, and [`parquet_writer`] writes text corpora as Parquet.
//! Training and evaluation read prepared token files back as [`windows`], and count the bytes each token
//! stands for with [`token_bytes`].

pub mod chat_template;
pub mod inspect;
pub mod parquet_writer;
pub mod pipeline;
pub mod prepare;
pub mod prepare_state;
pub mod readers;
pub mod screen;
pub mod shard_merge;
pub mod sharding;
pub mod shards;
pub mod sources;
pub mod token_bytes;
pub mod token_dtype;
pub mod tokenizer;
pub mod tokenizer_training;
pub mod windows;
