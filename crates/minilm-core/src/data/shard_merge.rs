//! `minilm prepare --merge`: the finished shards of a sharded prepare (sharding.rs) joined into one dataset.
//! Every shard's chunks are hard-linked into OUTPUT/train and OUTPUT/val under their own unique names,
//! and one index.json is written over them, only once every shard has finished. Shards that ran the
//! --filters leave a report each; the merge adds them up into OUTPUT/filter-report.json.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::data::prepare::SplitSummary;
use crate::data::prepare_state::{PrepareState, Settings};
use crate::data::screen::{self, FilterReport};
use crate::data::sharding::{Shard, SHARDS_FOLDER};
use crate::data::shards::{write_index, ChunkInfo};
use crate::error::{Error, IoContext, Result};
use crate::util::write_atomically;

/// What the merge writes beside train/ and val/: the shards it joined and the totals.
pub const MERGED_FILE: &str = "merged.json";

#[derive(Clone, Debug, Serialize)]
pub struct MergeSummary {
    pub output_dir: String,
    pub shards: usize,
    pub files: usize,
    pub dtype: String,
    pub train: SplitSummary,
    pub val: SplitSummary,
}

/// Joins the finished shards of `output_dir` into its train/ and val/. Refuses, naming the shard, when one
/// is missing, unfinished, or cut from another input or with other settings. Running it again (after a
/// crash, or once more) gives the same dataset.
pub fn merge(output_dir: &Path) -> Result<MergeSummary> {
    if PrepareState::path(output_dir).exists() {
        return Err(Error::usage(format!(
            "{} holds a dataset of a whole (unsharded) prepare; the shards' chunks would mix with its chunks. Prepare the shards into another output folder",
            output_dir.display()
        )));
    }
    let shards = finished_shards(output_dir)?;
    let first = &shards[0].1;
    let mut summary = MergeSummary {
        output_dir: output_dir.display().to_string(),
        shards: shards.len(),
        files: first.settings.shard.as_ref().map_or(0, |s| s.input_files),
        dtype: first.settings.dtype.name().to_owned(),
        train: SplitSummary { documents: 0, tokens: 0, chunks: 0 },
        val: SplitSummary { documents: 0, tokens: 0, chunks: 0 },
    };
    for (split, merged) in [("train", &mut summary.train), ("val", &mut summary.val)] {
        let target = output_dir.join(split);
        std::fs::create_dir_all(&target).at(&target)?;
        let mut chunks: Vec<ChunkInfo> = Vec::new();
        for (folder, state) in &shards {
            let split_state = if split == "train" { &state.train } else { &state.val };
            for chunk in &split_state.chunks {
                link_chunk(&folder.join(split).join(&chunk.filename), &target.join(&chunk.filename), chunk)?;
                chunks.push(chunk.clone());
            }
            let totals = &state.totals;
            let (documents, tokens) =
                if split == "train" { (totals.train_documents, totals.train_tokens) } else { (totals.val_documents, totals.val_tokens) };
            merged.documents += documents;
            merged.tokens += tokens;
        }
        merged.chunks = chunks.len() as u64;
        write_index(&target, &chunks, first.settings.dtype, first.settings.chunk_size)?;
    }
    copy_folder_files(&shards[0].0.join("tokenizer"), &output_dir.join("tokenizer"))?;
    if first.settings.filters.is_some() {
        merge_filter_reports(output_dir, &shards)?;
    }
    let record = serde_json::json!({
        "shards": shards.len(),
        "input_files": summary.files,
        "train": { "documents": summary.train.documents, "tokens": summary.train.tokens, "chunks": summary.train.chunks },
        "val": { "documents": summary.val.documents, "tokens": summary.val.tokens, "chunks": summary.val.chunks },
    });
    write_atomically(&output_dir.join(MERGED_FILE), &[serde_json::to_vec_pretty(&record).expect("json").as_slice()])?;
    Ok(summary)
}

/// Every shard's folder and finished state, in shard order; an error names the first one missing or
/// unfinished, or whose input or settings differ from shard 0's.
fn finished_shards(output_dir: &Path) -> Result<Vec<(PathBuf, PrepareState)>> {
    let root = output_dir.join(SHARDS_FOLDER);
    let names: Vec<String> = match std::fs::read_dir(&root) {
        Ok(entries) => entries.filter_map(|e| e.ok()?.file_name().into_string().ok()).filter(|n| n.starts_with("shard-")).collect(),
        Err(_) => Vec::new(),
    };
    let counts: Vec<usize> = names.iter().filter_map(|n| n.rsplit_once("-of-")?.1.parse().ok()).collect();
    let Some(&count) = counts.first() else {
        return Err(Error::input(
            &root,
            None,
            "holds no shard folders; run `minilm prepare --shard I/N` (or a job array) into this output folder first",
        ));
    };
    if let Some(other) = counts.iter().find(|&&c| c != count) {
        return Err(Error::input(
            &root,
            None,
            format!("holds shards of {count} and of {other} parts; a folder holds the shards of one split of the input"),
        ));
    }
    let mut shards = Vec::with_capacity(count);
    for index in 0..count {
        let shard = Shard { index, count };
        let folder = shard.folder(output_dir);
        let name = format!("shard {index} of {count} ({})", folder.display());
        let state = PrepareState::load(&folder)?.ok_or_else(|| {
            Error::usage(format!("{name} is missing: run `minilm prepare --shard {index}/{count}` with the same input and settings"))
        })?;
        if !state.complete {
            return Err(Error::usage(format!(
                "{name} is not finished ({} of {} files done): run it again, it resumes where it stopped",
                state.files_done,
                state.settings.files.len()
            )));
        }
        if state.settings.shard.as_ref().map(|s| s.shard) != Some(shard) {
            return Err(Error::input(
                &PrepareState::path(&folder),
                None,
                format!("does not record {name}: it was not written by `--shard {index}/{count}`"),
            ));
        }
        if let Some((_, first)) = shards.first() {
            let first: &PrepareState = first;
            if let Some(difference) = settings_difference(first, &state) {
                return Err(Error::usage(format!(
                    "{name} was prepared {difference} than shard 0; prepare every shard with the same input and settings"
                )));
            }
        }
        shards.push((folder, state));
    }
    Ok(shards)
}

/// How `b`'s settings differ from `a`'s, other than in the files each shard took.
fn settings_difference(a: &PrepareState, b: &PrepareState) -> Option<String> {
    let (a, b) = (&a.settings, &b.settings);
    let input = |s: &Settings| s.shard.as_ref().map(|s| s.input_digest.clone());
    if input(a) != input(b) {
        return Some("from other input files".into());
    }
    let differing = a.differing(b, &["files", "shard"]);
    (!differing.is_empty()).then(|| format!("with other settings ({})", differing.join(", ")))
}

/// The shards' filter reports (each ran the --filters on its own files) as OUTPUT/filter-report.json.
fn merge_filter_reports(output_dir: &Path, shards: &[(PathBuf, PrepareState)]) -> Result<()> {
    let mut reports = Vec::with_capacity(shards.len());
    for (folder, _) in shards {
        let report = screen::read_report(folder)?.ok_or_else(|| {
            Error::input(
                &folder.join(screen::REPORT_FILE),
                None,
                "is missing, though the shard was filtered: the shard is damaged; prepare it again",
            )
        })?;
        reports.push(report);
    }
    let merged = serde_json::to_vec_pretty(&FilterReport::merge_shards(reports)).expect("the report serialises");
    write_atomically(&output_dir.join(screen::REPORT_FILE), &[&merged])
}

/// Puts a shard's chunk into the merged split under the same name: a hard link (no copy), or a copy where
/// the file system has none. Either is made aside and renamed over whatever an earlier merge left there.
fn link_chunk(from: &Path, to: &Path, chunk: &ChunkInfo) -> Result<()> {
    match std::fs::metadata(from).map(|m| m.len()) {
        Ok(size) if size == chunk.chunk_bytes => {}
        Ok(size) => {
            return Err(Error::input(
                from,
                None,
                format!("is {size} bytes, its shard's state says {}: the shard is damaged; prepare it again", chunk.chunk_bytes),
            ))
        }
        Err(_) => {
            return Err(Error::input(from, None, "is missing, though its shard's state lists it: the shard is damaged; prepare it again"))
        }
    }
    let partial = to.with_extension("bin.tmp");
    if partial.exists() {
        std::fs::remove_file(&partial).at(&partial)?;
    }
    if std::fs::hard_link(from, &partial).is_err() {
        std::fs::copy(from, &partial).at(from)?;
    }
    std::fs::rename(&partial, to).at(to)
}

fn copy_folder_files(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to).at(to)?;
    for entry in std::fs::read_dir(from).at(from)? {
        let path = entry.at(from)?.path();
        if path.is_file() {
            let bytes = std::fs::read(&path).at(&path)?;
            write_atomically(&to.join(path.file_name().expect("a file name")), &[&bytes])?;
        }
    }
    Ok(())
}
