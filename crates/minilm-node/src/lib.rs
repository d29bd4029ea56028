//! napi-rs glue over minilm-core: option structs in, JSON summaries out, long work on libuv's pool.
//! No logic lives here; files are named after the core modules they expose.

mod data_check;
mod error;
mod generate;
mod inspect;
mod job;
mod kernel_check;
mod parquet_writer;
mod prepare;
mod step_profile;
mod task;
mod tokenizer_training;
mod train;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's `mi_option_purge_delay` (its position in mimalloc.h's option enum, v2 and v3 alike).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// By default mimalloc hands freed memory back to the OS after 10 ms. A training step frees and
/// re-allocates the same activation buffers every step, and the kernel zeroing the fresh pages cost
/// about 10% of a step. Keeping freed memory for reuse holds RSS at its peak; it does not raise it.
pub(crate) fn keep_freed_memory() {
    // SAFETY: sets one integer option; mimalloc reads options at each purge decision.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1) }
}
