//! JSONL: the reader only splits lines; parsing happens in the tokenizing workers (`parse_json_line`).

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use super::{DocumentReader, RawBatch, Texts, BATCH_MAX_ROWS, BATCH_TEXT_BYTES};
use crate::error::{Error, Result};

pub struct JsonlReader {
    path: PathBuf,
    input: BufReader<File>,
    size: u64,
    bytes_read: u64,
    next_line: u64,
}

impl JsonlReader {
    pub fn new(path: &Path, file: File, size: u64) -> Self {
        JsonlReader { path: path.to_path_buf(), input: BufReader::with_capacity(1 << 20, file), size, bytes_read: 0, next_line: 0 }
    }
}

impl DocumentReader for JsonlReader {
    fn next_batch(&mut self) -> Result<Option<RawBatch>> {
        let first_row = self.next_line;
        let mut bytes = Vec::with_capacity(BATCH_TEXT_BYTES + 4096);
        let mut ends = Vec::new();
        while bytes.len() < BATCH_TEXT_BYTES && ends.len() < BATCH_MAX_ROWS {
            let n = self
                .input
                .read_until(b'\n', &mut bytes)
                .map_err(|e| Error::input(&self.path, Some(format!("line {}", self.next_line + 1)), format!("read failed: {e}")))?;
            if n == 0 {
                break;
            }
            self.bytes_read += n as u64;
            self.next_line += 1;
            ends.push(bytes.len());
        }
        if ends.is_empty() {
            return Ok(None);
        }
        let file_fraction = self.bytes_read as f64 / self.size.max(1) as f64;
        Ok(Some(RawBatch { first_row, texts: Texts::JsonLines { bytes, ends }, file_fraction }))
    }
}
