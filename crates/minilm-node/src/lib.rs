//! napi-rs glue over minilm-core: option structs in, JSON summaries out, long work on libuv's pool.
//! No logic lives here; files are named after the core modules they expose.

mod error;
mod inspect;
mod job;
mod parquet_writer;
mod prepare;
mod tokenizer_training;
mod train;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
