//! Finding the input files: a recursive walk (links followed), filtered by type, in sorted path order so
//! that the output never depends on the order the file system lists a folder in.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The column (Parquet, CSV) or key (JSONL) that holds the text, unless told otherwise.
pub const DEFAULT_TEXT_KEY: &str = "text";

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FileType {
    Parquet,
    Jsonl,
    Csv,
}

impl FileType {
    pub const ALL: [FileType; 3] = [FileType::Parquet, FileType::Jsonl, FileType::Csv];

    pub fn parse(name: &str) -> Result<FileType> {
        match name.to_ascii_lowercase().as_str() {
            "parquet" => Ok(FileType::Parquet),
            "jsonl" => Ok(FileType::Jsonl),
            "csv" => Ok(FileType::Csv),
            other => Err(Error::usage(format!("file_type must be parquet, jsonl or csv, not '{other}'"))),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            FileType::Parquet => "parquet",
            FileType::Jsonl => "jsonl",
            FileType::Csv => "csv",
        }
    }

    /// The kind of a file from its name. JSON Lines may come compressed (`.jsonl.gz`, `.jsonl.zst`) or
    /// named `.json` (as HF datasets' to_json writes them, or as one array of records): all are jsonl.
    fn of(path: &Path) -> Option<FileType> {
        let name = path.file_name()?.to_str()?.to_ascii_lowercase();
        if [".jsonl", ".jsonl.gz", ".jsonl.zst", ".json"].iter().any(|suffix| name.ends_with(suffix)) {
            return Some(FileType::Jsonl);
        }
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        [FileType::Parquet, FileType::Csv].into_iter().find(|t| t.name() == ext)
    }
}

#[derive(Clone, Debug)]
pub struct InputFile {
    pub path: PathBuf,
    /// Path relative to the input folder, with '/' separators: the stable name used for sorting,
    /// for choosing validation documents and for recognising the file when a run resumes.
    pub relative: String,
    pub size: u64,
}

/// Every file of `file_type` under `input_dir`, sorted by relative path. With no type given, the type is
/// the one kind of supported file present; a folder mixing kinds must say which one it wants. `.json`
/// files are data only in a folder with no other input files.
pub fn find_input_files(input_dir: &Path, file_type: Option<FileType>) -> Result<(FileType, Vec<InputFile>)> {
    if !input_dir.is_dir() {
        return Err(Error::usage(format!(
            "input folder {}: {}",
            input_dir.display(),
            if input_dir.exists() { "is not a folder" } else { "does not exist" }
        )));
    }
    let mut found: Vec<(FileType, InputFile)> = Vec::new();
    for entry in walkdir::WalkDir::new(input_dir).follow_links(true) {
        let entry = entry.map_err(|e| {
            let path = e.path().unwrap_or(input_dir).to_path_buf();
            Error::input(&path, None, format!("cannot list this folder entry: {e}"))
        })?;
        if !entry.file_type().is_file() {
            continue;
        }
        let Some(kind) = FileType::of(entry.path()) else { continue };
        let relative = entry
            .path()
            .strip_prefix(input_dir)
            .unwrap_or(entry.path())
            .components()
            .map(|c| c.as_os_str().to_string_lossy())
            .collect::<Vec<_>>()
            .join("/");
        let size = entry.metadata().map(|m| m.len()).unwrap_or(0);
        found.push((kind, InputFile { path: entry.path().to_path_buf(), relative, size }));
    }

    // A .json file beside other data files is metadata (HF snapshots carry dataset_info.json and the
    // like): .json files are read as data only in a folder that holds no other kind of input.
    let is_json = |f: &InputFile| f.relative.to_ascii_lowercase().ends_with(".json");
    if found.iter().any(|(_, f)| !is_json(f)) {
        found.retain(|(_, f)| !is_json(f));
    }
    let kind = match file_type {
        Some(kind) => kind,
        None => {
            let present: Vec<FileType> = FileType::ALL.into_iter().filter(|k| found.iter().any(|(f, _)| f == k)).collect();
            match present.as_slice() {
                [one] => *one,
                [] => {
                    return Err(Error::usage(format!(
                        "{} holds no .parquet, .jsonl (.jsonl.gz, .jsonl.zst, .json) or .csv files",
                        input_dir.display()
                    )))
                }
                many => {
                    let counts: Vec<String> =
                        many.iter().map(|k| format!("{} .{}", found.iter().filter(|(f, _)| f == k).count(), k.name())).collect();
                    return Err(Error::usage(format!(
                        "{} mixes file types ({}); choose one with file_type",
                        input_dir.display(),
                        counts.join(", ")
                    )));
                }
            }
        }
    };
    let mut files: Vec<InputFile> = found.into_iter().filter(|(k, _)| *k == kind).map(|(_, f)| f).collect();
    if files.is_empty() {
        return Err(Error::usage(format!("{} holds no .{} files", input_dir.display(), kind.name())));
    }
    files.sort_by(|a, b| a.relative.as_bytes().cmp(b.relative.as_bytes()));
    Ok((kind, files))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_files_are_data_only_in_a_folder_of_json_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("train.parquet"), b"PAR1").unwrap();
        std::fs::write(dir.path().join("dataset_info.json"), b"{}").unwrap();
        let (kind, files) = find_input_files(dir.path(), None).unwrap();
        assert_eq!((kind, files.len()), (FileType::Parquet, 1), "the metadata .json is not an input");
        let only = tempfile::tempdir().unwrap();
        for name in ["a.json", "b.jsonl.gz", "c.jsonl.zst"] {
            std::fs::write(only.path().join(name), b"{}").unwrap();
        }
        let (kind, files) = find_input_files(only.path(), None).unwrap();
        assert_eq!(kind, FileType::Jsonl);
        assert_eq!(files.iter().map(|f| f.relative.as_str()).collect::<Vec<_>>(), ["b.jsonl.gz", "c.jsonl.zst"]);
    }
}
