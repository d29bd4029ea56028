//! `eval --data`: loss, perplexity and bits per byte over prepared splits (their tokens as prepare
//! wrote them) or raw Parquet / JSONL / CSV files (tokenized on the fly with the model's tokenizer, each
//! document as prepare writes it: its ids, then EOS), per file and in total.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use super::likelihood::{LossTotals, StreamScorer};
use crate::data::pipeline::Progress;
use crate::data::readers::open_reader;
use crate::data::shards::INDEX_FILE;
use crate::data::sources::{find_input_files, FileSelection, FileType, InputFile};
use crate::data::token_bytes::TokenBytes;
use crate::data::tokenizer::DocumentTokenizer;
use crate::data::windows::{check_vocabulary, TokenWindows};
use crate::error::{Error, Result};
use crate::model::Llama;

/// Tokens read from a prepared split at a time.
const PIECE_TOKENS: usize = 1 << 20;

pub struct TextEvalOptions {
    /// Prepared split folders, prepare output folders (their val/ is read), folders of raw files, or files.
    pub paths: Vec<PathBuf>,
    pub text_key: String,
    pub file_type: FileSelection,
    /// Windows per forward pass.
    pub batch_size: usize,
}

/// What one input is.
#[derive(Clone, Debug)]
pub enum EvalInput {
    /// A folder of token chunks (litdata's, as `minilm prepare` writes them, or llm.c shards).
    Prepared(PathBuf),
    Raw(InputFile),
}

impl EvalInput {
    pub fn name(&self) -> String {
        match self {
            EvalInput::Prepared(dir) => dir.display().to_string(),
            EvalInput::Raw(file) => file.path.display().to_string(),
        }
    }

    fn size(&self) -> u64 {
        match self {
            EvalInput::Prepared(_) => 0,
            EvalInput::Raw(file) => file.size,
        }
    }
}

#[derive(Clone, Debug)]
pub struct InputLoss {
    pub name: String,
    /// Documents read (raw files; None for a prepared split, whose document boundaries are EOS tokens).
    pub documents: Option<u64>,
    pub totals: LossTotals,
}

#[derive(Clone, Debug)]
pub struct TextEvaluation {
    pub inputs: Vec<InputLoss>,
    pub total: LossTotals,
    pub seconds: f64,
}

/// The inputs `paths` name, in order; a folder of raw files gives its files in sorted order.
pub fn resolve_inputs(paths: &[PathBuf], selection: FileSelection) -> Result<Vec<EvalInput>> {
    if paths.is_empty() {
        return Err(Error::usage(
            "--data names no file or folder; give a prepared split, a folder of Parquet / JSONL / CSV files, or files",
        ));
    }
    let mut inputs = Vec::new();
    for path in paths {
        if path.is_dir() {
            if is_token_folder(path) {
                inputs.push(EvalInput::Prepared(path.clone()));
            } else if is_token_folder(&path.join("val")) {
                inputs.push(EvalInput::Prepared(path.join("val")));
            } else {
                inputs.extend(find_input_files(path, selection)?.into_iter().map(EvalInput::Raw));
            }
            continue;
        }
        if !path.exists() {
            return Err(Error::input(
                path,
                None,
                "does not exist; expected a prepared split, a folder of text files, or a Parquet / JSONL / CSV file",
            ));
        }
        let kind = match selection {
            FileSelection::Only(kind) => Some(kind),
            _ => FileType::of(path),
        };
        let Some(kind) = kind else {
            return Err(Error::input(
                path,
                None,
                "is not a .parquet, .jsonl (.gz, .zst), .json or .csv file; give its kind with --file_type",
            ));
        };
        let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        inputs.push(EvalInput::Raw(InputFile { path: path.clone(), relative: path.display().to_string(), size, kind }));
    }
    Ok(inputs)
}

fn is_token_folder(dir: &Path) -> bool {
    dir.join(INDEX_FILE).is_file()
        || std::fs::read_dir(dir).is_ok_and(|entries| entries.flatten().any(|e| e.path().extension().is_some_and(|x| x == "bin")))
}

/// Scores every input with `model`; `progress` is called after each piece of work.
pub fn evaluate_text(
    model: &Llama,
    tokenizer: &DocumentTokenizer,
    options: &TextEvalOptions,
    cancel: &AtomicBool,
    mut progress: impl FnMut(&Progress),
) -> Result<TextEvaluation> {
    let started = Instant::now();
    let inputs = resolve_inputs(&options.paths, options.file_type)?;
    let bytes = TokenBytes::of(tokenizer.hf(), model.config.padded_vocab_size);
    let mut report = Progress {
        stage: "evaluating".into(),
        files_done: 0,
        files_total: inputs.len(),
        current_file: String::new(),
        input_bytes_done: 0,
        input_bytes_total: inputs.iter().map(EvalInput::size).sum(),
        text_bytes: 0,
        documents: 0,
        tokens: 0,
        elapsed_seconds: 0.0,
    };
    let mut results = Vec::new();
    let mut total = LossTotals::default();
    for input in &inputs {
        report.current_file = input.name();
        let mut scorer = StreamScorer::new(model, &bytes, options.batch_size);
        let mut step = |report: &mut Progress, tokens: &[u32], scorer: &mut StreamScorer| -> Result<()> {
            if cancel.load(Ordering::Relaxed) {
                return Err(Error::Cancelled);
            }
            scorer.push(tokens)?;
            report.tokens += tokens.len() as u64;
            report.elapsed_seconds = started.elapsed().as_secs_f64();
            progress(report);
            Ok(())
        };
        let documents = match input {
            EvalInput::Prepared(dir) => {
                check_same_tokenizer(dir, tokenizer)?;
                let windows = TokenWindows::open(dir, 1)?;
                windows.for_each_piece(PIECE_TOKENS, |path, tokens| {
                    check_vocabulary(path, None, tokens, model.config.padded_vocab_size)?;
                    step(&mut report, tokens, &mut scorer)
                })?;
                None
            }
            EvalInput::Raw(file) => {
                let done_before = report.input_bytes_done;
                let mut documents = 0u64;
                let mut reader = open_reader(file.kind, &file.path, &options.text_key)?;
                while let Some(batch) = reader.next_batch()? {
                    let mut ids = Vec::new();
                    batch.for_each_text(&file.path, &options.text_key, |row, text| {
                        let Some(text) = text else { return Ok(()) };
                        let document = tokenizer
                            .encode_document(text)
                            .map_err(|e| Error::input(&file.path, Some(format!("row {}", row + 1)), format!("cannot tokenize: {e}")))?;
                        ids.extend_from_slice(&document);
                        documents += 1;
                        report.documents += 1;
                        report.text_bytes += text.len() as u64;
                        Ok(())
                    })?;
                    report.input_bytes_done = done_before + (batch.file_fraction * file.size as f64) as u64;
                    step(&mut report, &ids, &mut scorer)?;
                }
                report.input_bytes_done = done_before + file.size;
                Some(documents)
            }
        };
        let totals = scorer.finish()?;
        total.merge(&totals);
        results.push(InputLoss { name: input.name(), documents, totals });
        report.files_done += 1;
    }
    Ok(TextEvaluation { inputs: results, total, seconds: started.elapsed().as_secs_f64() })
}

/// A prepared split carries, in its dataset folder, the tokenizer it was made with: scoring its ids with
/// another tokenizer's model would give a number that means nothing.
fn check_same_tokenizer(split: &Path, tokenizer: &DocumentTokenizer) -> Result<()> {
    let candidates = [split.join("tokenizer").join("tokenizer.json"), split.join("..").join("tokenizer").join("tokenizer.json")];
    let Some(theirs) = candidates.iter().find(|p| p.is_file()) else { return Ok(()) };
    let (Ok(a), Ok(b)) = (std::fs::read(theirs), std::fs::read(&tokenizer.path)) else { return Ok(()) };
    if a != b {
        return Err(Error::input(
            split,
            None,
            format!(
                "was prepared with another tokenizer ({}) than the model's ({}); evaluate raw text instead, or a split prepared with the model's tokenizer",
                theirs.display(),
                tokenizer.path.display()
            ),
        ));
    }
    Ok(())
}
