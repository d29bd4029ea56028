//! `minilm inspect DIR`: what a prepared dataset holds, read back from its index and chunk files.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::data::shards::{read_chunk, read_index, INDEX_FILE};
use crate::data::tokenizer::DocumentTokenizer;
use crate::error::{Error, Result};

#[derive(Clone, Debug, Serialize)]
pub struct SplitReport {
    pub name: String,
    pub path: String,
    pub documents: u64,
    pub tokens: u64,
    pub chunks: u64,
    pub dtype: String,
    pub item_loader: Option<String>,
    /// Distinct token ids that occur, and the largest.
    pub distinct_ids: u64,
    pub max_id: u32,
    /// The first few documents, decoded (empty without a tokenizer).
    pub samples: Vec<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct InspectReport {
    pub splits: Vec<SplitReport>,
    pub tokenizer: Option<String>,
    pub tokenizer_vocab_size: Option<usize>,
}

/// Documents decoded per split unless told otherwise.
pub const DEFAULT_SAMPLES: usize = 3;

/// `dir` is a prepared output folder (with train/ and val/) or one split folder (with index.json).
/// The tokenizer for samples comes from `tokenizer_path`, else from the dataset's own tokenizer/ folder.
pub fn inspect(dir: &Path, tokenizer_path: Option<&Path>, samples: usize) -> Result<InspectReport> {
    let splits: Vec<(String, PathBuf)> = if dir.join(INDEX_FILE).exists() {
        let name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        vec![(name, dir.to_path_buf())]
    } else {
        ["train", "val"].iter().map(|s| (s.to_string(), dir.join(s))).filter(|(_, p)| p.join(INDEX_FILE).exists()).collect()
    };
    if splits.is_empty() {
        return Err(Error::input(
            dir,
            None,
            "no index.json here nor in train/ or val/; expected a folder written by `minilm prepare` or litdata",
        ));
    }
    let own_tokenizer = dir.join("tokenizer");
    let tokenizer = match tokenizer_path {
        Some(path) => Some(DocumentTokenizer::load(path)?),
        None if own_tokenizer.join("tokenizer.json").exists() => Some(DocumentTokenizer::load(&own_tokenizer)?),
        None => None,
    };

    let mut reports = Vec::new();
    for (name, path) in splits {
        let index = read_index(&path)?;
        let mut seen = vec![false; 1 << 16];
        let mut max_id = 0u32;
        let mut texts = Vec::new();
        for info in &index.chunks {
            let chunk = read_chunk(&path, info)?;
            for id in index.dtype.decode(&chunk.tokens) {
                if id as usize >= seen.len() {
                    seen.resize(id as usize + 1, false);
                }
                seen[id as usize] = true;
                max_id = max_id.max(id);
            }
            if let Some(tokenizer) = &tokenizer {
                for item in chunk.item_offsets.windows(2).take(samples.saturating_sub(texts.len())) {
                    let ids = index.dtype.decode(&chunk.tokens[item[0] as usize..item[1] as usize]);
                    texts.push(tokenizer.decode(&ids));
                }
            }
        }
        reports.push(SplitReport {
            name,
            path: path.display().to_string(),
            documents: index.chunks.iter().map(|c| c.chunk_size).sum(),
            tokens: index.chunks.iter().map(|c| c.dim).sum(),
            chunks: index.chunks.len() as u64,
            dtype: index.dtype.name().to_owned(),
            item_loader: index.item_loader,
            distinct_ids: seen.iter().filter(|s| **s).count() as u64,
            max_id,
            samples: texts,
        });
    }
    Ok(InspectReport {
        splits: reports,
        tokenizer: tokenizer.as_ref().map(|t| t.path.display().to_string()),
        tokenizer_vocab_size: tokenizer.as_ref().map(|t| t.vocab_size()),
    })
}
