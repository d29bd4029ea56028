//! Whether training worked: loss, perplexity and bits per byte over text a model never saw, and
//! multiple-choice accuracy by log-likelihood, the way lm-eval-harness scores it.
//!
//! - [`crate::data::token_bytes`] (shared with training's validation): how many UTF-8 bytes each token
//!   id stands for (0 for special tokens).
//! - [`likelihood`]: the sums every figure comes from, a token stream scored window by window, and
//!   the log-likelihood of a continuation after a context.
//! - [`text`]: `--data`: prepared splits or raw files, per file and in total.
//! - [`tasks`]: `--tasks`: C-Eval / CMMLU and HellaSwag items, their prompts, and the scores.

pub mod likelihood;
pub mod tasks;
pub mod text;
