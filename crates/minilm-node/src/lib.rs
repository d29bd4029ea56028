//! napi-rs glue over minilm-core: typed options in, typed results out, long work on libuv's pool.
//! Every type that crosses to JavaScript is declared here once, as a `#[napi(object)]` (or
//! `string_enum`) converted from or into the core's own type; index.d.ts is generated from them. No
//! logic lives here; each file is named after the core module it wraps.

// napi-rs registers the exports only outside test builds, so there every export looks unused.
#![cfg_attr(test, allow(dead_code))]

mod chat_template;
mod data_check;
mod device;
mod error;
mod eval;
mod generate;
mod inspect;
mod job;
mod kernel_check;
mod model;
mod parquet_writer;
mod prepare;
mod progress;
mod screen;
mod sft_data;
mod step_profile;
mod task;
mod tokenizer;
mod tokenizer_training;
mod trainer;

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
