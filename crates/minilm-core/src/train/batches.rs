//! Where a run's micro-batches come from: pretraining's windows of seq_len + 1 consecutive tokens
//! (data/windows.rs), SFT's examples with their loss masks (sft/dataset.rs; made into batches by
//! micro_batch.rs, padded or packed), a mixture's sources, or DPO's pairs (preferences.rs).

use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use serde::{Deserialize, Serialize};

pub use super::micro_batch::{sft_batch, Example, MicroBatch, Split};
use super::mixture::MixtureOptions;
use super::packing::plan_rows;
use super::preferences::Preferences;
use crate::data::windows::{check_vocabulary, open_splits, TokenWindows};
use crate::error::Result;
use crate::model::TokenBatch;
use crate::sft::dataset::SftExamples;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DataKind {
    /// litdata token shards (or llm.c's), as `minilm prepare` writes them.
    #[default]
    Windows,
    /// A folder of SFT examples.
    Sft,
}

pub enum TrainingData {
    Windows {
        train: TokenWindows,
        val: Option<TokenWindows>,
        seq_len: usize,
    },
    Sft {
        examples: SftExamples,
        seq_len: usize,
        /// Packed SFT's rows of examples, per split; None for one example per row.
        packed: Option<PackedRows>,
    },
    /// DPO's preference pairs; an item is a pair (train/preferences.rs reads them).
    Preferences(Preferences),
    /// Several prepared datasets; an item is (source, window).
    Mixture {
        sources: Vec<MixedSource>,
        seq_len: usize,
    },
}

pub struct MixedSource {
    pub name: String,
    pub train: TokenWindows,
    pub val: Option<TokenWindows>,
}

/// Packed SFT's rows: each a list of example indices (train/packing.rs plans them).
pub struct PackedRows {
    pub train: Vec<Vec<u64>>,
    pub val: Vec<Vec<u64>>,
}

impl TrainingData {
    /// With `packing` (SFT only), examples are packed several to a row of seq_len positions.
    pub fn open(kind: DataKind, data_path: &Path, split_names: Option<(&str, &str)>, seq_len: usize, packing: bool) -> Result<Self> {
        Ok(match kind {
            DataKind::Windows if packing => {
                return Err(crate::Error::usage("packing is for SFT examples; pretraining's windows are already full"))
            }
            DataKind::Windows => {
                let (train, val) = open_splits(data_path, split_names, seq_len + 1)?;
                TrainingData::Windows { train, val, seq_len }
            }
            DataKind::Sft => {
                let examples = SftExamples::open(data_path)?;
                let packed = packing.then(|| {
                    // An example of n tokens is n - 1 positions (each predicts the next token).
                    let rows = |split: &[u64]| {
                        let lengths: Vec<(u64, usize)> = split.iter().map(|&i| (i, examples.len_of(i).saturating_sub(1))).collect();
                        plan_rows(&lengths, seq_len)
                    };
                    PackedRows { train: rows(&examples.train), val: rows(&examples.val) }
                });
                TrainingData::Sft { examples, seq_len, packed }
            }
        })
    }

    /// Each source of a mixture, opened as pretraining opens one dataset.
    pub fn open_mixture(mixture: &MixtureOptions, split_names: Option<(&str, &str)>, seq_len: usize) -> Result<Self> {
        let sources = mixture
            .sources
            .iter()
            .map(|s| {
                let (train, val) = open_splits(&s.path, split_names, seq_len + 1)?;
                Ok(MixedSource { name: s.name.clone(), train, val })
            })
            .collect::<Result<Vec<_>>>()?;
        same_tokenizer(mixture)?;
        Ok(TrainingData::Mixture { sources, seq_len })
    }

    /// Windows or examples in `split` (0 for a missing validation split); for a mixture, all sources'.
    pub fn len(&self, split: Split) -> u64 {
        match (self, split) {
            (TrainingData::Mixture { sources, .. }, split) => sources.iter().map(|s| source_split(s, split).map_or(0, |w| w.len())).sum(),
            (TrainingData::Preferences(pairs), split) => pairs.len(split),
            (TrainingData::Windows { train, .. }, Split::Train) => train.len(),
            (TrainingData::Windows { val, .. }, Split::Val) => val.as_ref().map_or(0, |v| v.len()),
            (TrainingData::Sft { packed: Some(rows), .. }, Split::Train) => rows.train.len() as u64,
            (TrainingData::Sft { packed: Some(rows), .. }, Split::Val) => rows.val.len() as u64,
            (TrainingData::Sft { examples, .. }, Split::Train) => examples.train.len() as u64,
            (TrainingData::Sft { examples, .. }, Split::Val) => examples.val.len() as u64,
        }
    }

    pub fn train_tokens(&self) -> u64 {
        match self {
            TrainingData::Windows { train, .. } => train.total_tokens(),
            TrainingData::Sft { examples, .. } => examples.tokens_in(&examples.train),
            TrainingData::Preferences(pairs) => pairs.examples.tokens_in(&pairs.examples.train),
            TrainingData::Mixture { sources, .. } => sources.iter().map(|s| s.train.total_tokens()).sum(),
        }
    }

    /// The folder a split is read from, or None when there is no validation split.
    pub fn dir(&self, split: Split) -> Option<PathBuf> {
        match (self, split) {
            (TrainingData::Windows { train, .. }, Split::Train) => Some(train.dir.clone()),
            (TrainingData::Windows { val, .. }, Split::Val) => val.as_ref().map(|v| v.dir.clone()),
            (TrainingData::Sft { examples, .. }, Split::Train) => Some(examples.dir.clone()),
            (TrainingData::Sft { examples, .. }, Split::Val) => (!examples.val.is_empty()).then(|| examples.dir.clone()),
            (TrainingData::Preferences(pairs), Split::Train) => Some(pairs.examples.dir.clone()),
            (TrainingData::Preferences(pairs), Split::Val) => (!pairs.val.is_empty()).then(|| pairs.examples.dir.clone()),
            (TrainingData::Mixture { sources, .. }, split) => sources.iter().find_map(|s| source_split(s, split)).map(|w| w.dir.clone()),
        }
    }

    /// The micro-batch of items `ids` (numbered within the split), on the host: the model moves it
    /// to its device, and reads the token ids for the embedding's backward from this copy without
    /// waiting for the GPU. Every id is checked against the model's vocabulary of `vocab`.
    pub fn batch(&self, split: Split, ids: &[u64], vocab: usize) -> Result<MicroBatch> {
        match self {
            TrainingData::Windows { train, val, seq_len } => {
                let source = match split {
                    Split::Train => train,
                    Split::Val => val.as_ref().expect("asked for the validation split only when it exists"),
                };
                windows_batch(ids.iter().map(|&id| (source, id)), *seq_len, vocab)
            }
            TrainingData::Mixture { .. } => Err(crate::Error::internal("a mixture's batches are read with mixture_batch")),
            TrainingData::Preferences(pairs) => Ok(pairs.batch(split, ids, vocab)?.micro),
            TrainingData::Sft { examples, seq_len, packed } => {
                let read = |index: u64| -> Result<Example> { examples.read_for_training(index, *seq_len, vocab) };
                match packed {
                    Some(rows) => {
                        let rows = match split {
                            Split::Train => &rows.train,
                            Split::Val => &rows.val,
                        };
                        let read_rows =
                            ids.iter().map(|&id| rows[id as usize].iter().map(|&i| read(i)).collect()).collect::<Result<Vec<_>>>()?;
                        Ok(sft_batch(&read_rows, true)?)
                    }
                    None => {
                        let members = match split {
                            Split::Train => &examples.train,
                            Split::Val => &examples.val,
                        };
                        let read_rows = ids.iter().map(|&id| Ok(vec![read(members[id as usize])?])).collect::<Result<Vec<_>>>()?;
                        Ok(sft_batch(&read_rows, false)?)
                    }
                }
            }
        }
    }
}

impl TrainingData {
    /// A mixture's micro-batch of (source, window) items in `split`.
    pub fn mixture_batch(&self, split: Split, items: &[(usize, u64)], vocab: usize) -> Result<MicroBatch> {
        let TrainingData::Mixture { sources, seq_len } = self else {
            return Err(crate::Error::internal("mixture_batch on data that is not a mixture"));
        };
        let windows =
            items.iter().map(|&(source, id)| (source_split(&sources[source], split).expect("asked only for the splits a source has"), id));
        windows_batch(windows, *seq_len, vocab)
    }
}

/// The sources' ids mean the same tokens only if one tokenizer made them all (prepare keeps a copy in
/// each dataset's tokenizer/); a source without that copy is taken on trust.
fn same_tokenizer(mixture: &MixtureOptions) -> Result<()> {
    let mut first: Option<(&str, Vec<u8>)> = None;
    for source in &mixture.sources {
        let Ok(bytes) = std::fs::read(source.path.join("tokenizer").join("tokenizer.json")) else { continue };
        match &first {
            None => first = Some((&source.name, bytes)),
            Some((name, reference)) if *reference != bytes => {
                return Err(crate::Error::usage(format!(
                    "mixture sources {name} and {} were prepared with different tokenizers (their tokenizer/tokenizer.json differ); \
                     prepare every source with the same tokenizer",
                    source.name
                )))
            }
            Some(_) => {}
        }
    }
    Ok(())
}

fn source_split(source: &MixedSource, split: Split) -> Option<&TokenWindows> {
    match split {
        Split::Train => Some(&source.train),
        Split::Val => source.val.as_ref(),
    }
}

/// Windows of seq_len + 1 tokens as one micro-batch; every id is checked against the vocabulary.
fn windows_batch<'a>(windows: impl ExactSizeIterator<Item = (&'a TokenWindows, u64)>, seq_len: usize, vocab: usize) -> Result<MicroBatch> {
    let rows = windows.len();
    let mut tokens = Vec::with_capacity(rows * (seq_len + 1));
    for (source, id) in windows {
        let start = tokens.len();
        source.read(id, &mut tokens)?;
        check_vocabulary(&source.dir, None, &tokens[start..], vocab)?;
    }
    let windows = Tensor::from_vec(tokens, (rows, seq_len + 1), &Device::Cpu)?;
    let positions = (rows * seq_len) as u64;
    Ok(MicroBatch { batch: TokenBatch::from_windows(&windows)?, tokens: positions, scored: positions, positions })
}
