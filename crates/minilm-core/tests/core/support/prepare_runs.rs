//! The prepare runs of the prepare and screen tests: options with the reference tokenizer, and a run that
//! must succeed.

use std::path::Path;
use std::sync::atomic::AtomicBool;

use minilm_core::data::prepare::{prepare, PrepareOptions, Summary};

/// `input` prepared into `output` with minimind's tokenizer, seed 42 and the CLI's defaults elsewhere;
/// a test changes what it is about with `PrepareOptions { field, ..prepare_options(input, output) }`.
pub fn prepare_options(input: &Path, output: &Path) -> PrepareOptions {
    PrepareOptions {
        input_dir: input.to_path_buf(),
        output_dir: output.to_path_buf(),
        text_key: "text".into(),
        file_type: Default::default(),
        tokenizer_path: super::shared_tokenizer("minimind-6400"),
        fast_dev_run: false,
        num_workers: 1,
        chunk_size: 20_000,
        val_fraction: 0.02,
        seed: 42,
        dtype: None,
        screen: Default::default(),
        dry_run_filters: false,
        shard: None,
    }
}

/// A whole run, without progress reports or cancellation.
pub fn run(options: &PrepareOptions) -> Summary {
    prepare(options, &mut |_| {}, &AtomicBool::new(false)).unwrap()
}
