//! Streaming readers: each yields a file's documents in order, a batch at a time, so that memory stays
//! bounded whatever the file size. Parquet is read by record batch, JSONL and CSV as byte streams.

mod csv;
mod jsonl;
mod parquet;

use std::path::Path;

use crate::data::sources::FileType;
use crate::error::{Error, Result};

/// Aim for about this much text per batch: big enough to amortise the hand-off between threads, small
/// enough that a few batches per worker in flight cost little memory.
pub const BATCH_TEXT_BYTES: usize = 512 * 1024;
pub const BATCH_MAX_ROWS: usize = 8192;

/// One batch of a file's documents, in file order.
pub struct RawBatch {
    /// Row (Parquet, CSV record) or line (JSONL) index of the first document, counted from 0.
    pub first_row: u64,
    pub texts: Texts,
    /// How far into the file this batch ends, from 0 to 1: drives the progress bar and ETA.
    pub file_fraction: f64,
}

pub enum Texts {
    /// Texts already decoded (`None` is a null).
    Decoded(Vec<Option<String>>),
    /// JSONL lines, still to be parsed: the JSON is parsed by the tokenizing workers, in parallel.
    /// `ends[i]` is where line i ends in `bytes`.
    JsonLines { bytes: Vec<u8>, ends: Vec<usize> },
}

impl Texts {
    pub fn len(&self) -> usize {
        match self {
            Texts::Decoded(t) => t.len(),
            Texts::JsonLines { ends, .. } => ends.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

pub trait DocumentReader: Send {
    /// The next batch, or `None` at the end of the file.
    fn next_batch(&mut self) -> Result<Option<RawBatch>>;
}

pub fn open_reader(kind: FileType, path: &Path, text_key: &str) -> Result<Box<dyn DocumentReader>> {
    let file = std::fs::File::open(path).map_err(|e| Error::input(path, None, format!("cannot open: {e}")))?;
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    if size == 0 {
        return Err(Error::input(
            path,
            None,
            format!("the file is empty (0 bytes); expected a {} file with a '{text_key}' field", kind.name()),
        ));
    }
    Ok(match kind {
        FileType::Parquet => Box::new(parquet::ParquetReader::open(path, file, text_key)?),
        FileType::Jsonl => Box::new(jsonl::JsonlReader::new(path, file, size)),
        FileType::Csv => Box::new(csv::CsvReader::open(path, file, size, text_key)?),
    })
}

/// Extracts the text of one JSONL line. `Ok(None)` is a null text or a blank line.
pub fn parse_json_line(path: &Path, line_index: u64, line: &[u8], text_key: &str) -> Result<Option<String>> {
    let at = || Some(format!("line {}", line_index + 1));
    let text = std::str::from_utf8(line)
        .map_err(|e| Error::input(path, at(), format!("invalid UTF-8 at byte {} of the line; expected UTF-8 text", e.valid_up_to())))?;
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| {
        Error::input(path, at(), format!("malformed JSON at column {}: {e}; expected one JSON object per line", e.column()))
    })?;
    let serde_json::Value::Object(mut object) = value else {
        return Err(Error::input(
            path,
            at(),
            format!("found a JSON {}; expected an object with a '{text_key}' key", json_type_name(&value)),
        ));
    };
    match object.remove(text_key) {
        Some(serde_json::Value::String(s)) => Ok(Some(s)),
        Some(serde_json::Value::Null) => Ok(None),
        Some(other) => Err(Error::input(path, at(), format!("'{text_key}' is a JSON {}; expected a string", json_type_name(&other)))),
        None => {
            let keys: Vec<&str> = object.keys().map(|k| k.as_str()).collect();
            Err(Error::input(path, at(), format!("no '{text_key}' key; the object has [{}]; choose one with text_key", keys.join(", "))))
        }
    }
}

fn json_type_name(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "boolean",
        serde_json::Value::Number(_) => "number",
        serde_json::Value::String(_) => "string",
        serde_json::Value::Array(_) => "array",
        serde_json::Value::Object(_) => "object",
    }
}
