//! JSON inputs as HF datasets ship them: JSON Lines (`.jsonl`, gzip `.jsonl.gz`, zstd `.jsonl.zst`, and
//! `.json` files that hold lines, as `datasets`' to_json writes them), streamed; parsing happens in the
//! tokenizing workers (`parse_json_line`). A `.json` file that is one array of records is read whole.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::{text_at, DocumentReader, RawBatch, Texts, BATCH_MAX_ROWS, BATCH_TEXT_BYTES};
use crate::error::{Error, Result};
use crate::util::CountingReader;

pub struct JsonlReader {
    path: PathBuf,
    input: Box<dyn BufRead + Send>,
    size: u64,
    /// Bytes of the file (compressed, for .gz / .zst) consumed so far.
    consumed: Arc<AtomicU64>,
    next_line: u64,
}

impl JsonlReader {
    pub fn new(path: &Path, file: File, size: u64) -> Result<Self> {
        let (input, consumed) = decompressed_lines(path, file)?;
        Ok(JsonlReader { path: path.to_path_buf(), input, size, consumed, next_line: 0 })
    }
}

/// `file`'s text, decompressed by its name (`.gz`: gzip, `.zst`: zstd, else as it is), and the count of
/// the file's own bytes read so far (progress over compressed files).
pub fn decompressed_lines(path: &Path, file: File) -> Result<(Box<dyn BufRead + Send>, Arc<AtomicU64>)> {
    let (counted, consumed) = CountingReader::new(file);
    let name = path.file_name().map(|n| n.to_string_lossy().to_ascii_lowercase()).unwrap_or_default();
    let input: Box<dyn BufRead + Send> = if name.ends_with(".gz") {
        Box::new(BufReader::with_capacity(1 << 20, flate2::read::MultiGzDecoder::new(counted)))
    } else if name.ends_with(".zst") {
        let decoder = zstd::stream::read::Decoder::new(counted)
            .map_err(|e| Error::input(path, None, format!("cannot start reading it as zstd: {e}")))?;
        Box::new(BufReader::with_capacity(1 << 20, decoder))
    } else {
        Box::new(BufReader::with_capacity(1 << 20, counted))
    };
    Ok((input, consumed))
}

impl DocumentReader for JsonlReader {
    fn next_batch(&mut self) -> Result<Option<RawBatch>> {
        let first_row = self.next_line;
        let mut bytes = Vec::with_capacity(BATCH_TEXT_BYTES + 4096);
        let mut ends = Vec::new();
        while bytes.len() < BATCH_TEXT_BYTES && ends.len() < BATCH_MAX_ROWS {
            let n = self.input.read_until(b'\n', &mut bytes).map_err(|e| {
                Error::input(&self.path, Some(format!("line {}", self.next_line + 1)), format!("read failed: {e}; is the file complete?"))
            })?;
            if n == 0 {
                break;
            }
            self.next_line += 1;
            ends.push(bytes.len());
        }
        if ends.is_empty() {
            return Ok(None);
        }
        let file_fraction = self.consumed.load(Ordering::Relaxed) as f64 / self.size.max(1) as f64;
        Ok(Some(RawBatch { first_row, texts: Texts::JsonLines { bytes, ends }, file_fraction }))
    }
}

/// A `.json` file holding one array of records, read whole and handed out a batch at a time.
pub struct JsonArrayReader {
    path: PathBuf,
    records: std::vec::IntoIter<serde_json::Value>,
    total: usize,
    next: u64,
    text_key: String,
}

impl JsonArrayReader {
    pub fn open(path: &Path, file: File, text_key: &str) -> Result<Self> {
        let value: serde_json::Value = serde_json::from_reader(BufReader::with_capacity(1 << 20, file)).map_err(|e| {
            Error::input(
                path,
                Some(format!("line {}", e.line())),
                format!("is not valid JSON ({e}); expected one array of objects, or one object per line"),
            )
        })?;
        let serde_json::Value::Array(records) = value else {
            return Err(Error::input(
                path,
                None,
                "holds one JSON value that is not an array; expected an array of objects, or one object per line",
            ));
        };
        let total = records.len();
        Ok(JsonArrayReader { path: path.to_path_buf(), records: records.into_iter(), total, next: 0, text_key: text_key.to_owned() })
    }
}

impl DocumentReader for JsonArrayReader {
    fn next_batch(&mut self) -> Result<Option<RawBatch>> {
        let first_row = self.next;
        let mut texts = Vec::new();
        let mut bytes = 0;
        while bytes < BATCH_TEXT_BYTES && texts.len() < BATCH_MAX_ROWS {
            let Some(record) = self.records.next() else { break };
            self.next += 1;
            let at = format!("record {}", self.next);
            let text = text_at(&self.path, &at, record, &self.text_key)?;
            bytes += text.as_ref().map_or(0, |t| t.len());
            texts.push(text);
        }
        if texts.is_empty() {
            return Ok(None);
        }
        let file_fraction = self.next as f64 / self.total.max(1) as f64;
        Ok(Some(RawBatch { first_row, texts: Texts::Decoded(texts), file_fraction }))
    }
}

/// Whether a `.json` file is one array (its first character that is not white space is `[`).
pub fn is_json_array(path: &Path) -> Result<bool> {
    let mut file = File::open(path).map_err(|e| Error::input(path, None, format!("cannot open: {e}")))?;
    let mut buffer = [0u8; 4096];
    loop {
        let n = file.read(&mut buffer).map_err(|e| Error::input(path, None, format!("read failed: {e}")))?;
        if n == 0 {
            return Ok(false);
        }
        if let Some(&first) = buffer[..n].iter().find(|b| !b.is_ascii_whitespace()) {
            return Ok(first == b'[');
        }
    }
}
