//! DPO's training data: the preference pairs `prepare_sft_data` wrote (sft/preferences.rs: each pair's
//! chosen example, then its rejected one), read as micro-batches of whole pairs, and each pair's
//! log-probabilities under the reference model.
//!
//! The reference is the model the run starts from, frozen. Its log-probabilities are computed once, with
//! the weights the trainer opens before any step, and kept in the data folder under a name that says
//! which weights, data and loss made them, so that DPO holds one model in memory and a resumed run
//! reads them back instead of computing them again.

use std::path::{Path, PathBuf};

use super::dpo::{DpoOptions, PairLogps};
use super::micro_batch::{sft_batch, MicroBatch, Split};
use crate::error::{Error, Result};
use crate::model::Llama;
use crate::sft::dataset::{read_summary, SftExamples};
use crate::util::{stable_hash, write_atomically};

pub struct Preferences {
    pub examples: SftExamples,
    seq_len: usize,
    /// Pair numbers (pair p is examples 2p and 2p + 1) of each split.
    pub train: Vec<u64>,
    pub val: Vec<u64>,
    /// Each pair's reference log-probabilities, by pair number (empty until `compute_reference`).
    reference: Vec<PairLogps>,
}

/// A micro-batch of pairs, with what DPO's loss needs beside the batch.
pub struct PairBatch {
    pub micro: MicroBatch,
    /// Scored tokens of each sequence, in batch order: chosen 0, rejected 0, chosen 1, ...
    pub counts: Vec<usize>,
    pub reference: Vec<PairLogps>,
}

impl Preferences {
    pub fn open(dir: &Path, seq_len: usize) -> Result<Self> {
        let examples = SftExamples::open(dir)?;
        let pairs = |split: &[u64]| -> Result<Vec<u64>> {
            if split.len() % 2 == 1 || split.chunks(2).any(|p| p[0] % 2 != 0 || p[1] != p[0] + 1) {
                return Err(Error::input(
                    dir,
                    None,
                    "does not hold preference pairs (a chosen and a rejected example each); prepare it for DPO",
                ));
            }
            Ok(split.iter().step_by(2).map(|&i| i / 2).collect())
        };
        let (train, val) = (pairs(&examples.train)?, pairs(&examples.val)?);
        Ok(Preferences { examples, seq_len, train, val, reference: Vec::new() })
    }

    pub fn len(&self, split: Split) -> u64 {
        self.split(split).len() as u64
    }

    fn split(&self, split: Split) -> &[u64] {
        match split {
            Split::Train => &self.train,
            Split::Val => &self.val,
        }
    }

    /// Pairs `ids` (numbered within the split): every pair's chosen and rejected sequence, one row each.
    pub fn batch(&self, split: Split, ids: &[u64], vocab: usize) -> Result<PairBatch> {
        let pairs: Vec<u64> = ids.iter().map(|&id| self.split(split)[id as usize]).collect();
        let (micro, counts) = self.sequences(&pairs, vocab)?;
        let reference = pairs.iter().map(|&p| self.reference.get(p as usize).copied().unwrap_or_default()).collect();
        Ok(PairBatch { micro, counts, reference })
    }

    fn sequences(&self, pairs: &[u64], vocab: usize) -> Result<(MicroBatch, Vec<usize>)> {
        let mut rows = Vec::with_capacity(2 * pairs.len());
        let mut counts = Vec::with_capacity(2 * pairs.len());
        for &pair in pairs {
            for example in [2 * pair, 2 * pair + 1] {
                // Pairs were made to fit max_seq_length + 1 tokens; a shorter seq_len cuts them here.
                let (ids, mask) = self.examples.read_for_training(example, self.seq_len, vocab)?;
                counts.push(mask[1..].iter().filter(|&&m| m == 1).count());
                rows.push(vec![(ids, mask)]);
            }
        }
        Ok((sft_batch(&rows, false)?, counts))
    }

    /// Each pair's log-probabilities under `model` (the reference: the weights the run starts from,
    /// `weights` their file, None for a fresh initialisation), read from the data folder when an earlier
    /// run computed them for the same weights, data and loss.
    pub fn compute_reference(&mut self, model: &Llama, dpo: &DpoOptions, micro_batch_size: usize) -> Result<()> {
        let file = self.reference_file(&model.params.digest()?, dpo)?;
        let pairs = (self.examples.train.len() + self.examples.val.len()) / 2;
        if let Ok(bytes) = std::fs::read(&file) {
            if bytes.len() == pairs * 16 {
                let values: Vec<f64> = bytes.chunks_exact(8).map(|b| f64::from_le_bytes(b.try_into().expect("8 bytes"))).collect();
                self.reference = values.chunks(2).map(|p| PairLogps { chosen: p[0], rejected: p[1] }).collect();
                return Ok(());
            }
        }
        let vocab = model.config.padded_vocab_size;
        let mut reference = Vec::with_capacity(pairs);
        let all: Vec<u64> = (0..pairs as u64).collect();
        for chunk in all.chunks(micro_batch_size.max(1)) {
            let (micro, counts) = self.sequences(chunk, vocab)?;
            let logps = dpo.sequence_logps(&model.target_nll(&micro.batch)?, &counts);
            reference.extend(logps.chunks(2).map(|pair| PairLogps { chosen: pair[0], rejected: pair[1] }));
        }
        let bytes: Vec<u8> = reference.iter().flat_map(|p| [p.chosen, p.rejected]).flat_map(f64::to_le_bytes).collect();
        write_atomically(&file, &[&bytes])?;
        self.reference = reference;
        Ok(())
    }

    /// The cache's name: a digest of the reference weights' values (whatever file or LoRA chain they came
    /// from), the data, the sequence length and whether log-probabilities are summed or averaged.
    fn reference_file(&self, weights: &str, dpo: &DpoOptions) -> Result<PathBuf> {
        let data = read_summary(&self.examples.dir)?.fingerprint;
        let key = format!("{weights}|{data}|{}|{}", self.seq_len, dpo.averages_tokens());
        Ok(self.examples.dir.join(format!("reference-logps-{:016x}.bin", stable_hash(key.as_bytes()))))
    }
}
