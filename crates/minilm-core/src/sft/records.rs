//! The files SFT data is read from: JSON Lines (`.jsonl`, also compressed `.jsonl.gz` / `.jsonl.zst`), or one JSON
//! array of records (`.json`, as Alpaca's files are; read whole). `json_path` is one such file or a
//! folder of them; a folder holding `train.*` and `val.*` gives the split itself, as litgpt's JSON data
//! module reads it.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use serde_json::Value;

use crate::data::readers::decompressed_lines;
use crate::error::{Error, IoContext, Result};
use crate::util::CountingReader;

const EXTENSIONS: [&str; 4] = [".jsonl", ".jsonl.gz", ".jsonl.zst", ".json"];

/// The files of a run and, when the folder says so, which of them hold the validation split.
pub struct RecordFiles {
    pub files: Vec<PathBuf>,
    /// Set when the folder holds train.* and val.*: `files` is [train, val] and the split is given.
    pub given_split: bool,
}

pub fn find_record_files(json_path: &Path) -> Result<RecordFiles> {
    let expected = "expected a .jsonl, .jsonl.gz, .jsonl.zst or .json file of conversations, or a folder of them";
    let meta = std::fs::metadata(json_path).map_err(|e| Error::input(json_path, None, format!("cannot read it ({e}); {expected}")))?;
    if meta.is_file() {
        if !has_known_extension(json_path) {
            return Err(Error::input(json_path, None, format!("has an unknown extension; {expected}")));
        }
        return Ok(RecordFiles { files: vec![json_path.to_path_buf()], given_split: false });
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(json_path)
        .at(json_path)?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && has_known_extension(p))
        .collect();
    files.sort();
    let named = |stem: &str| files.iter().find(|p| EXTENSIONS.iter().any(|ext| file_name(p) == format!("{stem}{ext}"))).cloned();
    if let (Some(train), Some(val)) = (named("train"), named("val")) {
        return Ok(RecordFiles { files: vec![train, val], given_split: true });
    }
    if files.is_empty() {
        return Err(Error::input(json_path, None, format!("the folder has no conversation files; {expected}")));
    }
    Ok(RecordFiles { files, given_split: false })
}

fn file_name(path: &Path) -> String {
    path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

fn has_known_extension(path: &Path) -> bool {
    let name = file_name(path);
    EXTENSIONS.iter().any(|ext| name.ends_with(ext))
}

/// One record as read: its place for messages (`line 12` or `record 12`, 1-based) and its JSON text or
/// value.
pub struct RawRecord {
    pub number: u64,
    pub body: RecordBody,
}

pub enum RecordBody {
    Line(Vec<u8>),
    Parsed(Value),
}

impl RawRecord {
    pub fn location(&self) -> String {
        match self.body {
            RecordBody::Line(_) => format!("line {}", self.number),
            RecordBody::Parsed(_) => format!("record {}", self.number),
        }
    }
}

/// Reads a file's records one at a time; `bytes_read` counts the file's (compressed) bytes consumed, for
/// progress.
pub struct RecordReader {
    path: PathBuf,
    lines: Option<Box<dyn BufRead + Send>>,
    array: std::vec::IntoIter<Value>,
    number: u64,
    pub bytes_read: Arc<AtomicU64>,
}

impl RecordReader {
    pub fn open(path: &Path) -> Result<Self> {
        let file = File::open(path).at(path)?;
        if !file_name(path).ends_with(".json") {
            let (lines, bytes_read) = decompressed_lines(path, file)?;
            return Ok(RecordReader { path: path.to_path_buf(), lines: Some(lines), array: Vec::new().into_iter(), number: 0, bytes_read });
        }
        // A .json file is one list of records, read whole.
        let (file, bytes_read) = CountingReader::new(file);
        let value: Value = serde_json::from_reader(BufReader::new(file)).map_err(|e| {
            Error::input(path, Some(format!("line {}", e.line())), format!("is not valid JSON ({e}); expected one list of records"))
        })?;
        let Value::Array(records) = value else {
            return Err(Error::input(path, None, "a .json file must hold one list of records; for one record per line use .jsonl"));
        };
        Ok(RecordReader { path: path.to_path_buf(), lines: None, array: records.into_iter(), number: 0, bytes_read })
    }

    /// The next record, or None at the end of the file. Blank lines are passed over.
    pub fn next_record(&mut self) -> Result<Option<RawRecord>> {
        let Some(lines) = &mut self.lines else {
            self.number += 1;
            return Ok(self.array.next().map(|value| RawRecord { number: self.number, body: RecordBody::Parsed(value) }));
        };
        loop {
            let mut line = Vec::new();
            let read = lines
                .read_until(b'\n', &mut line)
                .map_err(|e| Error::input(&self.path, Some(format!("line {}", self.number + 1)), format!("cannot be read ({e})")))?;
            if read == 0 {
                return Ok(None);
            }
            self.number += 1;
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            return Ok(Some(RawRecord { number: self.number, body: RecordBody::Line(line) }));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    #[test]
    fn gzip_and_plain_lines_read_alike_with_line_numbers() {
        let dir = tempfile::tempdir().unwrap();
        let text = b"{\"a\": 1}\n\n{\"a\": 2}\n";
        std::fs::write(dir.path().join("x.jsonl"), text).unwrap();
        let mut gz = flate2::write::GzEncoder::new(File::create(dir.path().join("y.jsonl.gz")).unwrap(), flate2::Compression::fast());
        gz.write_all(text).unwrap();
        gz.finish().unwrap();
        for name in ["x.jsonl", "y.jsonl.gz"] {
            let mut reader = RecordReader::open(&dir.path().join(name)).unwrap();
            let numbers: Vec<u64> = std::iter::from_fn(|| reader.next_record().unwrap()).map(|r| r.number).collect();
            assert_eq!(numbers, [1, 3], "{name}");
        }
        let files = find_record_files(dir.path()).unwrap();
        assert_eq!(files.files.len(), 2);
        assert!(!files.given_split);
    }

    #[test]
    fn a_folder_with_train_and_val_gives_its_split() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["val.json", "train.jsonl", "notes.txt"] {
            std::fs::write(dir.path().join(name), "[]").unwrap();
        }
        let files = find_record_files(dir.path()).unwrap();
        assert!(files.given_split);
        assert_eq!(files.files.iter().map(|p| file_name(p)).collect::<Vec<_>>(), ["train.jsonl", "val.json"]);
    }
}
