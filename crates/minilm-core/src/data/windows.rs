//! Training examples: non-overlapping windows of T + 1 tokens read straight from token files, never
//! loading a dataset into memory. Three layouts are read:
//! - litdata token chunks (`minilm prepare`, litdata's TokensLoader, or the reference workflow's script
//!   whose index.json has no item_loader): per chunk, dim / (T + 1) windows aligned to its first token;
//!   windows never cross chunks and each chunk's tail is dropped, as TokensLoader does;
//! - llm.c / modded-nanogpt shards: a 256 x int32 header (magic 20240520, version 1, token count),
//!   then uint16 tokens.

use std::fs::{self, File};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crate::data::shards::{read_index, INDEX_FILE};
use crate::data::token_dtype::TokenDtype;
use crate::error::{Error, IoContext, Result};

const LLMC_MAGIC: i32 = 20240520;
const LLMC_HEADER_BYTES: u64 = 256 * 4;

/// One file's run of tokens.
#[derive(Clone, Debug)]
struct TokenSpan {
    path: PathBuf,
    /// Byte offset of the first token.
    offset: u64,
    tokens: u64,
    dtype: TokenDtype,
}

/// A dataset seen as numbered windows of `window` tokens.
pub struct TokenWindows {
    pub dir: PathBuf,
    spans: Vec<TokenSpan>,
    window: u64,
    /// First window number of each span, plus the total at the end.
    starts: Vec<u64>,
}

impl TokenWindows {
    /// Opens the dataset in `dir` with windows of `window` tokens (block size + 1).
    pub fn open(dir: &Path, window: usize) -> Result<Self> {
        let spans = if dir.join(INDEX_FILE).exists() { litdata_spans(dir)? } else { llmc_spans(dir)? };
        let window = window as u64;
        let mut starts = vec![0u64];
        for span in &spans {
            starts.push(starts.last().unwrap() + span.tokens / window);
        }
        let windows = TokenWindows { dir: dir.to_path_buf(), spans, window, starts };
        if windows.is_empty() {
            return Err(Error::input(
                dir,
                None,
                format!("holds no window of {window} tokens (block size + 1): every chunk is shorter; use a shorter sequence length"),
            ));
        }
        Ok(windows)
    }

    pub fn len(&self) -> u64 {
        *self.starts.last().unwrap()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn total_tokens(&self) -> u64 {
        self.spans.iter().map(|s| s.tokens).sum()
    }

    /// Appends window `index`'s tokens to `out`.
    pub fn read(&self, index: u64, out: &mut Vec<u32>) -> Result<()> {
        let span_index = self.starts.partition_point(|&start| start <= index) - 1;
        let span = &self.spans[span_index];
        let size = span.dtype.size() as u64;
        let offset = span.offset + (index - self.starts[span_index]) * self.window * size;
        let mut bytes = vec![0u8; (self.window * size) as usize];
        let file = File::open(&span.path).at(&span.path)?;
        file.read_exact_at(&mut bytes, offset).map_err(|e| {
            Error::input(&span.path, None, format!("cannot read tokens at byte {offset} ({e}); the file is shorter than its index says"))
        })?;
        span.dtype.decode_into(&bytes, out);
        Ok(())
    }

    /// Every token of the dataset in file order, at most `piece` at a time, with the file it came from:
    /// evaluation reads a split whole, across the chunk boundaries that training's windows keep to.
    pub fn for_each_piece(&self, piece: usize, mut f: impl FnMut(&Path, &[u32]) -> Result<()>) -> Result<()> {
        let mut tokens = Vec::with_capacity(piece);
        for span in &self.spans {
            let file = File::open(&span.path).at(&span.path)?;
            let size = span.dtype.size() as u64;
            let mut at = 0;
            while at < span.tokens {
                let n = (span.tokens - at).min(piece as u64);
                let offset = span.offset + at * size;
                let mut bytes = vec![0u8; (n * size) as usize];
                file.read_exact_at(&mut bytes, offset).map_err(|e| {
                    Error::input(
                        &span.path,
                        None,
                        format!("cannot read tokens at byte {offset} ({e}); the file is shorter than its index says"),
                    )
                })?;
                tokens.clear();
                span.dtype.decode_into(&bytes, &mut tokens);
                f(&span.path, &tokens)?;
                at += n;
            }
        }
        Ok(())
    }
}

fn litdata_spans(dir: &Path) -> Result<Vec<TokenSpan>> {
    let index = read_index(dir)?;
    if let Some(loader) = index.item_loader.as_deref() {
        if loader != "TokensLoader" {
            return Err(Error::input(
                &dir.join(INDEX_FILE),
                None,
                format!("item_loader is {loader}; expected TokensLoader (token chunks, as `minilm prepare` writes)"),
            ));
        }
    }
    let dtype = index.dtype;
    index
        .chunks
        .iter()
        .map(|chunk| {
            let path = dir.join(&chunk.filename);
            let header = 4 + 4 * (chunk.chunk_size + 1);
            let expected = header + chunk.dim * dtype.size() as u64;
            let actual = fs::metadata(&path).at(&path)?.len();
            if actual != expected {
                return Err(Error::input(
                    &path,
                    None,
                    format!(
                        "is {actual} bytes; index.json describes {} items and {} tokens ({expected} bytes)",
                        chunk.chunk_size, chunk.dim
                    ),
                ));
            }
            Ok(TokenSpan { path, offset: header, tokens: chunk.dim, dtype })
        })
        .collect()
}

fn llmc_spans(dir: &Path) -> Result<Vec<TokenSpan>> {
    let mut paths: Vec<PathBuf> = fs::read_dir(dir)
        .map_err(|e| Error::input(dir, None, format!("cannot read this dataset folder ({e})")))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|ext| ext == "bin"))
        .collect();
    paths.sort();
    if paths.is_empty() {
        return Err(Error::input(dir, None,
            "has neither index.json (a litdata / `minilm prepare` dataset) nor llm.c .bin shards; expected the output folder of `minilm prepare`"));
    }
    paths.into_iter().map(|path| llmc_span(&path)).collect()
}

fn llmc_span(path: &Path) -> Result<TokenSpan> {
    let file = File::open(path).at(path)?;
    let mut header = [0u8; LLMC_HEADER_BYTES as usize];
    let word = |h: &[u8], i: usize| i32::from_le_bytes([h[i * 4], h[i * 4 + 1], h[i * 4 + 2], h[i * 4 + 3]]);
    if file.read_exact_at(&mut header, 0).is_err() || word(&header, 0) != LLMC_MAGIC {
        return Err(Error::input(path, None, format!(
            "is not an llm.c token shard (expected the magic number {LLMC_MAGIC} in a 1024-byte header); a litdata dataset needs its index.json"
        )));
    }
    let (version, tokens) = (word(&header, 1), word(&header, 2) as u64);
    if version != 1 {
        return Err(Error::input(path, None, format!("llm.c shard version {version}; expected 1 (uint16 tokens)")));
    }
    let actual = file.metadata().at(path)?.len();
    if actual < LLMC_HEADER_BYTES + 2 * tokens {
        return Err(Error::input(path, None, format!("header says {tokens} tokens but the file holds only {actual} bytes")));
    }
    Ok(TokenSpan { path: path.to_path_buf(), offset: LLMC_HEADER_BYTES, tokens, dtype: TokenDtype::Uint16 })
}

/// The train and validation folders of `data_path`. With split names (litgpt's LitData), they are
/// data_path/NAME; without, `minilm prepare`'s train/ and val/ are used when present, and otherwise
/// data_path itself is training data with no validation split (litgpt would validate on training
/// data: minilm does not). The same holds for folders of llm.c shards.
pub fn split_dirs(data_path: &Path, split_names: Option<(&str, &str)>) -> Result<(PathBuf, Option<PathBuf>)> {
    if !data_path.is_dir() {
        return Err(Error::input(data_path, None, "does not exist or is not a folder; expected a dataset from `minilm prepare`"));
    }
    let (train, val) = split_names.unwrap_or(("train", "val"));
    let (train_dir, val_dir) = (data_path.join(train), data_path.join(val));
    if train_dir.is_dir() {
        return Ok((train_dir, val_dir.is_dir().then_some(val_dir)));
    }
    if split_names.is_some() {
        return Err(Error::input(&train_dir, None, "does not exist; expected the train folder named in split_names"));
    }
    Ok((data_path.to_path_buf(), None))
}

/// The training and validation windows of `data_path` (see `split_dirs`), `window` tokens each.
pub fn open_splits(data_path: &Path, split_names: Option<(&str, &str)>, window: usize) -> Result<(TokenWindows, Option<TokenWindows>)> {
    let (train_dir, val_dir) = split_dirs(data_path, split_names)?;
    let train = TokenWindows::open(&train_dir, window)?;
    let val = val_dir.map(|dir| TokenWindows::open(&dir, window)).transpose()?;
    Ok((train, val))
}

/// An error naming `dir` (and `location`) when `tokens`, read from it, hold an id outside a model's
/// vocabulary of `vocab` rows.
pub fn check_vocabulary(dir: &Path, location: Option<String>, tokens: &[u32], vocab: usize) -> Result<()> {
    match tokens.iter().find(|&&t| t as usize >= vocab) {
        Some(bad) => Err(Error::input(
            dir,
            location,
            format!("holds token id {bad}, outside the model's vocabulary of {vocab}; was it prepared with another tokenizer?"),
        )),
        None => Ok(()),
    }
}
