//! `eval` (minilm_core::eval): a loaded model's loss, perplexity and bits per byte over text, and its
//! multiple-choice accuracy.

use std::path::PathBuf;

use minilm_core::data::sources::{FileSelection, DEFAULT_TEXT_KEY};
use minilm_core::data::tokenizer::DocumentTokenizer;
use minilm_core::eval::likelihood::LossTotals;
use minilm_core::eval::tasks::{self, Accuracy, TaskLayout};
use minilm_core::eval::text::{self, TextEvalOptions};
use napi::bindgen_prelude::AsyncTask;
use napi_derive::napi;

use crate::error::{guarded, to_napi};
use crate::job::Job;
use crate::model::NativeModel;
use crate::progress::PrepareProgress;
use crate::task::native_task;

/// Windows per forward pass when none is given.
const DEFAULT_BATCH_SIZE: u32 = 4;

#[napi(object)]
pub struct EvaluateTextOptions {
    /// Prepared splits (or prepare output folders: their val/), folders of Parquet / JSONL / CSV files, or files.
    pub paths: Vec<String>,
    /// The model's tokenizer: raw text is tokenized with it and every token's bytes come from it.
    pub tokenizer_dir: String,
    pub text_key: Option<String>,
    #[napi(ts_type = "'parquet' | 'jsonl' | 'csv' | 'auto'")]
    pub file_type: Option<String>,
    /// Windows of block_size + 1 tokens per forward pass (default 4).
    pub batch_size: Option<u32>,
}

/// Loss figures over a set of target tokens.
#[napi(object)]
pub struct LossFigures {
    /// Target tokens scored, and the UTF-8 bytes those that stand for text stand for.
    pub tokens: f64,
    pub bytes: f64,
    /// Mean negative log-likelihood per target token (nats); null when nothing was scored.
    pub loss: Option<f64>,
    pub perplexity: Option<f64>,
    /// Summed NLL of the text tokens over ln 2 times their bytes.
    pub bits_per_byte: Option<f64>,
}

impl From<&LossTotals> for LossFigures {
    fn from(t: &LossTotals) -> Self {
        LossFigures {
            tokens: t.tokens as f64,
            bytes: t.bytes as f64,
            loss: t.loss(),
            perplexity: t.perplexity(),
            bits_per_byte: t.bits_per_byte(),
        }
    }
}

#[napi(object)]
pub struct InputEvaluation {
    pub name: String,
    /// Documents read from a raw file; null for a prepared split.
    pub documents: Option<f64>,
    pub figures: LossFigures,
}

#[napi(object)]
pub struct TextEvaluation {
    pub inputs: Vec<InputEvaluation>,
    pub total: LossFigures,
    pub seconds: f64,
}

native_task!(EvaluateTextTask -> TextEvaluation);

/// Scores text with a loaded model; progress goes to `job` (stage "evaluating"), `job.cancel()` stops it.
#[napi(catch_unwind)]
pub fn evaluate_text(model: &NativeModel, options: EvaluateTextOptions, job: &Job) -> napi::Result<AsyncTask<EvaluateTextTask>> {
    let model = model.loaded()?;
    let core_options = TextEvalOptions {
        paths: options.paths.iter().map(PathBuf::from).collect(),
        text_key: options.text_key.unwrap_or_else(|| DEFAULT_TEXT_KEY.into()),
        file_type: FileSelection::parse(options.file_type.as_deref()).map_err(to_napi)?,
        batch_size: options.batch_size.unwrap_or(DEFAULT_BATCH_SIZE).max(1) as usize,
    };
    let tokenizer_dir = PathBuf::from(options.tokenizer_dir);
    let job = job.clone();
    Ok(EvaluateTextTask::run(move || {
        let result = guarded(|| {
            let tokenizer = DocumentTokenizer::load(&tokenizer_dir)?;
            text::evaluate_text(&model, &tokenizer, &core_options, &job.cancelled, |p| job.report(p.into()))
        })?;
        Ok(TextEvaluation {
            inputs: result
                .inputs
                .iter()
                .map(|i| InputEvaluation { name: i.name.clone(), documents: i.documents.map(|d| d as f64), figures: (&i.totals).into() })
                .collect(),
            total: (&result.total).into(),
            seconds: result.seconds,
        })
    }))
}

#[napi(object)]
pub struct ScoreTasksOptions {
    /// C-Eval / CMMLU (.csv or JSON Lines) and HellaSwag (JSON Lines) files.
    pub paths: Vec<String>,
    pub tokenizer_dir: String,
    /// Put before every question, as lm-eval's task descriptions are (C-Eval's names the subject).
    pub description: Option<String>,
}

/// A share of items with its 95% Wilson interval.
#[napi(object)]
pub struct AccuracyFigure {
    pub value: f64,
    pub low: f64,
    pub high: f64,
}

impl From<Accuracy> for AccuracyFigure {
    fn from(a: Accuracy) -> Self {
        AccuracyFigure { value: a.value, low: a.low, high: a.high }
    }
}

#[napi(object)]
pub struct ItemResult {
    /// `row N` (CSV) or `line N` (JSON Lines).
    pub location: String,
    /// Each choice's log-likelihood (nats) after the prompt.
    pub loglikelihoods: Vec<f64>,
    pub gold: u32,
    pub predicted: u32,
    /// The choice with the highest log-likelihood per byte.
    pub predicted_norm: u32,
}

#[napi(object)]
pub struct TaskResult {
    pub path: String,
    #[napi(ts_type = "'ceval' | 'hellaswag'")]
    pub layout: String,
    pub accuracy: AccuracyFigure,
    /// HellaSwag's acc_norm; null for lettered choices (where it equals accuracy).
    pub accuracy_norm: Option<AccuracyFigure>,
    /// What guessing scores.
    pub chance: f64,
    pub items: Vec<ItemResult>,
}

native_task!(ScoreTasksTask -> Vec<TaskResult>);

/// Multiple-choice accuracy of a loaded model on task files; `job.cancel()` stops it.
#[napi(catch_unwind)]
pub fn score_tasks(model: &NativeModel, options: ScoreTasksOptions, job: &Job) -> napi::Result<AsyncTask<ScoreTasksTask>> {
    let model = model.loaded()?;
    let job = job.clone();
    Ok(ScoreTasksTask::run(move || {
        guarded(|| {
            let tokenizer = DocumentTokenizer::load(&PathBuf::from(&options.tokenizer_dir))?;
            let description = options.description.unwrap_or_default();
            let files = options
                .paths
                .iter()
                .map(|p| tasks::read_task_file(&PathBuf::from(p), &description))
                .collect::<minilm_core::Result<Vec<_>>>()?;
            let total: usize = files.iter().map(|f| f.items.len()).sum();
            let started = std::time::Instant::now();
            let mut done_before = 0;
            let mut results = Vec::new();
            for (index, file) in files.iter().enumerate() {
                let score = tasks::score_task(&model, &tokenizer, file, &job.cancelled, |done| {
                    job.report(PrepareProgress {
                        stage: "evaluating".into(),
                        files_done: index as u32,
                        files_total: files.len() as u32,
                        current_file: file.path.display().to_string(),
                        input_bytes_done: (done_before + done) as f64,
                        input_bytes_total: total as f64,
                        text_bytes: 0.0,
                        documents: (done_before + done) as f64,
                        tokens: 0.0,
                        elapsed_seconds: started.elapsed().as_secs_f64(),
                    })
                })?;
                done_before += file.items.len();
                results.push(TaskResult {
                    path: file.path.display().to_string(),
                    layout: file.layout.name().into(),
                    accuracy: score.accuracy().into(),
                    accuracy_norm: (file.layout == TaskLayout::Endings).then(|| score.accuracy_norm().into()),
                    chance: score.chance(),
                    items: score
                        .items
                        .iter()
                        .map(|i| ItemResult {
                            location: i.location.clone(),
                            loglikelihoods: i.loglikelihoods.clone(),
                            gold: i.gold as u32,
                            predicted: i.predicted as u32,
                            predicted_norm: i.predicted_norm as u32,
                        })
                        .collect(),
                });
            }
            Ok(results)
        })
    }))
}
