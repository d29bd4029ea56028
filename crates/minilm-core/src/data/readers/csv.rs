//! CSV with a header row; fields may hold quoted newlines, so a record is not a line.

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use super::{DocumentReader, RawBatch, Texts, BATCH_MAX_ROWS, BATCH_TEXT_BYTES};
use crate::error::{Error, Result};

pub struct CsvReader {
    path: PathBuf,
    input: csv::Reader<BufReader<File>>,
    column: usize,
    text_key: String,
    size: u64,
    next_row: u64,
    record: csv::ByteRecord,
}

impl CsvReader {
    pub fn open(path: &Path, file: File, size: u64, text_key: &str) -> Result<Self> {
        let mut input = csv::ReaderBuilder::new().has_headers(true).flexible(true).from_reader(BufReader::with_capacity(1 << 20, file));
        let header = input.byte_headers().map_err(|e| csv_error(path, e))?.clone();
        let names: Vec<String> = header.iter().map(|h| String::from_utf8_lossy(h).into_owned()).collect();
        let column = names.iter().position(|n| n == text_key).ok_or_else(|| {
            Error::input(
                path,
                Some("header, line 1".into()),
                format!("no '{text_key}' column; the header has [{}]; choose one with text_key", names.join(", ")),
            )
        })?;
        Ok(CsvReader {
            path: path.to_path_buf(),
            input,
            column,
            text_key: text_key.to_owned(),
            size,
            next_row: 0,
            record: csv::ByteRecord::new(),
        })
    }
}

impl DocumentReader for CsvReader {
    fn next_batch(&mut self) -> Result<Option<RawBatch>> {
        let first_row = self.next_row;
        let mut texts = Vec::new();
        let mut text_bytes = 0;
        while text_bytes < BATCH_TEXT_BYTES && texts.len() < BATCH_MAX_ROWS {
            if !self.input.read_byte_record(&mut self.record).map_err(|e| csv_error(&self.path, e))? {
                break;
            }
            let line = self.record.position().map(|p| p.line()).unwrap_or(0);
            let at = || Some(format!("record {}, line {line}", self.next_row + 1));
            let field = self.record.get(self.column).ok_or_else(|| {
                Error::input(
                    &self.path,
                    at(),
                    format!(
                        "the record has {} fields; expected at least {} (the header's '{}' column)",
                        self.record.len(),
                        self.column + 1,
                        self.text_key
                    ),
                )
            })?;
            let text = std::str::from_utf8(field).map_err(|e| {
                Error::input(&self.path, at(), format!("invalid UTF-8 at byte {} of the text field; expected UTF-8 text", e.valid_up_to()))
            })?;
            text_bytes += text.len();
            texts.push(Some(text.to_owned()));
            self.next_row += 1;
        }
        if texts.is_empty() {
            return Ok(None);
        }
        let position = self.input.position().byte();
        let file_fraction = position as f64 / self.size.max(1) as f64;
        Ok(Some(RawBatch { first_row, texts: Texts::Decoded(texts), file_fraction }))
    }
}

fn csv_error(path: &Path, e: csv::Error) -> Error {
    let location = e.position().map(|p| format!("line {}", p.line()));
    let message = match e.kind() {
        csv::ErrorKind::Utf8 { err, .. } => format!("invalid UTF-8 in field {}; expected UTF-8 text", err.field() + 1),
        csv::ErrorKind::Io(io) => format!("read failed: {io}"),
        _ => format!("malformed CSV: {e}"),
    };
    Error::input(path, location, message)
}
