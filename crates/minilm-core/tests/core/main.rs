//! minilm-core's integration tests, one module per concern, in one test binary: each file under tests/
//! used to be its own binary, and linking fourteen release binaries against candle, arrow and tokenizers
//! took most of `npm test`'s time. The fixtures they share live in `support`; the PyTorch goldens in
//! ../golden.

mod support;

mod chat_template;
mod data_parallel;
mod dpo;
mod fused;
mod generate;
mod kernel_check;
mod litgpt_checkpoint;
mod lora;
mod model_golden;
mod packing;
mod prepare;
mod screen;
mod sft;
mod shards;
mod token_bytes;
mod tokenizer_training;
mod trainer;
mod windows;
