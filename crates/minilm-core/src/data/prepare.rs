//! `minilm prepare`: input files -> token shards, in parallel, deterministic, resumable.
//!
//! With dedup or filters on, a [`screen`] pass first decides which documents to drop; then the tokenizing
//! pass runs (both are a [`Pass`]: one reader, `num_workers` workers, results put back in file order, so
//! the bytes written never depend on the number of workers or on timing).
//!
//! After each input file the writer commits: it journals the open chunks, then atomically rewrites the
//! state file. A run stopped at any moment resumes from the last commit and produces the same bytes.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;

pub use crate::data::pipeline::Progress;
use crate::data::pipeline::{Pass, PassProgress, Sink};
use crate::data::prepare_state::{is_validation, PrepareState, Settings, SplitState};
use crate::data::readers::RawBatch;
use crate::data::screen::{self, DroppedRows, FilterReport, ScreenFingerprint, ScreenJob, ScreenSettings};
use crate::data::sharding::Shard;
use crate::data::shards::{max_chunk_tokens, ChunkWriter, INDEX_FILE};
use crate::data::sources::{find_input_files, kinds_label, FileSelection, InputFile};
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
    pub file_type: FileSelection,
    pub tokenizer_path: PathBuf,
    pub fast_dev_run: bool,
    /// Tokenizing threads; 0 means one per core.
    pub num_workers: usize,
    pub chunk_size: u64,
    pub val_fraction: f64,
    pub seed: u64,
    /// Token type on disk; None picks the smallest that holds the tokenizer's ids.
    pub dtype: Option<TokenDtype>,
    /// Dedup and quality filters; empty: keep every document.
    pub screen: ScreenSettings,
    /// Only screen and write the report (OUTPUT_DIR/filter-report.json); tokenize nothing.
    pub dry_run_filters: bool,
    /// Tokenize only this part of the input, into OUTPUT_DIR/shards/ (data/sharding.rs).
    pub shard: Option<Shard>,
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
    /// The kinds of input read: `parquet`, or `parquet+jsonl` for a mixed folder read with `auto`.
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
    /// Documents the filters and the dedup dropped (0 when neither is on).
    pub dropped_by_filters: u64,
    pub dropped_duplicates: u64,
    /// Where the screening report is, when there was screening.
    pub filter_report: Option<String>,
    /// True for `--dry_run_filters`: only the report was written.
    pub dry_run: bool,
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
    let all_files = find_input_files(&options.input_dir, options.file_type)?;
    let file_type = kinds_label(&all_files);
    let (files, output_dir, shard) = match options.shard {
        Some(shard) => {
            // The filters judge each document alone, so each shard runs them on its own files; dedup compares
            // documents across the whole input.
            if !options.screen.dedup.is_empty() {
                return Err(Error::usage(
                    "dedup does not run with --shard: it compares documents across the whole input; prepare on one machine to dedup (--filters do run per shard)",
                ));
            }
            if options.dry_run_filters {
                return Err(Error::usage("dry_run_filters reports on the whole input; run it without --shard"));
            }
            if options.fast_dev_run {
                return Err(Error::usage("fast_dev_run takes the first documents of the whole input; run it without --shard"));
            }
            (shard.files(&all_files), shard.folder(&options.output_dir), Some(shard.of_input(&all_files)))
        }
        None => (all_files, options.output_dir.clone(), None),
    };
    let output_dir = &output_dir;
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
    let max_rows = options.fast_dev_run.then_some(FAST_DEV_RUN_DOCUMENTS);
    let screen_fingerprint = (!options.screen.is_empty())
        .then(|| ScreenFingerprint::new(&options.screen, &file_type, &options.text_key, max_rows, &files))
        .transpose()?;
    let settings = Settings {
        file_type: file_type.clone(),
        text_key: options.text_key.clone(),
        tokenizer: tokenizer.fingerprint.clone(),
        dtype,
        chunk_size: options.chunk_size,
        val_fraction: options.val_fraction,
        seed: options.seed,
        max_documents: max_rows,
        files: files.iter().map(|f| (f.relative.clone(), f.size)).collect(),
        dedup: screen_fingerprint.as_ref().map(|f| f.dedup.clone()).unwrap_or_default(),
        minhash: screen_fingerprint.as_ref().and_then(|f| f.minhash.clone()),
        filters: screen_fingerprint.as_ref().map(|f| f.filters.clone()).filter(|f| !f.is_empty()),
        blocklist: screen_fingerprint.as_ref().and_then(|f| f.blocklist),
        shard,
    };

    std::fs::create_dir_all(output_dir).at(output_dir)?;
    let earlier = PrepareState::load(output_dir)?;
    let pass = |start_file: usize, start_rows: u64| Pass {
        files: &files,
        text_key: &options.text_key,
        start_file,
        start_rows,
        max_rows,
        num_workers,
        cancel,
    };
    let screen_job = |fingerprint: ScreenFingerprint| ScreenJob { settings: &options.screen, fingerprint, output_dir, pass: pass(0, 0) };

    if options.dry_run_filters {
        let Some(fingerprint) = screen_fingerprint else {
            return Err(Error::usage("dry_run_filters needs dedup or filters to try"));
        };
        if let Some(state) = earlier.filter(|s| s.complete && s.settings.screening() != settings.screening()) {
            return Err(Error::usage(format!(
                "{} holds a finished dataset screened with other settings ({}); dry-run into another output folder",
                output_dir.display(),
                state.settings.screening_description()
            )));
        }
        let screening = screen::screen(screen_job(fingerprint), on_progress, started)?;
        return Ok(Summary::dry_run(options, &file_type, dtype, files.len(), num_workers, &screening.report, started));
    }

    let state = match earlier {
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
    let (state, this_run, report) = if state.complete {
        (state, Totals::default(), screen::read_report(output_dir)?.filter(|_| screen_fingerprint.is_some()))
    } else {
        let screening = screen_fingerprint.map(|f| screen::screen(screen_job(f), on_progress, started)).transpose()?;
        let (dropped, report) = match screening {
            Some(s) => (Some(s.dropped), Some(s.report)),
            None => (None, None),
        };
        let rank = options.shard.map_or(0, |s| s.index);
        let run = Tokenize { options, output_dir, rank, files: &files, tokenizer, dropped: dropped.as_ref() };
        let (state, totals) = run.execute(state, pass, on_progress, started)?;
        (state, totals, report)
    };

    let seconds = started.elapsed().as_secs_f64();
    let t = &state.totals;
    let dropped_by = |f: &dyn Fn(&FilterReport) -> u64| report.as_ref().map(f).unwrap_or(0);
    Ok(Summary {
        output_dir: output_dir.display().to_string(),
        file_type,
        dtype: dtype.name().to_owned(),
        files: files.len(),
        files_resumed,
        already_complete,
        train: SplitSummary { documents: t.train_documents, tokens: t.train_tokens, chunks: state.train.chunks.len() as u64 },
        val: SplitSummary { documents: t.val_documents, tokens: t.val_tokens, chunks: state.val.chunks.len() as u64 },
        skipped_null: t.skipped_null,
        skipped_empty: t.skipped_empty,
        dropped_by_filters: dropped_by(&|r| r.rules.iter().map(|x| x.dropped).sum()),
        dropped_duplicates: dropped_by(&|r| r.dedup.iter().map(|x| x.dropped).sum()),
        filter_report: report.as_ref().map(|_| output_dir.join(screen::REPORT_FILE).display().to_string()),
        dry_run: false,
        num_workers,
        seconds,
        text_bytes: this_run.text_bytes,
        tokens: this_run.tokens,
        megabytes_per_second: this_run.text_bytes as f64 / 1e6 / seconds.max(1e-9),
        tokens_per_second: this_run.tokens as f64 / seconds.max(1e-9),
    })
}

impl Summary {
    fn dry_run(
        options: &PrepareOptions,
        file_type: &str,
        dtype: TokenDtype,
        files: usize,
        num_workers: usize,
        report: &FilterReport,
        started: Instant,
    ) -> Summary {
        let empty = || SplitSummary { documents: 0, tokens: 0, chunks: 0 };
        Summary {
            output_dir: options.output_dir.display().to_string(),
            file_type: file_type.to_owned(),
            dtype: dtype.name().to_owned(),
            files,
            files_resumed: 0,
            already_complete: false,
            train: empty(),
            val: empty(),
            skipped_null: 0,
            skipped_empty: 0,
            dropped_by_filters: report.rules.iter().map(|r| r.dropped).sum(),
            dropped_duplicates: report.dedup.iter().map(|d| d.dropped).sum(),
            filter_report: Some(options.output_dir.join(screen::REPORT_FILE).display().to_string()),
            dry_run: true,
            num_workers,
            seconds: started.elapsed().as_secs_f64(),
            text_bytes: 0,
            tokens: 0,
            megabytes_per_second: 0.0,
            tokens_per_second: 0.0,
        }
    }
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
    tokens: u64,
}

/// The tokenizing pass.
struct Tokenize<'a> {
    options: &'a PrepareOptions,
    /// The output folder, or a shard's folder in it.
    output_dir: &'a Path,
    /// The chunk writers' rank: the shard's index, else 0.
    rank: usize,
    files: &'a [InputFile],
    tokenizer: Arc<DocumentTokenizer>,
    /// Rows the screen dropped.
    dropped: Option<&'a DroppedRows>,
}

struct TokenizedBatch {
    /// (held out for validation?, ids) for each kept document, in order.
    documents: Vec<(bool, Vec<u32>)>,
    rows: u64,
    nulls: u64,
    empties: u64,
    text_bytes: u64,
}

impl Tokenize<'_> {
    fn execute<'p>(
        &self,
        mut state: PrepareState,
        pass: impl Fn(usize, u64) -> Pass<'p>,
        on_progress: &mut dyn FnMut(&Progress),
        started: Instant,
    ) -> Result<(PrepareState, Totals)> {
        let out = self.output_dir;
        let (dtype, chunk_size) = (state.settings.dtype, state.settings.chunk_size);
        let train =
            ChunkWriter::open_ranked(&out.join("train"), self.rank, dtype, chunk_size, state.train.chunks.clone(), &state.train.mark)?;
        let val = ChunkWriter::open_ranked(&out.join("val"), self.rank, dtype, chunk_size, state.val.chunks.clone(), &state.val.mark)?;
        let pass = pass(state.files_done, state.totals.rows);
        let work = |file: usize, batch: RawBatch| self.tokenize(file, batch);
        let mut writer = Writer {
            output_dir: out,
            progress: PassProgress::new(self.files, "tokenizing", state.files_done, started),
            state: &mut state,
            train,
            val,
            totals: Totals::default(),
            on_progress,
        };
        pass.run(&work, &mut writer)?;

        let Writer { train, val, totals, .. } = writer;
        state.train.chunks = train.finish()?;
        state.val.chunks = val.finish()?;
        state.train.mark = Default::default();
        state.val.mark = Default::default();
        state.files_done = self.files.len();
        state.complete = true;
        state.save(out)?;
        Ok((state, totals))
    }

    fn tokenize(&self, file: usize, batch: RawBatch) -> Result<TokenizedBatch> {
        let input = &self.files[file];
        let file_hash = stable_hash(input.relative.as_bytes());
        let (seed, val_fraction) = (self.options.seed, self.options.val_fraction);
        let mut out = TokenizedBatch {
            documents: Vec::with_capacity(batch.texts.len()),
            rows: batch.texts.len() as u64,
            nulls: 0,
            empties: 0,
            text_bytes: 0,
        };
        batch.for_each_text(&input.path, &self.options.text_key, |row, text| {
            match text {
                None => out.nulls += 1,
                Some("") => out.empties += 1,
                Some(_) if self.dropped.is_some_and(|d| d.contains(file, row)) => {}
                Some(text) => {
                    let ids = self.tokenizer.encode_document(text).map_err(|e| {
                        Error::input(&input.path, Some(format!("row {}", row + 1)), format!("cannot tokenize the text: {e}"))
                    })?;
                    out.text_bytes += text.len() as u64;
                    out.documents.push((is_validation(seed, file_hash, row, val_fraction), ids));
                }
            }
            Ok(())
        })?;
        Ok(out)
    }
}

/// The tokenizing pass's sink: documents appended to the shards in order, committed after each file.
struct Writer<'a, 'p> {
    output_dir: &'a Path,
    state: &'a mut PrepareState,
    train: ChunkWriter,
    val: ChunkWriter,
    totals: Totals,
    progress: PassProgress<'a>,
    on_progress: &'p mut dyn FnMut(&Progress),
}

impl Sink<TokenizedBatch> for Writer<'_, '_> {
    fn batch(&mut self, file: usize, file_fraction: f64, batch: TokenizedBatch) -> Result<()> {
        let t = &mut self.state.totals;
        for (is_val, ids) in &batch.documents {
            let n = ids.len() as u64;
            if *is_val {
                self.val.append(ids)?;
                t.val_documents += 1;
                t.val_tokens += n;
            } else {
                self.train.append(ids)?;
                t.train_documents += 1;
                t.train_tokens += n;
            }
            self.totals.tokens += n;
        }
        let tokens = batch.documents.iter().map(|(_, ids)| ids.len() as u64).sum();
        self.progress.add(batch.documents.len() as u64, batch.text_bytes, tokens);
        self.totals.text_bytes += batch.text_bytes;
        t.rows += batch.rows;
        t.skipped_null += batch.nulls;
        t.skipped_empty += batch.empties;
        t.text_bytes += batch.text_bytes;
        self.progress.batch(file, file_fraction);
        Ok(())
    }

    fn file_end(&mut self, file: usize) -> Result<()> {
        self.state.files_done = file + 1;
        commit(self.state, &mut self.train, &mut self.val, self.output_dir)?;
        self.progress.file_end(file);
        Ok(())
    }

    fn tick(&mut self) {
        (self.on_progress)(self.progress.now());
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
