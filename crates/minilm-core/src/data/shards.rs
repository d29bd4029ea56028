//! litdata's token-shard format, as its TokensLoader reads it (see ../shared/notes/litdata-format.md):
//!
//! chunk-{rank}-{index}.bin, little-endian: u32 N (items); u32 offsets[N + 1] (absolute byte offsets, the
//! first is 4 + 4 (N + 1)); then the items' tokens back to back. index.json lists the chunks.
//!
//! `ChunkWriter` builds the open chunk in memory and journals it to disk at each commit, so that a run
//! killed at any moment resumes from its last commit. A chunk file appears under its final name only when
//! complete (written aside, then renamed), and index.json only when every chunk is.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::data::token_dtype::TokenDtype;
use crate::error::{Error, IoContext, Result};
use crate::util::atomic_file::{sync_dir, write_atomically};

pub const INDEX_FILE: &str = "index.json";

/// One entry of index.json's "chunks".
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkInfo {
    /// Size of the chunk file, header included.
    pub chunk_bytes: u64,
    /// Items (documents) in the chunk.
    pub chunk_size: u64,
    /// Tokens in the chunk.
    pub dim: u64,
    pub filename: String,
}

fn header_bytes(items: u64) -> u64 {
    4 + 4 * (items + 1)
}

/// The largest chunk_size (in tokens) whose chunk file keeps its offsets within u32.
pub fn max_chunk_tokens(dtype: TokenDtype) -> u64 {
    (u32::MAX as u64 / 2) / dtype.size() as u64
}

/// Where the open chunk stood at the last commit: enough to rebuild it after a crash.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JournalMark {
    pub open_index: u32,
    pub token_bytes: u64,
    pub items: u64,
}

pub struct ChunkWriter {
    dir: PathBuf,
    /// litdata names chunks by writer rank: 0 for a whole prepare, the shard's index for a sharded one.
    rank: usize,
    dtype: TokenDtype,
    chunk_size: u64,
    closed: Vec<ChunkInfo>,
    open_index: u32,
    /// The open chunk's tokens, already in `dtype`.
    tokens: Vec<u8>,
    /// Cumulative token count at the end of each item of the open chunk.
    item_ends: Vec<u32>,
    journaled_bytes: usize,
    journaled_items: usize,
    stale_journals: Vec<u32>,
}

impl ChunkWriter {
    /// Starts afresh, or continues from the chunks and journal mark of an earlier run's last commit.
    pub fn open(dir: &Path, dtype: TokenDtype, chunk_size: u64, closed: Vec<ChunkInfo>, mark: &JournalMark) -> Result<Self> {
        Self::open_ranked(dir, 0, dtype, chunk_size, closed, mark)
    }

    /// `open` for the writer of rank `rank`, whose chunks are chunk-{rank}-{index}.bin.
    pub fn open_ranked(
        dir: &Path,
        rank: usize,
        dtype: TokenDtype,
        chunk_size: u64,
        closed: Vec<ChunkInfo>,
        mark: &JournalMark,
    ) -> Result<Self> {
        fs::create_dir_all(dir).at(dir)?;
        let mut writer = ChunkWriter {
            dir: dir.to_path_buf(),
            rank,
            dtype,
            chunk_size,
            closed,
            open_index: mark.open_index,
            tokens: Vec::new(),
            item_ends: Vec::new(),
            journaled_bytes: 0,
            journaled_items: 0,
            stale_journals: Vec::new(),
        };
        writer.restore_journal(mark)?;
        writer.remove_leftovers()?;
        Ok(writer)
    }

    fn journal_paths(&self, index: u32) -> (PathBuf, PathBuf) {
        let rank = self.rank;
        (self.dir.join(format!(".chunk-{rank}-{index}.tokens.journal")), self.dir.join(format!(".chunk-{rank}-{index}.items.journal")))
    }

    fn restore_journal(&mut self, mark: &JournalMark) -> Result<()> {
        let (tokens_path, items_path) = self.journal_paths(mark.open_index);
        if mark.items == 0 {
            // Nothing of this chunk was committed: whatever its journals hold is from after the commit.
            for path in [&tokens_path, &items_path] {
                if path.exists() {
                    fs::remove_file(path).at(path)?;
                }
            }
            return Ok(());
        }
        let tokens = read_prefix(&tokens_path, mark.token_bytes)?;
        let ends = read_prefix(&items_path, mark.items * 4)?;
        self.item_ends = ends.chunks_exact(4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
        self.tokens = tokens;
        self.journaled_bytes = self.tokens.len();
        self.journaled_items = self.item_ends.len();
        // Drop whatever a crashed run appended after its last commit.
        for (path, len) in [(&tokens_path, mark.token_bytes), (&items_path, mark.items * 4)] {
            OpenOptions::new().write(true).open(path).and_then(|f| f.set_len(len)).at(path)?;
        }
        Ok(())
    }

    /// Removes what an interrupted run left: half-written chunks and journals of other chunks.
    fn remove_leftovers(&self) -> Result<()> {
        let (keep_tokens, keep_items) = self.journal_paths(self.open_index);
        for entry in fs::read_dir(&self.dir).at(&self.dir)? {
            let path = entry.at(&self.dir)?.path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            let leftover = name.ends_with(".tmp") || (name.ends_with(".journal") && path != keep_tokens && path != keep_items);
            if leftover {
                fs::remove_file(&path).at(&path)?;
            }
        }
        Ok(())
    }

    fn open_tokens(&self) -> u64 {
        self.item_ends.last().copied().unwrap_or(0) as u64
    }

    /// Appends one document. The open chunk closes first if the document would take it past chunk_size
    /// tokens; a document longer than chunk_size gets a chunk of its own.
    pub fn append(&mut self, ids: &[u32]) -> Result<()> {
        let n = ids.len() as u64;
        if !self.item_ends.is_empty() && self.open_tokens() + n > self.chunk_size {
            self.close_open_chunk()?;
        }
        let total = self.open_tokens() + n;
        if header_bytes(self.item_ends.len() as u64 + 1) + total * self.dtype.size() as u64 > u32::MAX as u64 {
            return Err(Error::usage(format!("a document of {n} tokens does not fit in one chunk file (litdata's offsets are 32-bit)")));
        }
        self.tokens.reserve(ids.len() * self.dtype.size());
        for &id in ids {
            self.dtype.push(&mut self.tokens, id);
        }
        self.item_ends.push(total as u32);
        Ok(())
    }

    fn close_open_chunk(&mut self) -> Result<()> {
        let items = self.item_ends.len() as u64;
        let filename = format!("chunk-{}-{}.bin", self.rank, self.open_index);
        let header = header_bytes(items);
        let mut head = Vec::with_capacity(header as usize);
        head.extend_from_slice(&(items as u32).to_le_bytes());
        head.extend_from_slice(&(header as u32).to_le_bytes());
        for &end in &self.item_ends {
            head.extend_from_slice(&((header + end as u64 * self.dtype.size() as u64) as u32).to_le_bytes());
        }
        write_atomically(&self.dir.join(&filename), &[&head, &self.tokens])?;
        self.closed.push(ChunkInfo {
            chunk_bytes: header + self.tokens.len() as u64,
            chunk_size: items,
            dim: self.open_tokens(),
            filename,
        });
        self.stale_journals.push(self.open_index);
        self.open_index += 1;
        self.tokens.clear();
        self.item_ends.clear();
        self.journaled_bytes = 0;
        self.journaled_items = 0;
        Ok(())
    }

    /// Makes everything appended so far durable and returns where the open chunk stands: record it
    /// (with `closed_chunks`) in the run's state, then call `after_commit`.
    pub fn commit(&mut self) -> Result<JournalMark> {
        let (tokens_path, items_path) = self.journal_paths(self.open_index);
        if self.item_ends.len() > self.journaled_items {
            append_synced(&tokens_path, &self.tokens[self.journaled_bytes..])?;
            let ends: Vec<u8> = self.item_ends[self.journaled_items..].iter().flat_map(|e| e.to_le_bytes()).collect();
            append_synced(&items_path, &ends)?;
            self.journaled_bytes = self.tokens.len();
            self.journaled_items = self.item_ends.len();
        }
        sync_dir(&self.dir)?;
        Ok(JournalMark { open_index: self.open_index, token_bytes: self.journaled_bytes as u64, items: self.journaled_items as u64 })
    }

    /// Once the state that records a commit is durable, the journals of chunks closed since are garbage.
    pub fn after_commit(&mut self) -> Result<()> {
        for index in std::mem::take(&mut self.stale_journals) {
            for path in <[PathBuf; 2]>::from(self.journal_paths(index)) {
                if path.exists() {
                    fs::remove_file(&path).at(&path)?;
                }
            }
        }
        Ok(())
    }

    pub fn closed_chunks(&self) -> &[ChunkInfo] {
        &self.closed
    }

    /// Closes the last chunk and writes index.json. Returns every chunk of the dataset.
    pub fn finish(mut self) -> Result<Vec<ChunkInfo>> {
        if !self.item_ends.is_empty() {
            self.close_open_chunk()?;
        }
        write_index(&self.dir, &self.closed, self.dtype, self.chunk_size)?;
        self.stale_journals.push(self.open_index);
        self.after_commit()?;
        Ok(self.closed)
    }
}

/// index.json as litdata 0.2.76 writes it for a TokensLoader dataset (Python's json.dump, sorted keys),
/// less its "updated_at" timestamp: minilm's output must not depend on when it ran.
pub fn write_index(dir: &Path, chunks: &[ChunkInfo], dtype: TokenDtype, chunk_size: u64) -> Result<()> {
    let chunks: Vec<String> = chunks
        .iter()
        .map(|c| {
            format!(
                r#"{{"chunk_bytes": {}, "chunk_size": {}, "dim": {}, "filename": "{}"}}"#,
                c.chunk_bytes, c.chunk_size, c.dim, c.filename
            )
        })
        .collect();
    let text = format!(
        concat!(
            r#"{{"chunks": [{}], "config": {{"chunk_bytes": null, "chunk_size": {}, "compression": null, "#,
            r#""compression_batch_size": null, "compression_level": null, "data_format": ["{}"], "data_spec": "{}", "#,
            r#""encryption": null, "ipc_compression": null, "item_loader": "TokensLoader", "types": "tensor"}}}}"#
        ),
        chunks.join(", "),
        chunk_size,
        dtype.data_format(),
        LEAF_DATA_SPEC.replace('"', "\\\""),
    );
    write_atomically(&dir.join(INDEX_FILE), &[text.as_bytes()])
}

/// litdata's serialised pytree spec of a single tensor leaf.
const LEAF_DATA_SPEC: &str = r#"[1, {"type": null, "context": null, "children_spec": []}]"#;

/// A prepared dataset's index.json, as far as minilm needs it.
#[derive(Debug)]
pub struct DatasetIndex {
    pub chunks: Vec<ChunkInfo>,
    pub dtype: TokenDtype,
    pub chunk_size: Option<u64>,
    /// "TokensLoader", or None for datasets written without one (litdata <= 0.2.17 style).
    pub item_loader: Option<String>,
}

pub fn read_index(dir: &Path) -> Result<DatasetIndex> {
    let path = dir.join(INDEX_FILE);
    let bytes = fs::read(&path).map_err(|e| {
        Error::input(&path, None, format!("cannot read it ({e}); expected a dataset folder written by `minilm prepare` or litdata"))
    })?;
    #[derive(Deserialize)]
    struct Raw {
        chunks: Vec<ChunkInfo>,
        config: RawConfig,
    }
    #[derive(Deserialize)]
    struct RawConfig {
        chunk_size: Option<u64>,
        data_format: Vec<String>,
        item_loader: Option<String>,
    }
    let raw: Raw = serde_json::from_slice(&bytes).map_err(|e| Error::input(&path, None, format!("not a litdata index ({e})")))?;
    let format = raw.config.data_format.first().map(String::as_str).unwrap_or("");
    let dtype = TokenDtype::from_data_format(format).ok_or_else(|| {
        Error::input(
            &path,
            None,
            format!(
                "data_format is {:?}; expected one token tensor, [\"no_header_tensor:14\"] (int16) or [\"no_header_tensor:16\"] (int32)",
                raw.config.data_format
            ),
        )
    })?;
    Ok(DatasetIndex { chunks: raw.chunks, dtype, chunk_size: raw.config.chunk_size, item_loader: raw.config.item_loader })
}

/// One chunk file read back, with its header checked against index.json.
pub struct Chunk {
    /// Byte offsets of the items' token data, relative to `tokens`, one more than there are items.
    pub item_offsets: Vec<u64>,
    pub tokens: Vec<u8>,
}

pub fn read_chunk(dir: &Path, info: &ChunkInfo) -> Result<Chunk> {
    let path = dir.join(&info.filename);
    let bytes = fs::read(&path).map_err(|e| Error::input(&path, None, format!("cannot read this chunk ({e})")))?;
    let bad = |what: String| Error::input(&path, None, format!("{what}; the file is damaged or does not belong to this index.json"));
    let word = |i: usize| -> Option<u64> { bytes.get(i * 4..i * 4 + 4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as u64) };
    let items = word(0).ok_or_else(|| bad("shorter than a chunk header".into()))?;
    if items != info.chunk_size {
        return Err(bad(format!("the header says {items} items, index.json says {}", info.chunk_size)));
    }
    let offsets: Vec<u64> =
        (1..=items as usize + 1).map(word).collect::<Option<_>>().ok_or_else(|| bad("the header is cut short".into()))?;
    let header = header_bytes(items);
    if offsets[0] != header || offsets.windows(2).any(|w| w[0] > w[1]) || *offsets.last().unwrap() != bytes.len() as u64 {
        return Err(bad(format!(
            "its offsets do not describe the file (first {}, last {}, file {} bytes)",
            offsets[0],
            offsets.last().unwrap(),
            bytes.len()
        )));
    }
    Ok(Chunk { item_offsets: offsets.iter().map(|o| o - header).collect(), tokens: bytes[header as usize..].to_vec() })
}

fn read_prefix(path: &Path, len: u64) -> Result<Vec<u8>> {
    let mut file = File::open(path).at(path)?;
    let mut out = vec![0u8; len as usize];
    file.read_exact(&mut out).map_err(|e| {
        Error::input(path, None, format!("the journal is shorter than the state records ({e}); delete the output folder and start again"))
    })?;
    Ok(out)
}

fn append_synced(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut file = OpenOptions::new().create(true).append(true).open(path).at(path)?;
    file.write_all(bytes).at(path)?;
    file.sync_data().at(path)
}
