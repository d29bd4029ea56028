//! A micro-batch as the trainer takes it (MicroBatch, the split it comes from), and SFT's: examples
//! padded to the longest row, one per row or packed several to a row (train/packing.rs plans them).
//! Padding comes after an example's last token, so causal attention keeps it out of every real position;
//! padded and masked positions are left out of the loss.

use candle_core::{Device, Tensor};

use crate::error::Result;
use crate::model::layers::Packing;
use crate::model::TokenBatch;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Split {
    Train,
    Val,
}

/// A micro-batch and what it holds.
pub struct MicroBatch {
    pub batch: TokenBatch,
    /// Positions that are real tokens (padding left out).
    pub tokens: u64,
    /// Positions the loss is taken on.
    pub scored: u64,
    /// Positions computed, padding included (rows times width).
    pub positions: u64,
}

/// An SFT example: its ids and their loss mask.
pub type Example = (Vec<u32>, Vec<u8>);

/// Rows of examples as one batch padded to the longest row: position k of an example predicts its
/// token k + 1, and is scored when that token's mask is set. Unpacked rows hold one example each;
/// `packed` rows hold several one after another, and the batch says where each starts (its tokens'
/// positions restart at 0; padding positions are sequences of one).
pub fn sft_batch(rows: &[Vec<Example>], packed: bool) -> Result<MicroBatch> {
    let row_len = |row: &Vec<Example>| row.iter().map(|(ids, _)| ids.len().saturating_sub(1)).sum::<usize>();
    let width = rows.iter().map(row_len).max().unwrap_or(0).max(1);
    let mut inputs = vec![0u32; rows.len() * width];
    let mut targets = vec![0u32; rows.len() * width];
    let mut positions = vec![0u32; rows.len() * width];
    let mut scored = Vec::new();
    let mut tokens = 0u64;
    for (b, row) in rows.iter().enumerate() {
        let mut at = b * width;
        for (ids, mask) in row {
            let len = ids.len().saturating_sub(1);
            tokens += len as u64;
            for k in 0..len {
                inputs[at + k] = ids[k];
                targets[at + k] = ids[k + 1];
                positions[at + k] = k as u32;
                if mask[k + 1] == 1 {
                    scored.push((at + k) as u32);
                }
            }
            at += len;
        }
    }
    let count = scored.len() as u64;
    let batch = TokenBatch {
        inputs: Tensor::from_vec(inputs, (rows.len(), width), &Device::Cpu)?,
        targets: Tensor::from_vec(targets, rows.len() * width, &Device::Cpu)?,
        scored: Some(Tensor::from_vec(scored, count as usize, &Device::Cpu)?),
        packing: packed.then(|| Packing { positions: positions.into() }),
    };
    Ok(MicroBatch { batch, tokens, scored: count, positions: (rows.len() * width) as u64 })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padding_and_prompts_are_not_scored() {
        // Example 0: [1 2 3 4], replies at tokens 2..4; example 1: [5 6], reply at 6.
        let batch = sft_batch(&[vec![(vec![1, 2, 3, 4], vec![0, 0, 1, 1])], vec![(vec![5, 6], vec![0, 1])]], false).unwrap();
        assert_eq!(batch.batch.inputs.to_vec2::<u32>().unwrap(), [[1, 2, 3], [5, 0, 0]]);
        assert_eq!(batch.batch.targets.to_vec1::<u32>().unwrap(), [2, 3, 4, 6, 0, 0]);
        assert_eq!(batch.batch.scored.unwrap().to_vec1::<u32>().unwrap(), [1, 2, 3]);
        assert!(batch.batch.packing.is_none());
        assert_eq!((batch.tokens, batch.scored, batch.positions), (4, 3, 6));
    }

    #[test]
    fn packed_examples_follow_each_other_and_restart_their_positions() {
        // Row 0 packs [1 2 3 4] and [5 6]; row 1 holds [7 8 9] and one position of padding.
        let rows = [vec![(vec![1, 2, 3, 4], vec![0, 0, 1, 1]), (vec![5, 6], vec![0, 1])], vec![(vec![7, 8, 9], vec![0, 1, 1])]];
        let batch = sft_batch(&rows, true).unwrap();
        assert_eq!(batch.batch.inputs.to_vec2::<u32>().unwrap(), [[1, 2, 3, 5], [7, 8, 0, 0]]);
        assert_eq!(batch.batch.targets.to_vec1::<u32>().unwrap(), [2, 3, 4, 6, 8, 9, 0, 0]);
        assert_eq!(batch.batch.scored.unwrap().to_vec1::<u32>().unwrap(), [1, 2, 3, 4, 5]);
        assert_eq!(&*batch.batch.packing.unwrap().positions, [0, 1, 2, 0, 0, 1, 0, 0]);
        assert_eq!((batch.tokens, batch.scored, batch.positions), (6, 5, 8));
    }
}
