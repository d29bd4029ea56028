//! SFT data on disk: conversations read from JSON Lines, made into examples (sft/example.rs) and
//! written to one folder the trainer reads at random:
//!
//! - `tokens.bin`: every example's ids, little-endian u32, one example after another;
//! - `mask.bin`: one byte per token, 1 where the loss is taken;
//! - `offsets.bin`: little-endian u64, where each example starts in tokens.bin, then the total;
//! - `splits.bin`: one byte per example, 0 train, 1 validation;
//! - `sft-data.json`: the summary, with the fingerprint of what made the folder. It is written last, and
//!   the folder is built aside and renamed into place, so a folder with it is complete.
//!
//! A record goes to validation when a hash of the seed, its file and its line falls under
//! val_split_fraction, so the split does not depend on the other records or on the thread count; a
//! record split into one example per reply keeps all of them on one side. A folder with train.* and
//! val.* files gives its own split instead.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::example::{Built, Example, ExampleBuilder, Skip};
use super::formats::{to_messages, ConversationFormat};
use super::preferences::to_pair;
use super::records::{find_record_files, RawRecord, RecordBody, RecordReader};
use crate::data::chat_template::ChatTemplate;
use crate::data::prepare::Progress;
use crate::data::tokenizer::DocumentTokenizer;
use crate::data::windows::check_vocabulary;
use crate::error::{Error, IoContext, Result};
use crate::util::{stable_hash, write_atomically, SplitMix64};

pub const SUMMARY_FILE: &str = "sft-data.json";
const FORMAT_VERSION: &str = "minilm-sft-data-1";
/// Records rendered and encoded together on the thread pool.
const BATCH: usize = 256;
/// Skipped records quoted in the summary.
const SKIP_EXAMPLES: usize = 5;

#[derive(Clone, Debug)]
pub struct SftDataOptions {
    /// A conversation file, or a folder of them.
    pub json_path: PathBuf,
    pub output_dir: PathBuf,
    /// The folder with tokenizer.json and the tokenizer_config.json that holds the chat template.
    pub tokenizer_dir: PathBuf,
    /// None detects each file's format from its first record.
    pub format: Option<ConversationFormat>,
    pub mask_prompt: bool,
    /// Positions the model sees; examples keep max_seq_length + 1 tokens.
    pub max_seq_length: usize,
    pub val_split_fraction: f64,
    pub seed: u64,
    /// Preference pairs for DPO (sft/preferences.rs) instead of conversations: each record gives two
    /// examples one after the other, the chosen reply's then the rejected one's, scored on the replies.
    pub preferences: bool,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct SftDataSummary {
    pub format_version: String,
    pub fingerprint: String,
    pub output_dir: String,
    /// Each file and the format its records were read as.
    pub files: Vec<(String, String)>,
    pub records: u64,
    pub train_examples: u64,
    pub val_examples: u64,
    /// Tokens in all examples, and those the loss is taken on.
    pub tokens: u64,
    pub trained_tokens: u64,
    /// Examples cut at max_seq_length + 1 tokens (still trained on what is left).
    pub truncated: u64,
    /// Conversations made into one example per reply (their template rewrites earlier turns).
    pub split_by_reply: u64,
    pub skipped_empty: u64,
    pub skipped_no_assistant: u64,
    pub skipped_truncated_away: u64,
    /// Preference pairs: replies the same, or a reply cut by max_seq_length.
    #[serde(default)]
    pub skipped_identical: u64,
    #[serde(default)]
    pub skipped_reply_too_long: u64,
    /// A few skipped records, as "file line N: why".
    pub skipped_examples: Vec<String>,
    /// True when the folder was already complete for these settings and nothing was done.
    #[serde(default)]
    pub reused: bool,
    #[serde(default)]
    pub seconds: f64,
}

/// Builds the SFT data folder, or reuses it when it is complete for the same inputs and settings.
pub fn prepare_sft_data(options: &SftDataOptions, on_progress: &mut dyn FnMut(&Progress), cancel: &AtomicBool) -> Result<SftDataSummary> {
    let started = Instant::now();
    let inputs = find_record_files(&options.json_path)?;
    let tokenizer = DocumentTokenizer::load(&options.tokenizer_dir)?;
    let template = ChatTemplate::load(&options.tokenizer_dir)?;
    let fingerprint = fingerprint(options, &inputs.files, &tokenizer, &template)?;
    if let Some(mut existing) = read_summary(&options.output_dir).ok().filter(|s| s.fingerprint == fingerprint) {
        existing.reused = true;
        existing.seconds = started.elapsed().as_secs_f64();
        return Ok(existing);
    }

    let partial = options.output_dir.with_file_name(format!(
        "{}.partial",
        options.output_dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "sft-data".into())
    ));
    let _ = std::fs::remove_dir_all(&partial);
    std::fs::create_dir_all(&partial).at(&partial)?;
    let builder = ExampleBuilder {
        template: &template,
        tokenizer: &tokenizer,
        mask_prompt: options.mask_prompt,
        max_tokens: options.max_seq_length + 1,
    };
    let mut writer = ExampleWriter::create(&partial)?;
    let mut summary = SftDataSummary { format_version: FORMAT_VERSION.into(), fingerprint, ..SftDataSummary::default() };
    let sizes: Vec<u64> = inputs.files.iter().map(|f| std::fs::metadata(f).map(|m| m.len()).unwrap_or(0)).collect();
    let mut progress = Progress { files_total: inputs.files.len(), input_bytes_total: sizes.iter().sum(), ..Progress::default() };
    for (file_index, path) in inputs.files.iter().enumerate() {
        let forced_val = inputs.given_split.then_some(file_index == 1);
        let mut reader = RecordReader::open(path)?;
        let mut format = options.format;
        progress.current_file = path.display().to_string();
        loop {
            if cancel.load(Ordering::Relaxed) {
                return Err(Error::Cancelled);
            }
            let mut batch = Vec::with_capacity(BATCH);
            while batch.len() < BATCH {
                match reader.next_record()? {
                    Some(record) => batch.push(record),
                    None => break,
                }
            }
            if batch.is_empty() {
                break;
            }
            let parsed: Vec<_> = batch.iter().map(|r| parse_record(path, r)).collect::<Result<_>>()?;
            if options.preferences {
                format = None;
            } else if format.is_none() {
                format = Some(ConversationFormat::detect(&parsed[0]).ok_or_else(|| unknown_format(path, &batch[0]))?);
            }
            let built: Vec<std::result::Result<Built, String>> = parsed
                .par_iter()
                .map(|record| match format {
                    Some(format) => to_messages(record, format).and_then(|messages| builder.build(&messages, record.get("tools"))),
                    None => build_pair(&builder, record),
                })
                .collect();
            for ((record, result), object) in batch.iter().zip(built).zip(&parsed) {
                let location = || Some(record.location());
                let built = result.map_err(|message| {
                    // A record of another shape fails as this file's format: say which one that is.
                    let hint = match (format, ConversationFormat::detect(object)) {
                        (None, _) => String::new(),
                        (Some(format), Some(own)) if own == format => String::new(),
                        (Some(format), _) => format!("; this file's records are read as {} {}", format.name(), format.shape()),
                    };
                    Error::input(path, location(), format!("{message}{hint}"))
                })?;
                summary.records += 1;
                let val = forced_val.unwrap_or_else(|| goes_to_validation(options, path, record.number));
                match built {
                    Built::Skipped(skip) => summary.count_skip(skip, || format!("{} {}", path.display(), record.location())),
                    Built::Examples { examples, split_by_reply } => {
                        summary.split_by_reply += u64::from(split_by_reply);
                        for example in examples {
                            summary.count_example(&example, val);
                            writer.append(&example, val)?;
                        }
                    }
                }
            }
            progress.input_bytes_done =
                sizes[..file_index].iter().sum::<u64>() + reader.bytes_read.load(Ordering::Relaxed).min(sizes[file_index]);
            progress.documents = summary.records;
            progress.tokens = summary.tokens;
            progress.elapsed_seconds = started.elapsed().as_secs_f64();
            on_progress(&progress);
        }
        progress.files_done = file_index + 1;
        let read_as = if options.preferences { "preferences" } else { format.map_or("empty", |f| f.name()) };
        summary.files.push((path.display().to_string(), read_as.to_string()));
    }
    if summary.train_examples == 0 {
        return Err(Error::input(
            &options.json_path,
            None,
            format!(
                "gave no training example ({} records: {} empty, {} without an assistant turn, {} with no assistant token within max_seq_length, \
                 {} pairs with identical replies, {} pairs with a reply longer than max_seq_length, {} for validation)",
                summary.records,
                summary.skipped_empty,
                summary.skipped_no_assistant,
                summary.skipped_truncated_away,
                summary.skipped_identical,
                summary.skipped_reply_too_long,
                summary.val_examples
            ),
        ));
    }
    writer.finish()?;
    summary.output_dir = options.output_dir.display().to_string();
    summary.seconds = started.elapsed().as_secs_f64();
    let json = serde_json::to_vec_pretty(&summary).map_err(|e| Error::internal(format!("{SUMMARY_FILE}: {e}")))?;
    write_atomically(&partial.join(SUMMARY_FILE), &[&json])?;
    let _ = std::fs::remove_dir_all(&options.output_dir);
    std::fs::rename(&partial, &options.output_dir).at(&options.output_dir)?;
    Ok(summary)
}

impl SftDataSummary {
    /// A skipped record; `location` ("file line N") is quoted for the first few.
    fn count_skip(&mut self, skip: Skip, location: impl FnOnce() -> String) {
        match skip {
            Skip::Empty => self.skipped_empty += 1,
            Skip::NoAssistant => self.skipped_no_assistant += 1,
            Skip::TruncatedAway => self.skipped_truncated_away += 1,
            Skip::Identical => self.skipped_identical += 1,
            Skip::ReplyTooLong => self.skipped_reply_too_long += 1,
        }
        if self.skipped_examples.len() < SKIP_EXAMPLES {
            self.skipped_examples.push(format!("{}: {}", location(), skip.reason()));
        }
    }

    fn count_example(&mut self, example: &Example, val: bool) {
        self.truncated += u64::from(example.truncated);
        self.tokens += example.ids.len() as u64;
        self.trained_tokens += example.mask.iter().map(|&m| m as u64).sum::<u64>();
        if val {
            self.val_examples += 1;
        } else {
            self.train_examples += 1;
        }
    }
}

impl Skip {
    fn reason(self) -> &'static str {
        match self {
            Skip::Empty => "an empty conversation",
            Skip::NoAssistant => "no assistant turn",
            Skip::TruncatedAway => "no assistant token within max_seq_length",
            Skip::Identical => "the chosen and the rejected reply are the same",
            Skip::ReplyTooLong => "a reply does not fit max_seq_length",
        }
    }
}

/// A preference record's two examples, the chosen reply's then the rejected one's, or why it is skipped.
fn build_pair(builder: &ExampleBuilder, record: &serde_json::Map<String, Value>) -> std::result::Result<Built, String> {
    let pair = to_pair(record)?;
    if pair.chosen == pair.rejected {
        return Ok(Built::Skipped(Skip::Identical));
    }
    let mut examples = Vec::with_capacity(2);
    for reply in [&pair.chosen, &pair.rejected] {
        match builder.build_reply(&pair.prompt, reply, record.get("tools"))? {
            Built::Examples { examples: built, .. } if built.iter().any(|e| e.truncated) => return Ok(Built::Skipped(Skip::ReplyTooLong)),
            Built::Examples { examples: mut built, .. } if built.len() == 1 => examples.push(built.remove(0)),
            Built::Examples { .. } => {
                return Err("has a reply the chat template renders as several examples (it rewrites earlier turns); \
                            a preference pair needs each reply in one text"
                    .into())
            }
            Built::Skipped(Skip::TruncatedAway) => return Ok(Built::Skipped(Skip::ReplyTooLong)),
            Built::Skipped(skip) => return Ok(Built::Skipped(skip)),
        }
    }
    Ok(Built::Examples { examples, split_by_reply: false })
}

fn parse_record(path: &Path, record: &RawRecord) -> Result<serde_json::Map<String, Value>> {
    let value = match &record.body {
        RecordBody::Parsed(value) => value.clone(),
        RecordBody::Line(line) => serde_json::from_slice(line).map_err(|e| {
            Error::input(path, Some(record.location()), format!("is not valid JSON ({e}); expected one conversation object per line"))
        })?,
    };
    match value {
        Value::Object(object) => Ok(object),
        other => Err(Error::input(path, Some(record.location()), format!("must be a JSON object, not {other}"))),
    }
}

fn unknown_format(path: &Path, record: &RawRecord) -> Error {
    let shapes: Vec<String> = ConversationFormat::ALL.iter().map(|f| format!("{} {}", f.name(), f.shape())).collect();
    Error::input(path, Some(record.location()), format!("matches no conversation format; expected one of: {}", shapes.join("; ")))
}

fn goes_to_validation(options: &SftDataOptions, path: &Path, number: u64) -> bool {
    if options.val_split_fraction <= 0.0 {
        return false;
    }
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let key = format!("{}|{name}|{number}", options.seed);
    // FNV's high bits barely change between similar keys: SplitMix64 mixes them into a uniform draw.
    SplitMix64::new(stable_hash(key.as_bytes())).next_f64() < options.val_split_fraction
}

/// What the folder depends on: the input files (names, sizes, modification times), the tokenizer and its
/// template, and the settings.
fn fingerprint(options: &SftDataOptions, files: &[PathBuf], tokenizer: &DocumentTokenizer, template: &ChatTemplate) -> Result<String> {
    let mut key = format!(
        "{FORMAT_VERSION}|{}|{:?}|{}|{}|{}|{}",
        tokenizer.fingerprint,
        options.format.map(|f| f.name()),
        options.mask_prompt,
        options.max_seq_length,
        options.val_split_fraction,
        options.seed
    );
    if options.preferences {
        key.push_str("|preferences");
    }
    key.push_str(&format!("|{:016x}", stable_hash(&std::fs::read(&template.file).at(&template.file)?)));
    for file in files {
        let meta = std::fs::metadata(file).at(file)?;
        let modified = meta.modified().ok().and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok()).map_or(0, |d| d.as_nanos());
        key.push_str(&format!("|{}:{}:{modified}", file.display(), meta.len()));
    }
    Ok(format!("{:016x}", stable_hash(key.as_bytes())))
}

pub fn read_summary(dir: &Path) -> Result<SftDataSummary> {
    let path = dir.join(SUMMARY_FILE);
    let bytes = std::fs::read(&path)
        .map_err(|e| Error::input(&path, None, format!("cannot read it ({e}); expected SFT data prepared by minilm sft")))?;
    let summary: SftDataSummary =
        serde_json::from_slice(&bytes).map_err(|e| Error::input(&path, None, format!("is not an SFT data summary ({e})")))?;
    if summary.format_version != FORMAT_VERSION {
        return Err(Error::input(&path, None, format!("is {}; this minilm reads {FORMAT_VERSION}", summary.format_version)));
    }
    Ok(summary)
}

struct ExampleWriter {
    /// The folder written, for messages.
    dir: PathBuf,
    tokens: BufWriter<File>,
    mask: BufWriter<File>,
    offsets: BufWriter<File>,
    splits: BufWriter<File>,
    written: u64,
}

impl ExampleWriter {
    fn create(dir: &Path) -> Result<Self> {
        let open = |name: &str| -> Result<BufWriter<File>> {
            let path = dir.join(name);
            Ok(BufWriter::with_capacity(1 << 20, File::create(&path).at(&path)?))
        };
        let mut writer = ExampleWriter {
            dir: dir.to_path_buf(),
            tokens: open("tokens.bin")?,
            mask: open("mask.bin")?,
            offsets: open("offsets.bin")?,
            splits: open("splits.bin")?,
            written: 0,
        };
        writer.offsets.write_all(&0u64.to_le_bytes()).at(dir)?;
        Ok(writer)
    }

    fn append(&mut self, example: &Example, val: bool) -> Result<()> {
        let dir = &self.dir;
        let bytes: Vec<u8> = example.ids.iter().flat_map(|id| id.to_le_bytes()).collect();
        self.tokens.write_all(&bytes).at(dir)?;
        self.mask.write_all(&example.mask).at(dir)?;
        self.written += example.ids.len() as u64;
        self.offsets.write_all(&self.written.to_le_bytes()).at(dir)?;
        self.splits.write_all(&[u8::from(val)]).at(dir)?;
        Ok(())
    }

    fn finish(self) -> Result<()> {
        for writer in [self.tokens, self.mask, self.offsets, self.splits] {
            writer.into_inner().map_err(|e| e.into_error()).and_then(|f| f.sync_all()).at(&self.dir)?;
        }
        Ok(())
    }
}

/// A prepared SFT data folder, read one example at a time.
pub struct SftExamples {
    pub dir: PathBuf,
    tokens: File,
    mask: File,
    offsets: Vec<u64>,
    /// Example indices of each split, in file order.
    pub train: Vec<u64>,
    pub val: Vec<u64>,
}

impl SftExamples {
    pub fn open(dir: &Path) -> Result<Self> {
        read_summary(dir)?;
        let read = |name: &str| -> Result<Vec<u8>> {
            let path = dir.join(name);
            std::fs::read(&path).at(&path)
        };
        let offsets: Vec<u64> = read("offsets.bin")?.chunks_exact(8).map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes"))).collect();
        let splits = read("splits.bin")?;
        if offsets.len() != splits.len() + 1 {
            return Err(Error::input(
                dir,
                None,
                "offsets.bin and splits.bin disagree on the number of examples; prepare the SFT data again",
            ));
        }
        let (mut train, mut val) = (Vec::new(), Vec::new());
        for (i, &split) in splits.iter().enumerate() {
            if split == 1 { &mut val } else { &mut train }.push(i as u64);
        }
        let open = |name: &str| -> Result<File> {
            let path = dir.join(name);
            File::open(&path).at(&path)
        };
        Ok(SftExamples { dir: dir.to_path_buf(), tokens: open("tokens.bin")?, mask: open("mask.bin")?, offsets, train, val })
    }

    /// Example `index`'s ids and loss mask.
    pub fn read(&self, index: u64) -> Result<(Vec<u32>, Vec<u8>)> {
        let (start, end) = (self.offsets[index as usize], self.offsets[index as usize + 1]);
        let len = (end - start) as usize;
        let mut bytes = vec![0u8; len * 4];
        self.tokens.read_exact_at(&mut bytes, start * 4).at(&self.dir.join("tokens.bin"))?;
        let mut mask = vec![0u8; len];
        self.mask.read_exact_at(&mut mask, start).at(&self.dir.join("mask.bin"))?;
        Ok((bytes.chunks_exact(4).map(|b| u32::from_le_bytes(b.try_into().expect("4 bytes"))).collect(), mask))
    }

    /// Example `index` as training takes it: cut to `seq_len` + 1 tokens, every id checked against a
    /// vocabulary of `vocab`.
    pub fn read_for_training(&self, index: u64, seq_len: usize, vocab: usize) -> Result<(Vec<u32>, Vec<u8>)> {
        let (mut ids, mut mask) = self.read(index)?;
        ids.truncate(seq_len + 1);
        mask.truncate(seq_len + 1);
        check_vocabulary(&self.dir, None, &ids, vocab)?;
        Ok((ids, mask))
    }

    /// Tokens in example `index`.
    pub fn len_of(&self, index: u64) -> usize {
        (self.offsets[index as usize + 1] - self.offsets[index as usize]) as usize
    }

    /// Tokens in the examples of `split`.
    pub fn tokens_in(&self, split: &[u64]) -> u64 {
        split.iter().map(|&i| self.offsets[i as usize + 1] - self.offsets[i as usize]).sum()
    }
}
