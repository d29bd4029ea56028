//! What a long job reports while it runs (prepare is the one that does), read by `Job::take_progress`.

use minilm_core::data::prepare::Progress;
use napi_derive::napi;

/// Reported a few times a second while prepare runs.
#[napi(object)]
#[derive(Clone)]
pub struct PrepareProgress {
    /// "screening" (dedup and filters, a first pass when they are on), "tokenizing", or "evaluating" (`eval`).
    #[napi(ts_type = "'screening' | 'tokenizing' | 'evaluating'")]
    pub stage: String,
    pub files_done: u32,
    pub files_total: u32,
    pub current_file: String,
    /// Input bytes processed (finished files plus the part of the current one), and in all.
    pub input_bytes_done: f64,
    pub input_bytes_total: f64,
    /// This run's text bytes, documents and tokens (not counting a resumed run's earlier work).
    pub text_bytes: f64,
    pub documents: f64,
    pub tokens: f64,
    pub elapsed_seconds: f64,
}

impl From<&Progress> for PrepareProgress {
    fn from(p: &Progress) -> Self {
        PrepareProgress {
            stage: p.stage.clone(),
            files_done: p.files_done as u32,
            files_total: p.files_total as u32,
            current_file: p.current_file.clone(),
            input_bytes_done: p.input_bytes_done as f64,
            input_bytes_total: p.input_bytes_total as f64,
            text_bytes: p.text_bytes as f64,
            documents: p.documents as f64,
            tokens: p.tokens as f64,
            elapsed_seconds: p.elapsed_seconds,
        }
    }
}
