//! The parallel pass over the input files that `prepare`'s stages share (screening, then tokenizing):
//! three kinds of thread, joined by bounded channels.
//!
//! ```text
//!   reader (1)  --jobs-->  workers (num_workers)  --results-->  sink (the caller's thread)
//!      ^                                                            |
//!      +------------------------- permits ---------------------------+
//! ```
//!
//! The reader walks the files in sorted order and numbers every batch it sends. Workers process batches
//! in whatever order they get them; the sink receives the results back in sequence order, so what it
//! writes never depends on the number of workers or on timing. The reader may run at most a fixed number
//! of batches ahead of the sink (the permits), which bounds memory whatever the input size.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::data::readers::{open_reader, RawBatch, Texts};
use crate::data::sources::InputFile;
use crate::error::{Error, Result};

/// Reported to the caller a few times a second while a pass runs.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Progress {
    /// "screening" (filters and dedup) or "tokenizing".
    pub stage: String,
    pub files_done: usize,
    pub files_total: usize,
    pub current_file: String,
    /// Input bytes processed (finished files plus the part of the current one), and in all.
    pub input_bytes_done: u64,
    pub input_bytes_total: u64,
    /// Text bytes, documents and tokens processed by this pass (not counting a resumed run's earlier work).
    pub text_bytes: u64,
    pub documents: u64,
    pub tokens: u64,
    pub elapsed_seconds: f64,
}

/// Keeps a pass's [`Progress`] as its sink sees batches and file ends.
pub struct PassProgress<'a> {
    files: &'a [InputFile],
    /// Input bytes before each file, and in all.
    offsets: Vec<u64>,
    progress: Progress,
    started: Instant,
}

impl<'a> PassProgress<'a> {
    pub fn new(files: &'a [InputFile], stage: &str, files_done: usize, started: Instant) -> Self {
        let mut offsets = vec![0u64];
        for file in files {
            offsets.push(offsets[offsets.len() - 1] + file.size);
        }
        let progress = Progress {
            stage: stage.to_owned(),
            files_done,
            files_total: files.len(),
            input_bytes_total: offsets[files.len()],
            input_bytes_done: offsets[files_done],
            ..Progress::default()
        };
        PassProgress { files, offsets, progress, started }
    }

    pub fn add(&mut self, documents: u64, text_bytes: u64, tokens: u64) {
        self.progress.documents += documents;
        self.progress.text_bytes += text_bytes;
        self.progress.tokens += tokens;
    }

    pub fn batch(&mut self, file: usize, file_fraction: f64) {
        let size = self.files[file].size;
        self.progress.current_file = self.files[file].relative.clone();
        self.progress.input_bytes_done = self.offsets[file] + (file_fraction.min(1.0) * size as f64) as u64;
    }

    pub fn file_end(&mut self, file: usize) {
        self.progress.files_done = file + 1;
        self.progress.input_bytes_done = self.offsets[file + 1];
    }

    pub fn now(&mut self) -> &Progress {
        self.progress.elapsed_seconds = self.started.elapsed().as_secs_f64();
        &self.progress
    }
}

/// One pass over `files[start_file..]`.
pub struct Pass<'a> {
    pub files: &'a [InputFile],
    pub text_key: &'a str,
    pub start_file: usize,
    /// Rows read before `start_file` (what `max_rows` counts from).
    pub start_rows: u64,
    /// Stop after this many rows in all (`--fast_dev_run`).
    pub max_rows: Option<u64>,
    pub num_workers: usize,
    pub cancel: &'a AtomicBool,
}

/// What receives a pass's results, in file order.
pub trait Sink<T> {
    /// A batch's result; `file_fraction` is how far into its file the batch ends (0 to 1).
    fn batch(&mut self, file: usize, file_fraction: f64, output: T) -> Result<()>;
    /// Every batch of `file` has been given to `batch`.
    fn file_end(&mut self, file: usize) -> Result<()>;
    /// Called about ten times a second, and once at the end: the time to report progress.
    fn tick(&mut self);
}

/// What the reader sends, numbered in file order.
enum Job {
    Batch { file: usize, batch: RawBatch },
    FileEnd { file: usize },
    Failed(Error),
}

/// What a worker sends back.
enum Outcome<T> {
    Batch { file: usize, file_fraction: f64, output: T },
    FileEnd { file: usize },
    Failed(Error),
}

impl Pass<'_> {
    /// Runs `work` on every batch in parallel and hands the results to `sink` in order.
    pub fn run<T: Send>(&self, work: &(dyn Fn(usize, RawBatch) -> Result<T> + Sync), sink: &mut dyn Sink<T>) -> Result<()> {
        // Batches allowed between the reader and the sink: a few per worker keeps every worker busy.
        let in_flight = 4 * self.num_workers + 4;
        let (job_tx, job_rx) = mpsc::sync_channel::<(u64, Job)>(in_flight);
        let (result_tx, result_rx) = mpsc::sync_channel::<(u64, Outcome<T>)>(in_flight);
        let (permit_tx, permit_rx) = mpsc::sync_channel::<()>(in_flight);
        for _ in 0..in_flight {
            permit_tx.send(()).expect("the permit channel has room for every permit");
        }
        let job_rx = Arc::new(Mutex::new(job_rx));
        std::thread::scope(|scope| {
            scope.spawn(move || self.read_files(job_tx, permit_rx));
            for _ in 0..self.num_workers {
                let (jobs, results) = (Arc::clone(&job_rx), result_tx.clone());
                scope.spawn(move || work_on_batches(work, &jobs, results));
            }
            drop(result_tx);
            self.deliver_in_order(sink, result_rx, permit_tx)
        })
    }

    /// The reader thread: every file from `start_file` on, in order, as numbered jobs.
    fn read_files(&self, jobs: SyncSender<(u64, Job)>, permits: Receiver<()>) {
        let mut rows = self.start_rows;
        let mut seq = 0u64;
        // Each send first takes a permit; a closed channel means the sink stopped: so do we.
        let mut send = |job: Job| -> bool {
            let ok = permits.recv().is_ok() && jobs.send((seq, job)).is_ok();
            seq += 1;
            ok
        };
        let full = |rows: u64| self.max_rows.is_some_and(|m| rows >= m);
        for (index, file) in self.files.iter().enumerate().skip(self.start_file) {
            if full(rows) {
                break;
            }
            let mut reader = match open_reader(file.kind, &file.path, self.text_key) {
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
                        if let Some(max) = self.max_rows {
                            truncate_batch(&mut batch, max - rows);
                        }
                        rows += batch.texts.len() as u64;
                        if !send(Job::Batch { file: index, batch }) {
                            return;
                        }
                        if full(rows) {
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

    /// The sink's side: results back into sequence order.
    fn deliver_in_order<T>(&self, sink: &mut dyn Sink<T>, results: Receiver<(u64, Outcome<T>)>, permits: SyncSender<()>) -> Result<()> {
        let mut pending: BTreeMap<u64, Outcome<T>> = BTreeMap::new();
        let mut next_seq = 0u64;
        let mut last_tick = Instant::now() - Duration::from_secs(1);
        let mut reader_done = false;
        loop {
            if self.cancel.load(Ordering::Relaxed) {
                return Err(Error::Cancelled);
            }
            while let Some(outcome) = pending.remove(&next_seq) {
                next_seq += 1;
                let _ = permits.send(());
                match outcome {
                    Outcome::Batch { file, file_fraction, output } => sink.batch(file, file_fraction, output)?,
                    Outcome::FileEnd { file } => sink.file_end(file)?,
                    Outcome::Failed(e) => return Err(e),
                }
            }
            if last_tick.elapsed() >= Duration::from_millis(100) || reader_done {
                sink.tick();
                last_tick = Instant::now();
            }
            if reader_done {
                return match pending.is_empty() {
                    true => Ok(()),
                    false => Err(Error::internal(format!("batch {next_seq} never reached the writer"))),
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

/// A worker thread: processes batches until the reader is done.
fn work_on_batches<T>(
    work: &(dyn Fn(usize, RawBatch) -> Result<T> + Sync),
    jobs: &Mutex<Receiver<(u64, Job)>>,
    results: SyncSender<(u64, Outcome<T>)>,
) {
    loop {
        let next = jobs.lock().map(|rx| rx.recv());
        let Ok(Ok((seq, job))) = next else { return };
        let outcome = match job {
            Job::Batch { file, batch } => {
                let file_fraction = batch.file_fraction;
                match work(file, batch) {
                    Ok(output) => Outcome::Batch { file, file_fraction, output },
                    Err(e) => Outcome::Failed(e),
                }
            }
            Job::FileEnd { file } => Outcome::FileEnd { file },
            Job::Failed(e) => Outcome::Failed(e),
        };
        if results.send((seq, outcome)).is_err() {
            return;
        }
    }
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
