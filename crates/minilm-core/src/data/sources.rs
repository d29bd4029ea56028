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
            other => Err(Error::usage(format!("file_type must be parquet, jsonl, csv or auto, not '{other}'"))),
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
    pub fn of(path: &Path) -> Option<FileType> {
        let name = path.file_name()?.to_str()?.to_ascii_lowercase();
        if [".jsonl", ".jsonl.gz", ".jsonl.zst", ".json"].iter().any(|suffix| name.ends_with(suffix)) {
            return Some(FileType::Jsonl);
        }
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        [FileType::Parquet, FileType::Csv].into_iter().find(|t| t.name() == ext)
    }
}

/// Which input files a run reads.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FileSelection {
    /// The one kind of input the folder holds; a folder mixing kinds is refused, naming them.
    #[default]
    Inferred,
    /// Only files of this kind; others are ignored.
    Only(FileType),
    /// Every supported file, each read as its own kind (`auto`).
    Every,
}

impl FileSelection {
    /// `None` infers the kind; `auto` reads every kind; otherwise one kind.
    pub fn parse(name: Option<&str>) -> Result<FileSelection> {
        match name {
            None => Ok(FileSelection::Inferred),
            Some(name) if name.eq_ignore_ascii_case("auto") => Ok(FileSelection::Every),
            Some(name) => FileType::parse(name).map(FileSelection::Only),
        }
    }
}

/// The kinds among `files`, for summaries and the resume state: `parquet`, or `csv+jsonl` for a mixed folder.
pub fn kinds_label(files: &[InputFile]) -> String {
    let kinds: Vec<&str> = FileType::ALL.into_iter().filter(|k| files.iter().any(|f| f.kind == *k)).map(FileType::name).collect();
    kinds.join("+")
}

#[derive(Clone, Debug)]
pub struct InputFile {
    pub path: PathBuf,
    /// Path relative to the input folder, with '/' separators: the stable name used for sorting,
    /// for choosing validation documents and for recognising the file when a run resumes.
    pub relative: String,
    pub size: u64,
    pub kind: FileType,
}

/// The input files under `input_dir` that `selection` asks for, sorted by relative path. `.json` files are
/// data only in a folder with no other input files.
pub fn find_input_files(input_dir: &Path, selection: FileSelection) -> Result<Vec<InputFile>> {
    if !input_dir.is_dir() {
        return Err(Error::usage(format!(
            "input folder {}: {}",
            input_dir.display(),
            if input_dir.exists() { "is not a folder" } else { "does not exist" }
        )));
    }
    let mut found: Vec<InputFile> = Vec::new();
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
        found.push(InputFile { path: entry.path().to_path_buf(), relative, size, kind });
    }

    // A .json file beside other data files is metadata (HF snapshots carry dataset_info.json and the
    // like): .json files are read as data only in a folder that holds no other kind of input.
    let is_json = |f: &InputFile| f.relative.to_ascii_lowercase().ends_with(".json");
    if found.iter().any(|f| !is_json(f)) {
        found.retain(|f| !is_json(f));
    }
    let present: Vec<FileType> = FileType::ALL.into_iter().filter(|k| found.iter().any(|f| f.kind == *k)).collect();
    let mut files: Vec<InputFile> = match (selection, present.as_slice()) {
        (_, []) => {
            return Err(Error::usage(format!(
                "{} holds no .parquet, .jsonl (.jsonl.gz, .jsonl.zst, .json) or .csv files",
                input_dir.display()
            )))
        }
        (FileSelection::Only(kind), _) => found.into_iter().filter(|f| f.kind == kind).collect(),
        (FileSelection::Inferred, [_, _, ..]) => {
            let counts: Vec<String> =
                present.iter().map(|k| format!("{} .{}", found.iter().filter(|f| f.kind == *k).count(), k.name())).collect();
            return Err(Error::usage(format!(
                "{} mixes file types ({}); choose one with file_type, or read them all with file_type auto",
                input_dir.display(),
                counts.join(", ")
            )));
        }
        (FileSelection::Inferred | FileSelection::Every, _) => found,
    };
    if let (FileSelection::Only(kind), true) = (selection, files.is_empty()) {
        return Err(Error::usage(format!("{} holds no .{} files", input_dir.display(), kind.name())));
    }
    files.sort_by(|a, b| a.relative.as_bytes().cmp(b.relative.as_bytes()));
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_files_are_data_only_in_a_folder_of_json_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("train.parquet"), b"PAR1").unwrap();
        std::fs::write(dir.path().join("dataset_info.json"), b"{}").unwrap();
        let files = find_input_files(dir.path(), FileSelection::Inferred).unwrap();
        assert_eq!((kinds_label(&files).as_str(), files.len()), ("parquet", 1), "the metadata .json is not an input");
        let only = tempfile::tempdir().unwrap();
        for name in ["a.json", "b.jsonl.gz", "c.jsonl.zst"] {
            std::fs::write(only.path().join(name), b"{}").unwrap();
        }
        let files = find_input_files(only.path(), FileSelection::Inferred).unwrap();
        assert_eq!(kinds_label(&files), "jsonl");
        assert_eq!(files.iter().map(|f| f.relative.as_str()).collect::<Vec<_>>(), ["b.jsonl.gz", "c.jsonl.zst"]);
    }

    #[test]
    fn a_mixed_folder_is_refused_unless_auto_reads_every_kind() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["b/x.csv", "a.parquet", "c.jsonl.gz", "d.txt"] {
            let path = dir.path().join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, b"x").unwrap();
        }
        let refused = find_input_files(dir.path(), FileSelection::Inferred).unwrap_err().to_string();
        assert!(
            refused.contains(
                "mixes file types (1 .parquet, 1 .jsonl, 1 .csv); choose one with file_type, or read them all with file_type auto"
            ),
            "{refused}"
        );
        let files = find_input_files(dir.path(), FileSelection::Every).unwrap();
        let got: Vec<(&str, FileType)> = files.iter().map(|f| (f.relative.as_str(), f.kind)).collect();
        assert_eq!(got, [("a.parquet", FileType::Parquet), ("b/x.csv", FileType::Csv), ("c.jsonl.gz", FileType::Jsonl)]);
        assert_eq!(kinds_label(&files), "parquet+jsonl+csv");
        let only = find_input_files(dir.path(), FileSelection::Only(FileType::Csv)).unwrap();
        assert_eq!(only.len(), 1);
        assert_eq!(FileSelection::parse(Some("AUTO")).unwrap(), FileSelection::Every);
        assert!(FileSelection::parse(Some("txt")).unwrap_err().to_string().contains("parquet, jsonl, csv or auto, not 'txt'"));
    }
}
