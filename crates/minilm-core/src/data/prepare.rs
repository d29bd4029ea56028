//! `minilm prepare`: input files -> token shards, in parallel, deterministic, resumable.
//!
//! Three kinds of thread, joined by bounded channels:
//!
//! ```text
//!   reader (1)  --jobs-->  tokenizers (num_workers)  --results-->  writer (the caller's thread)
//!      ^                                                               |
//!      +------------------------- permits ------------------------------+
//! ```
//!
//! The reader walks the files in sorted order and numbers every batch it sends. Workers tokenize batches
//! in whatever order they get them; the writer puts results back in sequence order, so the bytes written
//! never depend on the number of workers or on timing. The reader may run at most a fixed number of batches
//! ahead of the writer (the permits), which bounds memory whatever the input size.
//!
//! After each input file the writer commits: it journals the open chunks, then atomically rewrites the
//! state file. A run stopped at any moment resumes from the last commit and produces the same bytes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::data::prepare_state::{is_validation, PrepareState, Settings, SplitState};
use crate::data::readers::{open_reader, parse_json_line, RawBatch, Texts};
use crate::data::shards::{max_chunk_tokens, ChunkWriter, INDEX_FILE};
use crate::data::sources::{find_input_files, FileType, InputFile};
use crate::data::token_dtype::TokenDtype;
use crate::data::tokenizer::DocumentTokenizer;
use crate::error::{Error, IoContext, Result};
use crate::util::stable_hash;

/// litgpt's chunk size for pretraining data: 8012 windows of 2049 tokens.
pub const DEFAULT_CHUNK_SIZE: u64 = 2049 * 8012;
/// One document in a thousand is held out for validation unless told otherwise.
pub const DEFAULT_VAL_FRACTION: f64 = 0.001;
pub const DEFAULT_SEED: u64 = 42;
/// Tokenizing threads: 0 means one per core.
pub const DEFAULT_NUM_WORKERS: usize = 0;
/// `--fast_dev_run` prepares only the first this-many documents (rows) of the input, in file order.
pub const FAST_DEV_RUN_DOCUMENTS: u64 = 10_000;

#[derive(Clone, Debug)]
pub struct PrepareOptions {
    pub input_dir: PathBuf,
    pub output_dir: PathBuf,
    pub text_key: String,
    pub file_type: Option<FileType>,
    pub tokenizer_path: PathBuf,
    pub fast_dev_run: bool,
    /// Tokenizing threads; 0 means one per core.
    pub num_workers: usize,
    pub chunk_size: u64,
    pub val_fraction: f64,
    pub seed: u64,
    /// Token type on disk; None picks the smallest that holds the tokenizer's ids.
    pub dtype: Option<TokenDtype>,
}

/// Reported to the caller a few times a second while prepare runs.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Progress {
    pub files_done: usize,
    pub files_total: usize,
    pub current_file: String,
    /// Input bytes processed (finished files plus the part of the current one), and in all.
    pub input_bytes_done: u64,
    pub input_bytes_total: u64,
    /// Text bytes, documents and tokens processed by this run (not counting a resumed run's earlier work).
    pub text_bytes: u64,
    pub documents: u64,
    pub tokens: u64,
    pub elapsed_seconds: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct SplitSummary {
    pub documents: u64,
    pub tokens: u64,
    pub chunks: u64,
}

#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    pub output_dir: String,
    pub file_type: String,
    pub dtype: String,
    pub files: usize,
    /// Files already done by an earlier, interrupted run (0 for a fresh run).
    pub files_resumed: usize,
    /// True when the output was already complete and nothing was done.
    pub already_complete: bool,
    pub train: SplitSummary,
    pub val: SplitSummary,
    pub skipped_null: u64,
    pub skipped_empty: u64,
    pub num_workers: usize,
    /// This run's time and throughput.
    pub seconds: f64,
    pub text_bytes: u64,
    pub tokens: u64,
    pub megabytes_per_second: f64,
    pub tokens_per_second: f64,
}

pub fn prepare(options: &PrepareOptions, on_progress: &mut dyn FnMut(&Progress), cancel: &AtomicBool) -> Result<Summary> {
    let started = Instant::now();
    if !(0.0..1.0).contains(&options.val_fraction) {
        return Err(Error::usage(format!("val_fraction must be at least 0 and below 1, not {}", options.val_fraction)));
    }
    if options.text_key.is_empty() {
        return Err(Error::usage("text_key must not be empty"));
    }
    let (file_type, files) = find_input_files(&options.input_dir, options.file_type)?;
    let tokenizer = Arc::new(DocumentTokenizer::load(&options.tokenizer_path)?);
    let dtype = tokenizer.dtype(options.dtype)?;
    if options.chunk_size == 0 || options.chunk_size > max_chunk_tokens(dtype) {
        return Err(Error::usage(format!(
            "chunk_size must be between 1 and {} tokens for {} (litdata's offsets are 32-bit), not {}",
            max_chunk_tokens(dtype),
            dtype.name(),
            options.chunk_size
        )));
    }
    let num_workers =
        if options.num_workers == 0 { std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1) } else { options.num_workers };
    let settings = Settings {
        file_type: file_type.name().to_owned(),
        text_key: options.text_key.clone(),
        tokenizer: tokenizer.fingerprint.clone(),
        dtype,
        chunk_size: options.chunk_size,
        val_fraction: options.val_fraction,
        seed: options.seed,
        max_documents: options.fast_dev_run.then_some(FAST_DEV_RUN_DOCUMENTS),
        files: files.iter().map(|f| (f.relative.clone(), f.size)).collect(),
    };

    let output_dir = &options.output_dir;
    std::fs::create_dir_all(output_dir).at(output_dir)?;
    let state = match PrepareState::load(output_dir)? {
        Some(mut state) => {
            state.adopt_settings(settings, output_dir)?;
            state
        }
        None => {
            clear_foreign_output(output_dir)?;
            PrepareState::new(settings)
        }
    };
    let files_resumed = state.files_done;
    let already_complete = state.complete;
    copy_tokenizer(&tokenizer, output_dir)?;
    let run = Run { options, files: &files, tokenizer, file_type, num_workers, cancel, started };
    let (state, this_run) = if state.complete { (state, Totals::default()) } else { run.execute(state, on_progress)? };

    let seconds = started.elapsed().as_secs_f64();
    let t = &state.totals;
    Ok(Summary {
        output_dir: output_dir.display().to_string(),
        file_type: file_type.name().to_owned(),
        dtype: dtype.name().to_owned(),
        files: files.len(),
        files_resumed,
        already_complete,
        train: SplitSummary { documents: t.train_documents, tokens: t.train_tokens, chunks: state.train.chunks.len() as u64 },
        val: SplitSummary { documents: t.val_documents, tokens: t.val_tokens, chunks: state.val.chunks.len() as u64 },
        skipped_null: t.skipped_null,
        skipped_empty: t.skipped_empty,
        num_workers,
        seconds,
        text_bytes: this_run.text_bytes,
        tokens: this_run.tokens,
        megabytes_per_second: this_run.text_bytes as f64 / 1e6 / seconds.max(1e-9),
        tokens_per_second: this_run.tokens as f64 / seconds.max(1e-9),
    })
}

/// The dataset carries the tokenizer that made it (`minilm inspect` decodes samples with it).
fn copy_tokenizer(tokenizer: &DocumentTokenizer, output_dir: &Path) -> Result<()> {
    let dir = output_dir.join("tokenizer");
    std::fs::create_dir_all(&dir).at(&dir)?;
    for name in ["tokenizer.json", "tokenizer_config.json"] {
        let source = tokenizer.path.with_file_name(name);
        if source.exists() {
            let bytes = std::fs::read(&source).at(&source)?;
            crate::util::write_atomically(&dir.join(name), &[&bytes])?;
        }
    }
    Ok(())
}

/// A folder without our state file may hold a finished dataset from elsewhere (refuse to mix with it) or
/// the leftovers of a run killed before its first commit (remove them).
fn clear_foreign_output(output_dir: &Path) -> Result<()> {
    for split in ["train", "val"] {
        let dir = output_dir.join(split);
        if dir.join(INDEX_FILE).exists() {
            return Err(Error::usage(format!(
                "{} already holds a dataset that this command did not write (or whose state file was deleted); choose a new output folder",
                dir.display()
            )));
        }
        if !dir.is_dir() {
            continue;
        }
        for entry in std::fs::read_dir(&dir).at(&dir)? {
            let path = entry.at(&dir)?.path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if (name.starts_with("chunk-") && name.ends_with(".bin")) || name.ends_with(".journal") || name.ends_with(".tmp") {
                std::fs::remove_file(&path).at(&path)?;
            }
        }
    }
    Ok(())
}

#[derive(Default)]
struct Totals {
    text_bytes: u64,
    documents: u64,
    tokens: u64,
}

struct Run<'a> {
    options: &'a PrepareOptions,
    files: &'a [InputFile],
    tokenizer: Arc<DocumentTokenizer>,
    file_type: FileType,
    num_workers: usize,
    cancel: &'a AtomicBool,
    started: Instant,
}

/// What the reader sends, numbered in file order.
enum Job {
    Batch { file: usize, batch: RawBatch },
    FileEnd { file: usize },
    Failed(Error),
}

/// What a worker sends back.
enum Outcome {
    Batch(TokenizedBatch),
    FileEnd { file: usize },
    Failed(Error),
}

struct TokenizedBatch {
    file: usize,
    /// (held out for validation?, ids) for each non-empty document, in order.
    documents: Vec<(bool, Vec<u32>)>,
    rows: u64,
    nulls: u64,
    empties: u64,
    text_bytes: u64,
    file_fraction: f64,
}

impl Run<'_> {
    fn execute(&self, mut state: PrepareState, on_progress: &mut dyn FnMut(&Progress)) -> Result<(PrepareState, Totals)> {
        let out = &self.options.output_dir;
        let (dtype, chunk_size) = (state.settings.dtype, state.settings.chunk_size);
        let mut train = ChunkWriter::open(&out.join("train"), dtype, chunk_size, state.train.chunks.clone(), &state.train.mark)?;
        let mut val = ChunkWriter::open(&out.join("val"), dtype, chunk_size, state.val.chunks.clone(), &state.val.mark)?;

        // Batches allowed between the reader and the writer: a few per worker keeps every worker busy.
        let in_flight = 4 * self.num_workers + 4;
        let (job_tx, job_rx) = mpsc::sync_channel::<(u64, Job)>(in_flight);
        let (result_tx, result_rx) = mpsc::sync_channel::<(u64, Outcome)>(in_flight);
        let (permit_tx, permit_rx) = mpsc::sync_channel::<()>(in_flight);
        for _ in 0..in_flight {
            permit_tx.send(()).expect("the permit channel has room for every permit");
        }
        let job_rx = Arc::new(Mutex::new(job_rx));
        let start_file = state.files_done;
        let start_rows = state.totals.rows;

        let mut totals = Totals::default();
        let result = std::thread::scope(|scope| {
            scope.spawn(move || self.read_files(start_file, start_rows, job_tx, permit_rx));
            for _ in 0..self.num_workers {
                let (jobs, results) = (Arc::clone(&job_rx), result_tx.clone());
                scope.spawn(move || self.tokenize_batches(&jobs, results));
            }
            drop(result_tx);
            self.write_in_order(&mut state, &mut train, &mut val, &mut totals, result_rx, permit_tx, on_progress)
        });
        result?;

        state.train.chunks = train.finish()?;
        state.val.chunks = val.finish()?;
        state.train.mark = Default::default();
        state.val.mark = Default::default();
        state.files_done = self.files.len();
        state.complete = true;
        state.save(out)?;
        Ok((state, totals))
    }

    /// The reader thread: every file from `start_file` on, in order, as numbered jobs.
    fn read_files(&self, start_file: usize, mut rows: u64, jobs: SyncSender<(u64, Job)>, permits: Receiver<()>) {
        let max_rows = self.options.fast_dev_run.then_some(FAST_DEV_RUN_DOCUMENTS);
        let mut seq = 0u64;
        // Each send first takes a permit; a closed channel means the writer stopped: so do we.
        let mut send = |job: Job| -> bool {
            let ok = permits.recv().is_ok() && jobs.send((seq, job)).is_ok();
            seq += 1;
            ok
        };
        for (index, file) in self.files.iter().enumerate().skip(start_file) {
            if max_rows.is_some_and(|m| rows >= m) {
                break;
            }
            let mut reader = match open_reader(self.file_type, &file.path, &self.options.text_key) {
                Ok(reader) => reader,
                Err(e) => {
                    send(Job::Failed(e));
                    return;
                }
            };
            loop {
                if self.cancel.load(Ordering::Relaxed) {
                    return;
                }
                match reader.next_batch() {
                    Ok(Some(mut batch)) => {
                        if let Some(max) = max_rows {
                            truncate_batch(&mut batch, max - rows);
                        }
                        rows += batch.texts.len() as u64;
                        if !send(Job::Batch { file: index, batch }) {
                            return;
                        }
                        if max_rows.is_some_and(|m| rows >= m) {
                            break;
                        }
                    }
                    Ok(None) => break,
                    Err(e) => {
                        send(Job::Failed(e));
                        return;
                    }
                }
            }
            if !send(Job::FileEnd { file: index }) {
                return;
            }
        }
    }

    /// A worker thread: tokenizes batches until the reader is done.
    fn tokenize_batches(&self, jobs: &Mutex<Receiver<(u64, Job)>>, results: SyncSender<(u64, Outcome)>) {
        loop {
            let next = jobs.lock().map(|rx| rx.recv());
            let Ok(Ok((seq, job))) = next else { return };
            let outcome = match job {
                Job::Batch { file, batch } => match self.tokenize(file, batch) {
                    Ok(tokenized) => Outcome::Batch(tokenized),
                    Err(e) => Outcome::Failed(e),
                },
                Job::FileEnd { file } => Outcome::FileEnd { file },
                Job::Failed(e) => Outcome::Failed(e),
            };
            if results.send((seq, outcome)).is_err() {
                return;
            }
        }
    }

    fn tokenize(&self, file: usize, batch: RawBatch) -> Result<TokenizedBatch> {
        let input = &self.files[file];
        let file_hash = stable_hash(input.relative.as_bytes());
        let (seed, val_fraction) = (self.options.seed, self.options.val_fraction);
        let mut out = TokenizedBatch {
            file,
            documents: Vec::with_capacity(batch.texts.len()),
            rows: batch.texts.len() as u64,
            nulls: 0,
            empties: 0,
            text_bytes: 0,
            file_fraction: batch.file_fraction,
        };
        let mut add = |row: u64, text: Option<&str>| -> Result<()> {
            match text {
                None => out.nulls += 1,
                Some("") => out.empties += 1,
                Some(text) => {
                    let ids = self.tokenizer.encode_document(text).map_err(|e| {
                        Error::input(&input.path, Some(format!("row {}", row + 1)), format!("cannot tokenize the text: {e}"))
                    })?;
                    out.text_bytes += text.len() as u64;
                    out.documents.push((is_validation(seed, file_hash, row, val_fraction), ids));
                }
            }
            Ok(())
        };
        match &batch.texts {
            Texts::Decoded(texts) => {
                for (i, text) in texts.iter().enumerate() {
                    add(batch.first_row + i as u64, text.as_deref())?;
                }
            }
            Texts::JsonLines { bytes, ends } => {
                let mut start = 0;
                for (i, &end) in ends.iter().enumerate() {
                    let row = batch.first_row + i as u64;
                    let line = &bytes[start..end];
                    start = end;
                    if line.iter().all(u8::is_ascii_whitespace) {
                        continue; // a blank line is not a document
                    }
                    let text = parse_json_line(&input.path, row, line, &self.options.text_key)?;
                    add(row, text.as_deref())?;
                }
            }
        }
        Ok(out)
    }

    /// The writer: results back into sequence order, appended to the shards, committed after each file.
    #[allow(clippy::too_many_arguments)]
    fn write_in_order(
        &self,
        state: &mut PrepareState,
        train: &mut ChunkWriter,
        val: &mut ChunkWriter,
        totals: &mut Totals,
        results: Receiver<(u64, Outcome)>,
        permits: SyncSender<()>,
        on_progress: &mut dyn FnMut(&Progress),
    ) -> Result<()> {
        let mut pending: BTreeMap<u64, Outcome> = BTreeMap::new();
        let mut next_seq = 0u64;
        let mut progress = Progress {
            files_done: state.files_done,
            files_total: self.files.len(),
            input_bytes_total: self.files.iter().map(|f| f.size).sum(),
            ..Progress::default()
        };
        let bytes_before = |file: usize| self.files[..file].iter().map(|f| f.size).sum::<u64>();
        progress.input_bytes_done = bytes_before(state.files_done);
        let mut last_report = Instant::now() - Duration::from_secs(1);
        let mut reader_done = false;
        loop {
            if self.cancel.load(Ordering::Relaxed) {
                return Err(Error::Cancelled);
            }
            while let Some(outcome) = pending.remove(&next_seq) {
                next_seq += 1;
                let _ = permits.send(());
                match outcome {
                    Outcome::Batch(batch) => {
                        let t = &mut state.totals;
                        for (is_val, ids) in &batch.documents {
                            let n = ids.len() as u64;
                            if *is_val {
                                val.append(ids)?;
                                t.val_documents += 1;
                                t.val_tokens += n;
                            } else {
                                train.append(ids)?;
                                t.train_documents += 1;
                                t.train_tokens += n;
                            }
                            totals.tokens += n;
                        }
                        totals.documents += batch.documents.len() as u64;
                        totals.text_bytes += batch.text_bytes;
                        t.rows += batch.rows;
                        t.skipped_null += batch.nulls;
                        t.skipped_empty += batch.empties;
                        t.text_bytes += batch.text_bytes;
                        let file = &self.files[batch.file];
                        progress.current_file = file.relative.clone();
                        progress.input_bytes_done = bytes_before(batch.file) + (batch.file_fraction.min(1.0) * file.size as f64) as u64;
                    }
                    Outcome::FileEnd { file } => {
                        state.files_done = file + 1;
                        commit(state, train, val, &self.options.output_dir)?;
                        progress.files_done = state.files_done;
                        progress.input_bytes_done = bytes_before(file + 1);
                    }
                    Outcome::Failed(e) => return Err(e),
                }
            }
            if last_report.elapsed() >= Duration::from_millis(100) || reader_done {
                progress.text_bytes = totals.text_bytes;
                progress.documents = totals.documents;
                progress.tokens = totals.tokens;
                progress.elapsed_seconds = self.started.elapsed().as_secs_f64();
                on_progress(&progress);
                last_report = Instant::now();
            }
            if reader_done {
                return match pending.is_empty() {
                    true => Ok(()),
                    false => Err(Error::usage(format!("internal error: batch {next_seq} never reached the writer"))),
                };
            }
            match results.recv_timeout(Duration::from_millis(100)) {
                Ok((seq, outcome)) => {
                    pending.insert(seq, outcome);
                }
                Err(RecvTimeoutError::Timeout) => {}
                // Every worker has exited: the reader is done and everything sent has arrived.
                Err(RecvTimeoutError::Disconnected) => {
                    if self.cancel.load(Ordering::Relaxed) {
                        return Err(Error::Cancelled);
                    }
                    reader_done = true;
                }
            }
        }
    }
}

fn commit(state: &mut PrepareState, train: &mut ChunkWriter, val: &mut ChunkWriter, output_dir: &Path) -> Result<()> {
    let (train_mark, val_mark) = (train.commit()?, val.commit()?);
    state.train = SplitState { chunks: train.closed_chunks().to_vec(), mark: train_mark };
    state.val = SplitState { chunks: val.closed_chunks().to_vec(), mark: val_mark };
    state.save(output_dir)?;
    train.after_commit()?;
    val.after_commit()
}

fn truncate_batch(batch: &mut RawBatch, keep: u64) {
    let keep = keep as usize;
    match &mut batch.texts {
        Texts::Decoded(texts) => texts.truncate(keep),
        Texts::JsonLines { bytes, ends } => {
            if ends.len() > keep {
                ends.truncate(keep);
                bytes.truncate(ends.last().copied().unwrap_or(0));
            }
        }
    }
}
