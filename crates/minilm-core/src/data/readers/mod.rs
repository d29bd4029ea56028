//! Streaming readers: each yields a file's documents in order, a batch at a time, so that memory stays
//! bounded whatever the file size. Parquet is read by record batch, JSONL and CSV as byte streams.

mod csv;
mod jsonl;

pub use jsonl::decompressed_lines;
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

impl RawBatch {
    /// Calls `f(row, text)` for each document of the batch in order, parsing JSON Lines as it goes (the
    /// workers call this, so the JSON is parsed in parallel). A blank JSON line is no document and is
    /// skipped; `None` is a null text.
    pub fn for_each_text(&self, path: &Path, text_key: &str, mut f: impl FnMut(u64, Option<&str>) -> Result<()>) -> Result<()> {
        match &self.texts {
            Texts::Decoded(texts) => {
                for (i, text) in texts.iter().enumerate() {
                    f(self.first_row + i as u64, text.as_deref())?;
                }
            }
            Texts::JsonLines { bytes, ends } => {
                let mut start = 0;
                for (i, &end) in ends.iter().enumerate() {
                    let row = self.first_row + i as u64;
                    let line = &bytes[start..end];
                    start = end;
                    if line.iter().all(u8::is_ascii_whitespace) {
                        continue;
                    }
                    let text = parse_json_line(path, row, line, text_key)?;
                    f(row, text.as_deref())?;
                }
            }
        }
        Ok(())
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
        FileType::Jsonl if has_suffix(path, ".json") && jsonl::is_json_array(path)? => {
            Box::new(jsonl::JsonArrayReader::open(path, file, text_key)?)
        }
        FileType::Jsonl => Box::new(jsonl::JsonlReader::new(path, file, size)?),
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
    text_at(path, &format!("line {}", line_index + 1), value, text_key)
}

fn has_suffix(path: &Path, suffix: &str) -> bool {
    path.file_name().is_some_and(|n| n.to_string_lossy().to_ascii_lowercase().ends_with(suffix))
}

/// The text of one JSON record at `location`: the string under `text_key`, which may name a nested field
/// with dots (`meta.content`; a key that itself holds a dot is found first). `Ok(None)` is a null.
pub fn text_at(path: &Path, location: &str, value: serde_json::Value, text_key: &str) -> Result<Option<String>> {
    let at = || Some(location.to_owned());
    let serde_json::Value::Object(mut object) = value else {
        return Err(Error::input(
            path,
            at(),
            format!("found a JSON {}; expected an object with a '{text_key}' key", json_type_name(&value)),
        ));
    };
    let found = match object.remove(text_key) {
        Some(value) => Some(value),
        None => nested(&mut object, text_key),
    };
    match found {
        Some(serde_json::Value::String(s)) => Ok(Some(s)),
        Some(serde_json::Value::Null) => Ok(None),
        Some(other) => Err(Error::input(path, at(), format!("'{text_key}' is a JSON {}; expected a string", json_type_name(&other)))),
        None => {
            let keys: Vec<&str> = object.keys().map(|k| k.as_str()).collect();
            Err(Error::input(path, at(), format!("no '{text_key}' key; the object has [{}]; choose one with text_key", keys.join(", "))))
        }
    }
}

/// The value at a dotted path (`meta.content`) inside `object`, taken out of it.
fn nested(object: &mut serde_json::Map<String, serde_json::Value>, dotted: &str) -> Option<serde_json::Value> {
    let (first, rest) = dotted.split_once('.')?;
    match object.get_mut(first)? {
        serde_json::Value::Object(inner) => inner.remove(rest).or_else(|| nested(inner, rest)),
        _ => None,
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

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn texts(path: &Path, key: &str) -> Vec<Option<String>> {
        let mut reader = open_reader(FileType::Jsonl, path, key).unwrap();
        let mut out = Vec::new();
        while let Some(batch) = reader.next_batch().unwrap() {
            batch
                .for_each_text(path, key, |_, text| {
                    out.push(text.map(str::to_owned));
                    Ok(())
                })
                .unwrap();
        }
        out
    }

    #[test]
    fn compressed_lines_json_lines_and_json_arrays_give_the_same_texts() {
        let dir = tempfile::tempdir().unwrap();
        let lines = "{\"meta\": {\"content\": \"床前明月光\"}}\n{\"meta\": {\"content\": \"疑是地上霜\"}}\n";
        std::fs::write(dir.path().join("a.jsonl"), lines).unwrap();
        std::fs::write(dir.path().join("b.json"), lines).unwrap();
        std::fs::write(dir.path().join("c.json"), "[{\"meta\": {\"content\": \"床前明月光\"}}, {\"meta\": {\"content\": \"疑是地上霜\"}}]")
            .unwrap();
        let mut gz =
            flate2::write::GzEncoder::new(std::fs::File::create(dir.path().join("d.jsonl.gz")).unwrap(), flate2::Compression::fast());
        gz.write_all(lines.as_bytes()).unwrap();
        gz.finish().unwrap();
        std::fs::write(dir.path().join("e.jsonl.zst"), zstd::encode_all(lines.as_bytes(), 3).unwrap()).unwrap();
        let expected = vec![Some("床前明月光".to_string()), Some("疑是地上霜".to_string())];
        for name in ["a.jsonl", "b.json", "c.json", "d.jsonl.gz", "e.jsonl.zst"] {
            assert_eq!(texts(&dir.path().join(name), "meta.content"), expected, "{name}");
        }
    }

    #[test]
    fn a_missing_nested_key_lists_the_keys_there_are() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.json");
        std::fs::write(&path, "[{\"meta\": {\"content\": \"a\"}}, {\"text\": \"b\"}]").unwrap();
        let mut reader = open_reader(FileType::Jsonl, &path, "meta.content").unwrap();
        let error = reader.next_batch().err().unwrap().to_string();
        assert!(error.contains("x.json (record 2): no 'meta.content' key; the object has [text]"), "{error}");
    }
}
